"""The engine for OpenAI-compatible servers: llama.cpp's `llama-server`, vLLM, SGLang.
localread drives the engines people already run instead of scheduling a model itself.

`open_server_engine(settings)` probes every URL of `settings.server` (llm/server_probe.py:
`/health`, `/v1/models`, and llama.cpp's `/props`), checks that they serve one model,
and returns a `ServerEngine`: the `Engine` protocol of llm/engine.py over HTTP, safe
to call from several threads at once (`slots` requests in flight, spread over the
servers, the least busy first).

Same prompts as the in-process engine. Completion-style prompts go to
`/v1/completions`, chat-style ones to `/v1/chat/completions` (system message: the
shared part; user message: the rest). A llama.cpp server gets the prompt as token
ids, tokenized by its own `/tokenize` part by part exactly as `LlamaEngine` does (the
shared part with BOS, the text without, repository text never parsed as special
tokens), so both engines see the same tokens. Other servers get the text.

Token counts: exact where the server has a `/tokenize` (llama.cpp's, or vLLM's
shape); elsewhere `estimate_tokens`, which over-counts on purpose (ESTIMATE_BYTES_PER
_TOKEN), so a prompt budgeted with it fits; the answers' counts always come from the
server's `usage`.

Failures: a connection refused or reset, a timeout, a 5xx or a 429 is retried with
backoff (0.5 s doubling to 8 s) until the server has failed for
`settings.server_timeout` seconds; it is then down, with one warning line, and the
request goes to another server. When none is left, `ServerUnavailable` (a
LocalreadError) says which failed and why. An answer that is not an OpenAI completion
(HTML, bad JSON, no choices) or a refused request (4xx) is `ServerError`, one line
naming the server; a prompt the server's context cannot hold is the same error
`LlamaEngine` gives. Nothing here writes anything: a failed request costs only itself.

Identity: a server's model is known by the name it reports (`/v1/models`), and its
results are keyed by `server_model_sha256(name)`, the sha256 of
`openai-server:<name>`, never equal to a model file's sha256: the store tells server
results apart from the in-process engine's, and two servers of one model share them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from localread.config import Settings
from localread.errors import LocalreadError
from localread.llm.engine import (
    DEFAULT_N_CTX,
    DEFAULT_SEED,
    SAMPLE_TEMPERATURE,
    SAMPLE_TOP_P,
    Completion,
    CompletionStream,
    Prompt,
    as_prompt,
    fits_error,
)
from localread.llm.models import ChatStyle, ResolvedModel
from localread.llm.openai_api import (
    Answer,
    Down,
    PromptError,
    Request,
    Retry,
    ServerError,
    Transient,
    events,
    raise_for,
    transient_status,
)
from localread.llm.server_probe import Flavor, ServerInfo, ServerUnavailable, probe_server

__all__ = ["ServerEngine", "ServerError", "ServerInfo", "ServerUnavailable", "open_server_engine",
           "probe_server", "server_model_sha256"]

log = logging.getLogger("localread.engine")

# Requests in flight per server that reports no slot count (vLLM and SGLang batch
# continuously and take more; --parallel sets it).
DEFAULT_SLOTS = 4
# Bytes of prompt per token assumed where the server cannot count: code runs 3-4
# bytes per token in the vocabularies of the models we use, so 2 over-counts.
ESTIMATE_BYTES_PER_TOKEN = 2
def server_model_sha256(name: str) -> str:
    """What keys and reports record as the sha256 of a model served under `name`."""
    return hashlib.sha256(f"openai-server:{name}".encode()).hexdigest()


def served_model(name: str, n_ctx: int, chat_style: ChatStyle = ChatStyle.COMPLETION,
                 path: str | None = None) -> ResolvedModel:
    """The identity of the model a server (or a batch engine) serves under `name`."""
    return ResolvedModel(
        name=name,
        path=Path(path or name),
        sha256=server_model_sha256(name),
        source="server",
        chat_style=chat_style,
        context_length=n_ctx,
    )


def estimate_tokens(text: str) -> int:
    """An upper estimate of the tokens of text, for servers that cannot count."""
    return -(-len(text.encode("utf-8")) // ESTIMATE_BYTES_PER_TOKEN) + 1


# --------------------------------------------------------------------------- engine


@dataclass(frozen=True, slots=True)
class Sampling:
    """How a sampled answer is drawn (see Engine.sample)."""

    temperature: float
    top_p: float
    seed: int


@dataclass(slots=True)
class _Server:
    info: ServerInfo
    in_flight: int = 0
    down: str | None = None  # why it stopped answering
    can_tokenize: bool | None = None  # learnt on the first try where not llama.cpp
    answered: int = 0  # generation requests it answered

    @property
    def capacity(self) -> int:
        return self.info.slots or DEFAULT_SLOTS


@dataclass
class ServerEngine:
    """The Engine protocol over OpenAI-compatible servers (see the module docstring).
    Greedy decoding (temperature 0) with localread's fixed seed; `sample` draws others. Thread-safe."""

    servers: list[ServerInfo]
    n_ctx: int
    slots: int
    window: float
    model: ResolvedModel = field(init=False)
    _state: list[_Server] = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _shared_tokens: dict[str, list[int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        first = self.servers[0]
        self._state = [_Server(info) for info in self.servers]
        self.model = served_model(first.model, self.n_ctx, first.chat_style, first.model_path)

    def describe(self) -> str:
        """Where the model runs, in one line for logs: the servers, how many
        requests each answered so far, and the slots."""
        parts = [f"{s.info.url} ({s.answered} answers{', down' if s.down else ''})" for s in self._state]
        return ", ".join(parts) + f"; {self.slots} in flight"

    # -- context management (a server needs no freeing)

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- choosing a server

    def _acquire(self) -> _Server:
        with self._lock:
            live = [s for s in self._state if s.down is None]
            if not live:
                raise ServerUnavailable(self._unavailable())
            server = min(live, key=lambda s: s.in_flight / s.capacity)
            server.in_flight += 1
            return server

    def _release(self, server: _Server, down: str | None = None) -> None:
        with self._lock:
            server.in_flight -= 1
            if down is not None and server.down is None:
                server.down = down
                left = [s.info.url for s in self._state if s.down is None]
                if left:
                    log.warning("server %s stopped answering (%s); continuing on %s",
                                server.info.url, down, ", ".join(left))

    def _unavailable(self) -> str:
        why = "; ".join(f"{s.info.url} ({s.down})" for s in self._state)
        return f"no model server answers: {why}, for {self.window:.0f} s each"

    def _on(self, call: Callable[[_Server], Any]) -> Any:
        """call(server) on the least busy live server, retried there and then on the
        others; raises ServerUnavailable when every server is down."""
        while True:
            server = self._acquire()
            try:
                result = Retry(self.window)(partial(call, server))
            except Down as why:
                self._release(server, down=str(why))
                continue
            except ServerError as exc:
                if isinstance(exc, PromptError):
                    self._release(server)
                    raise
                self._release(server, down=str(exc).removeprefix(f"server {server.info.url}: "))
                if all(s.down is not None for s in self._state):
                    raise
                continue
            except BaseException:
                self._release(server)
                raise
            self._release(server)
            return result

    # -- tokens

    def _tokenize(self, server: _Server, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        answer = Request(server.info.url, "POST", "/tokenize", {
            "content": text, "add_special": add_special, "parse_special": parse_special,
        }).read()
        raise_for(server.info.url, answer, "POST /tokenize")
        data = answer.json()
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise ServerError(f"server {server.info.url}: POST /tokenize answered {answer.snippet()}")
        return tokens

    def _prompt_tokens(self, server: _Server, p: Prompt) -> list[int]:
        """A completion prompt as LlamaEngine tokenizes it: the shared part with BOS,
        then the text, both as plain text (llama.cpp servers)."""
        shared = self._shared_tokens.get(p.shared)
        if shared is None:
            shared = self._tokenize(server, p.shared, add_special=True, parse_special=False)
            self._shared_tokens[p.shared] = shared
        rest = self._tokenize(server, p.text, add_special=False, parse_special=False) if p.text else []
        return shared + rest

    def _messages(self, p: Prompt) -> list[dict[str, str]]:
        return [{"role": "system", "content": p.shared}, {"role": "user", "content": p.text}]

    def _chat(self, p: Prompt) -> bool:
        return p.style is ChatStyle.CHAT and self.model.chat_style is ChatStyle.CHAT

    def render(self, prompt: Prompt | str) -> str:
        """The text the model sees. For a chat prompt on a server that is not
        llama.cpp (no /apply-template), the messages as role-labelled text."""
        p = as_prompt(prompt)
        if not self._chat(p):
            return self.servers[0].bos_token + p.shared + p.text
        if self.servers[0].flavor is Flavor.LLAMA_CPP:
            return self._on(lambda s: self._apply_template(s, p))
        return f"system: {p.shared}\nuser: {p.text}\nassistant: "

    def _apply_template(self, server: _Server, p: Prompt) -> str:
        answer = Request(server.info.url, "POST", "/apply-template", {"messages": self._messages(p)}).read()
        raise_for(server.info.url, answer, "POST /apply-template")
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            raise ServerError(f"server {server.info.url}: POST /apply-template answered {answer.snippet()}")
        return str(data["prompt"])

    def count_tokens(self, prompt: Prompt | str) -> int:
        p = as_prompt(prompt)
        return int(self._on(lambda s: self._count(s, p)))

    def _count(self, server: _Server, p: Prompt) -> int:
        if server.info.flavor is Flavor.LLAMA_CPP:
            if not self._chat(p):
                return len(self._prompt_tokens(server, p))
            text = self._apply_template(server, p)
            return len(self._tokenize(server, text, add_special=True, parse_special=True))
        if server.can_tokenize is not False:
            body: dict[str, Any] = {"model": server.info.model}
            if self._chat(p):
                body["messages"] = self._messages(p)
            else:
                body["prompt"] = p.shared + p.text
            answer = Request(server.info.url, "POST", "/tokenize", body).read()
            data = answer.json()
            if answer.status == 200 and isinstance(data, dict) and isinstance(data.get("count"), int):
                server.can_tokenize = True
                return int(data["count"])
            if transient_status(answer.status):
                raise Transient(f"HTTP {answer.status} on POST /tokenize")
            if server.can_tokenize is None:
                log.info("server %s cannot count tokens; estimating %d bytes per token",
                         server.info.url, ESTIMATE_BYTES_PER_TOKEN)
            server.can_tokenize = False
        return estimate_tokens(self.render(p))

    # -- generation

    def complete(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> Completion:
        """The whole answer; a request that fails at any point, even mid-answer, is
        made again (on this server, then on another), as nothing of it was shown."""
        p = as_prompt(prompt)
        return self._whole(p, max_tokens, list(dict.fromkeys([*p.stop, *stop])), None)

    def sample(self, prompt: Prompt | str, max_tokens: int, n: int, stop: Sequence[str] = ()) -> list[Completion]:
        """n sampled answers, one request each (seeds DEFAULT_SEED + 1 ... + n); the
        server reuses the prompt its slot holds."""
        p = as_prompt(prompt)
        stops = list(dict.fromkeys([*p.stop, *stop]))
        return [self._whole(p, max_tokens, stops, Sampling(SAMPLE_TEMPERATURE, SAMPLE_TOP_P, DEFAULT_SEED + 1 + i))
                for i in range(n)]

    def _whole(self, p: Prompt, max_tokens: int, stops: list[str], sampling: Sampling | None) -> Completion:
        def whole(server: _Server) -> Completion:
            reader = _Reader()
            request, events, n_prompt = self._exchange(server, p, max_tokens, stops, sampling)
            try:
                for event in events:
                    reader.feed(event)
            finally:
                request.close()
            with self._lock:
                server.answered += 1
            return reader.completion(n_prompt)

        return self._on(whole)  # type: ignore[no-any-return]

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        p = as_prompt(prompt)
        stops = list(dict.fromkeys([*p.stop, *stop]))
        return CompletionStream(self._generate(p, max_tokens, stops))

    def _generate(self, p: Prompt, max_tokens: int, stops: list[str]) -> Generator[str, None, Completion]:
        """Retried until the first event; a failure after text was delivered ends
        the answer with ServerError (retrying would deliver that text twice)."""
        reader = _Reader()
        request, events, n_prompt = self._on(lambda s: self._exchange(s, p, max_tokens, stops))
        try:
            for event in events:
                piece = reader.feed(event)
                if piece:
                    yield piece
        except Transient as why:
            raise ServerError(f"server {request.url}: {why} in the middle of an answer") from None
        finally:
            request.close()
        return reader.completion(n_prompt)

    def _exchange(
        self, server: _Server, p: Prompt, max_tokens: int, stops: list[str], sampling: Sampling | None = None
    ) -> tuple[Request, Iterator[dict[str, Any]], int | None]:
        """Send one generation request and read its first event: (the open request,
        its events, the prompt's tokens where counted here). sampling: None for the
        greedy answer. Raises Transient, ServerError or PromptError."""
        path, body, n_prompt = self._request_body(server, p, max_tokens, stops, sampling)
        request = Request(server.info.url, "POST", path, body)
        response = request.open()
        try:
            if response.status != 200:
                raise_for(server.info.url, Answer(response.status, response.getheader("Content-Type", ""),
                                                    response.read()), f"POST {path}")
            stream = events(server.info.url, response)
            first = next(stream, None)
        except BaseException:
            request.close()
            raise
        return request, _chain(first, stream), n_prompt

    def _request_body(
        self, server: _Server, p: Prompt, max_tokens: int, stops: list[str], sampling: Sampling | None
    ) -> tuple[str, dict[str, Any], int | None]:
        """(path, body, prompt tokens when known) of one generation request."""
        body: dict[str, Any] = {
            "model": server.info.model,
            "max_tokens": max_tokens,
            "temperature": 0.0 if sampling is None else sampling.temperature,
            "seed": DEFAULT_SEED if sampling is None else sampling.seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if sampling is not None:
            body["top_p"] = sampling.top_p
        if stops:
            body["stop"] = stops
        if self._chat(p):
            body["messages"] = self._messages(p)
            return "/v1/chat/completions", body, None
        if server.info.flavor is Flavor.LLAMA_CPP:
            tokens = self._prompt_tokens(server, p)
            error = fits_error(len(tokens), max_tokens, self.n_ctx)
            if error is not None:
                raise PromptError(str(error))
            body["prompt"] = tokens
            return "/v1/completions", body, len(tokens)
        body["prompt"] = p.shared + p.text
        return "/v1/completions", body, None


class _Reader:
    """Gathers a streamed answer: its text, why it ended, the server's counts."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_piece: float | None = None
        self.pieces: list[str] = []
        self.finish = "stop"
        self.meta: dict[str, Any] = {}

    def feed(self, event: dict[str, Any]) -> str:
        """Take one event; the text it adds ("" when none)."""
        text = ""
        choices = event.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            delta = choice.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(piece, str) and piece:
                self.first_piece = self.first_piece or time.perf_counter()
                self.pieces.append(piece)
                text = piece
            if choice.get("finish_reason"):
                self.finish = "length" if choice["finish_reason"] == "length" else "stop"
        for key in ("usage", "timings"):
            if isinstance(event.get(key), dict):
                self.meta[key] = event[key]
        return text

    def completion(self, n_prompt: int | None) -> Completion:
        """The Completion: counts from the server's `usage` (and llama.cpp's
        `timings`), times from them where given, else as measured here."""
        done = time.perf_counter()
        first = self.first_piece or done
        usage = self.meta.get("usage") or {}
        timings = self.meta.get("timings") or {}
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        prompt_tokens = _first_number(usage.get("prompt_tokens"), n_prompt, 0)
        prompt_ms, predicted_ms = timings.get("prompt_ms"), timings.get("predicted_ms")
        return Completion(
            text="".join(self.pieces),
            finish_reason=self.finish,
            prompt_tokens=prompt_tokens,
            reused_tokens=min(_first_number(timings.get("cache_n"), cached, 0), prompt_tokens),
            completion_tokens=_first_number(usage.get("completion_tokens"), timings.get("predicted_n"), 0),
            prompt_seconds=prompt_ms / 1000 if _number(prompt_ms) else first - self.started,
            generation_seconds=predicted_ms / 1000 if _number(predicted_ms) else done - first,
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _first_number(*values: Any) -> int:
    return next(int(v) for v in values if _number(v))


def _chain(first: dict[str, Any] | None, rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    if first is not None:
        yield first
    yield from rest


def open_server_engine(settings: Settings) -> ServerEngine:
    """The engine over settings.server: every server probed (see probe_server); one
    that does not answer, or is not an OpenAI-compatible server, is left out with a
    warning while another one answers. They must serve one model (settings.model,
    when given, picks the served name). n_ctx: the smallest context a server gives
    one request (settings.n_ctx when smaller; else DEFAULT_N_CTX where none says);
    slots: settings.parallel, else the servers' slots (DEFAULT_SLOTS for each that
    does not say). Raises ServerUnavailable / ServerError when no server is usable."""
    infos: list[ServerInfo] = []
    errors: list[LocalreadError] = []
    for url in settings.server:
        try:
            infos.append(probe_server(url, window=settings.server_timeout, model=settings.model))
        except (ServerUnavailable, ServerError) as exc:
            errors.append(exc)
    if not infos:
        raise errors[0]
    for exc in errors:
        log.warning("%s; continuing without it", exc)
    names = {i.model for i in infos}
    if len(names) > 1:
        raise ServerError(
            "the servers serve different models ("
            + ", ".join(f"{i.url}: {i.model}" for i in infos)
            + "); one run needs one model: give them one name (llama-server --alias) or drop one"
        )
    reported = [i.n_ctx for i in infos if i.n_ctx]
    n_ctx = min(reported) if reported else (settings.n_ctx or DEFAULT_N_CTX)
    if settings.n_ctx and settings.n_ctx < n_ctx:
        n_ctx = settings.n_ctx
    slots = settings.parallel or sum(i.slots or DEFAULT_SLOTS for i in infos)
    for info in infos:
        log.info("server %s", info.describe())
    return ServerEngine(infos, n_ctx=n_ctx, slots=slots, window=settings.server_timeout)
