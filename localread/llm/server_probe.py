"""Probing an OpenAI-compatible server (llama.cpp's `llama-server`, vLLM, SGLang):
what it serves, how much context one request gets, how many requests it runs at
once, and whether it is llama.cpp (which llm/server.py then drives with token ids).

`probe_server(url, window=..., model=...)` asks `/health` (waiting while the server
loads its model), `/v1/models`, and `/props` where it is llama.cpp, and returns a
`ServerInfo`. A server that does not answer within `window` seconds is
`ServerUnavailable`; one that answers but is no OpenAI-compatible server is
`ServerError` (llm/openai_api.py). Nothing here sends a prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from localread.errors import LocalreadError
from localread.llm.models import ChatStyle
from localread.llm.openai_api import Down, Request, Retry, ServerError, Transient, transient_status

__all__ = ["Flavor", "ServerInfo", "ServerUnavailable", "base_url", "probe_server"]

log = logging.getLogger("localread.engine")

# llama.cpp's fallback template (common/chat.cpp CHATML_TEMPLATE_SRC): /props shows it
# for a model file without a chat template of its own, i.e. a completion model.
LLAMA_CPP_FALLBACK_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|im_start|>assistant\n' -}}\n"
    "{%- endif -%}"
)


class Flavor(StrEnum):
    LLAMA_CPP = "llama.cpp"  # /props, /tokenize, token-id prompts, timings
    OPENAI = "openai"  # any other OpenAI-compatible server (vLLM, SGLang, ...)


class ServerUnavailable(LocalreadError):
    """No server is left that answers: the run cannot make model calls."""


def base_url(url: str) -> str:
    """The server's root: without a trailing slash or `/v1` (OpenAI clients' base URL)."""
    url = url.rstrip("/")
    return url.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a server said about itself. n_ctx: tokens one request may use (None:
    not reported); slots: requests it runs at once (None: not reported)."""

    url: str
    model: str
    models: tuple[str, ...]
    flavor: Flavor
    n_ctx: int | None
    slots: int | None
    chat_style: ChatStyle
    model_path: str | None = None
    bos_token: str = ""

    def describe(self) -> str:
        ctx = f"context {self.n_ctx}" if self.n_ctx else "context not reported"
        slots = f", {self.slots} slots" if self.slots else ""
        return f"{self.url} ({self.flavor}): model {self.model}, {ctx}{slots}"


def probe_server(url: str, *, window: float, model: str | None = None) -> ServerInfo:
    """Ask a server what it serves: /health (waiting while it loads its model, up to
    window seconds), /v1/models, and /props where it is llama.cpp. model: the served
    name to use where the server lists several. Raises ServerUnavailable when it does
    not answer, ServerError when it is not an OpenAI-compatible server."""
    url = base_url(url)
    retry = Retry(window, lambda why: log.warning("waiting for server %s (%s)", url, why))

    def health() -> None:
        answer = Request(url, "GET", "/health").read()
        if answer.status == 503:
            raise Transient(f"503: {answer.error_message()}")  # "Loading model"
        if transient_status(answer.status):
            raise Transient(f"HTTP {answer.status}: {answer.error_message()}")

    try:
        retry(health)
        models = retry(lambda: Request(url, "GET", "/v1/models").read())
        props = retry(lambda: Request(url, "GET", "/props").read())
    except Down as why:
        raise ServerUnavailable(
            f"cannot reach server {url} ({why}, for {window:.0f} s); start it, or fix "
            "--server / LOCALREAD_SERVER"
        ) from None
    listed = models.json()
    entries = listed.get("data") if isinstance(listed, dict) else None
    if models.status != 200 or not isinstance(entries, list) or not entries:
        raise ServerError(
            f"{url} is not an OpenAI-compatible server: GET /v1/models answered "
            f"{models.status} {models.snippet()}"
        )
    names = tuple(str(e.get("id")) for e in entries if isinstance(e, dict) and e.get("id"))
    if not names:
        raise ServerError(f"{url}: GET /v1/models lists no model id ({models.snippet()})")
    chosen = _choose_model(url, names, model)
    entry = next(e for e in entries if isinstance(e, dict) and str(e.get("id")) == chosen)
    info = props.json() if props.status == 200 else None
    if isinstance(info, dict) and isinstance(info.get("default_generation_settings"), dict):
        template = info.get("chat_template") or ""
        style = ChatStyle.COMPLETION if template in ("", LLAMA_CPP_FALLBACK_TEMPLATE) else ChatStyle.CHAT
        return ServerInfo(
            url=url,
            model=chosen,
            models=names,
            flavor=Flavor.LLAMA_CPP,
            n_ctx=_positive(info["default_generation_settings"].get("n_ctx")),
            slots=_positive(info.get("total_slots")),
            chat_style=style,
            model_path=info.get("model_path") or None,
            bos_token=str(info.get("bos_token") or ""),
        )
    # vLLM reports max_model_len; a server that serves a model is assumed to chat
    # (instruct models are what such servers are run with).
    return ServerInfo(
        url=url,
        model=chosen,
        models=names,
        flavor=Flavor.OPENAI,
        n_ctx=_positive(entry.get("max_model_len")),
        slots=None,
        chat_style=ChatStyle.CHAT,
    )


def _choose_model(url: str, names: tuple[str, ...], wanted: str | None) -> str:
    """The served model to use: the only one, else `wanted` (--model)."""
    if wanted is not None and wanted in names:
        return wanted
    if len(names) == 1:
        if wanted is not None:
            log.info("server %s serves %s; the model setting %r is not used", url, names[0], wanted)
        return names[0]
    if wanted is not None:
        raise ServerError(f"server {url} does not serve {wanted!r}; it serves {', '.join(names)}")
    raise ServerError(f"server {url} serves several models ({', '.join(names)}); choose one with --model NAME")


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
