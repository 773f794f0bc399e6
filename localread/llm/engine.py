"""Engines run a prompt through a model: the `Engine` protocol and the llama.cpp
engine; `open_engine` picks it or the engine over OpenAI-compatible servers
(llm/server.py). A scriptable fake for plumbing tests lives in tests/fakes.py.

A `Prompt` has two parts: `shared` (instructions and examples, identical across calls)
and `text` (this call's facts and source). A completion-style model sees
`shared + text`; a chat model sees its chat template applied to a system message
`shared` and a user message `text`.

Prefix reuse and determinism. llama-cpp-python keeps the KV cache of the last prompt
and re-evaluates only what differs. Left alone it reuses the longest common token
prefix, wherever that ends; but the logits of a token evaluated in one batch differ in
the last bits from the same token evaluated in another split, and greedy decoding
can then pick a different word, so an answer would depend on which prompt came
before. `LlamaEngine` therefore reuses exactly the `shared` part: it is evaluated on
its own once, stays cached, and every call evaluates its `text` from the same
boundary. The same prompt gives the same answer whatever ran before it, and
`Completion.reused_tokens` says how many prompt tokens the cache saved.

`llama_cpp` is imported inside `LlamaEngine`, so commands that never run a model
do not pay for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from localread.config import Settings
from localread.errors import LocalreadError, PromptTooLong
from localread.llm.machine import available_memory, physical_cores
from localread.llm.models import ChatStyle, ResolvedModel, resolve_model
from localread.llm.native import DEFAULT_SEED, gpu_offload_supported, load_llama, route_llama_logs

log = logging.getLogger("localread.engine")

# Context used when nothing asks for more: room for a facts card, a condensed
# chunk, callee summaries and an answer, without the memory of a 32k context.
DEFAULT_N_CTX = 4096
MIN_N_CTX = 512
# How `sample` draws the other answers a prompt could have had: warm enough that they
# differ from the greedy one, top-p so that no unlikely word is drawn. Answer i has
# the seed DEFAULT_SEED + 1 + i, so the same prompt samples the same answers.
SAMPLE_TEMPERATURE = 0.7
SAMPLE_TOP_P = 0.95


@dataclass(frozen=True, slots=True)
class Prompt:
    """What an engine is asked to continue. See the module docstring for how each
    style is laid out. stop: stop sequences the prompt's format needs."""

    shared: str
    text: str
    style: ChatStyle = ChatStyle.COMPLETION
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished answer and what it cost.

    prompt_tokens: tokens of the whole prompt; reused_tokens: of those, how many came
    from the cache of the previous call (not evaluated again). completion_tokens:
    tokens the model generated, counting a final end-of-text token. finish_reason:
    "stop" (end of text or a stop sequence) or "length" (max_tokens reached).
    prompt_seconds / generation_seconds: time evaluating the prompt / generating.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    reused_tokens: int
    completion_tokens: int
    prompt_seconds: float
    generation_seconds: float

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


class CompletionStream:
    """An answer as it is generated: iterate for text pieces; after the iteration
    ends, `result` holds the Completion (the text is the pieces joined)."""

    def __init__(self, pieces: Generator[str, None, Completion]) -> None:
        self._pieces = pieces
        self._result: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        self._result = yield from self._pieces
        return None

    def read_all(self) -> Completion:
        """Consume the rest of the answer and return the Completion."""
        for _ in self:
            pass
        return self.result

    @property
    def result(self) -> Completion:
        if self._result is None:
            raise RuntimeError("the stream has not been read to the end")
        return self._result


class Engine(Protocol):
    """What explain and summarize need from a model. One call at a time: an engine
    holds one KV cache. Close it (or use it as a context manager) to free the model."""

    model: ResolvedModel
    n_ctx: int

    def render(self, prompt: Prompt | str) -> str:
        """The exact text the model sees (chat template applied)."""
        ...

    def count_tokens(self, prompt: Prompt | str) -> int:
        """Tokens the prompt occupies in the context, as the model tokenizes it."""
        ...

    def complete(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> Completion:
        """Generate up to max_tokens greedily (temperature 0, fixed seed). Raises
        LocalreadError when the prompt plus max_tokens does not fit n_ctx."""
        ...

    def stream(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> CompletionStream:
        """Like complete, delivering text as it is generated."""
        ...

    def sample(
        self, prompt: Prompt | str, max_tokens: int, n: int, stop: Sequence[str] = ()
    ) -> list[Completion]:
        """n other answers to the prompt, sampled (SAMPLE_TEMPERATURE, SAMPLE_TOP_P,
        seeds DEFAULT_SEED + 1 ... + n): what the greedy answer is checked against
        (localread.agreement). The same prompt samples the same answers."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def as_prompt(prompt: Prompt | str) -> Prompt:
    """A bare string is a completion prompt with nothing shared."""
    return prompt if isinstance(prompt, Prompt) else Prompt(shared="", text=prompt)


def fits_error(prompt_tokens: int, max_tokens: int, n_ctx: int) -> PromptTooLong | None:
    if prompt_tokens + max_tokens <= n_ctx:
        return None
    return PromptTooLong(
        f"the prompt ({prompt_tokens} tokens) plus the answer budget ({max_tokens}) does not "
        f"fit the model context ({n_ctx} tokens); raise LOCALREAD_N_CTX or lower max_tokens"
    )


# --------------------------------------------------------------------------- sizing


def choose_n_ctx(requested: int | None, model_ctx: int | None, needed: int | None = None) -> int:
    """The context size to create: `requested` (LOCALREAD_N_CTX / config) when given,
    else the larger of DEFAULT_N_CTX and `needed`; never more than the model was
    trained for (`model_ctx`), never less than MIN_N_CTX."""
    if requested is not None:
        n_ctx = requested
    else:
        n_ctx = max(DEFAULT_N_CTX, needed or 0)
    if model_ctx:
        if n_ctx > model_ctx:
            log.warning("context %d is above the model's %d; using %d", n_ctx, model_ctx, model_ctx)
        n_ctx = min(n_ctx, model_ctx)
    return max(n_ctx, MIN_N_CTX)


def check_memory(model: ResolvedModel, n_ctx: int, n_gpu_layers: int) -> None:
    """Refuse, with a clear line, a CPU context the machine cannot hold: the model's
    file (mapped into memory) plus its f16 KV cache for n_ctx tokens must fit the
    available memory. Skipped when layers go to a GPU or the sizes are unknown."""
    if n_gpu_layers != 0 or model.gguf is None:
        return
    per_token = model.gguf.kv_bytes_per_token()
    free = available_memory()
    if per_token is None or free is None:
        return
    needed = model.gguf.file_size + per_token * n_ctx
    if needed > free:
        raise LocalreadError(
            f"not enough memory for {model.name} with a {n_ctx}-token context: about "
            f"{needed / 2**30:.1f} GiB needed, {free / 2**30:.1f} GiB available; lower "
            "LOCALREAD_N_CTX or use a smaller model"
        )


class LlamaEngine:
    """A GGUF model loaded by llama-cpp-python. Greedy decoding (temperature 0) with a
    fixed seed; the shared part of consecutive prompts stays in the KV cache (see the
    module docstring). Not thread-safe: one call at a time."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        n_ctx: int,
        n_threads: int,
        n_gpu_layers: int = 0,
        verbose: bool = False,
        seed: int = DEFAULT_SEED,
        use_extra_bufts: bool = True,
    ) -> None:
        """Load `model` with an explicit context of n_ctx tokens. use_extra_bufts: let
        llama.cpp repack weights for its faster CPU kernels (see `machine.kernel_choice`).
        Raises LocalreadError when llama-cpp-python is missing, the file cannot be
        loaded, or the context does not fit in memory."""
        try:
            import llama_cpp
        except ImportError:
            raise LocalreadError(
                "llama-cpp-python is not installed: pip install 'localread[llm]'"
            ) from None
        check_memory(model, n_ctx, n_gpu_layers)
        route_llama_logs(llama_cpp, verbose)
        self.model = model
        self.seed = seed
        started = time.perf_counter()
        try:
            self._llm: Any = load_llama(
                llama_cpp,
                model.path,
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_gpu_layers=n_gpu_layers,
                use_extra_bufts=use_extra_bufts,
                seed=seed,
                verbose=verbose,
            )
        except ValueError as exc:
            if "context" in str(exc):
                raise LocalreadError(
                    f"llama.cpp could not create a {n_ctx}-token context for {model.name} "
                    "(out of memory?); lower LOCALREAD_N_CTX"
                ) from None
            raise LocalreadError(
                f"llama.cpp could not load {model.path}: the file is corrupt or its "
                "architecture is not supported by this llama-cpp-python"
            ) from None
        self.load_seconds = time.perf_counter() - started
        self.n_ctx: int = self._llm.n_ctx()
        self.n_threads = n_threads
        self.n_gpu_layers = n_gpu_layers
        self.use_extra_bufts = use_extra_bufts
        self._formatter: Callable[[Prompt], list[tuple[str, bool]]] | None = None
        if model.chat_style is ChatStyle.CHAT and model.gguf and model.gguf.chat_template:
            self._formatter = self._chat_formatter(model.gguf.chat_template)

    # -- context management

    def close(self) -> None:
        """Free the model and its context now, not whenever the collector runs."""
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _live(self) -> Any:
        if self._llm is None:
            raise RuntimeError("engine is closed")
        return self._llm

    # -- tokens

    def _chat_formatter(self, template: str) -> Callable[[Prompt], list[tuple[str, bool]]]:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos, eos = (
            self._special_text(self._llm.token_bos()),
            self._special_text(self._llm.token_eos()),
        )
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        marks = ("\x00LOCALREAD-SYSTEM\x00", "\x00LOCALREAD-USER\x00")

        def segments(prompt: Prompt) -> list[tuple[str, bool]]:
            """[(text, is_content)]: the rendered template cut at the two messages, so
            template markup is tokenized with special tokens and message contents as
            plain text (a repository cannot inject `<|im_end|>`)."""
            try:
                rendered = formatter(
                    messages=[
                        {"role": "system", "content": marks[0]},
                        {"role": "user", "content": marks[1]},
                    ]
                ).prompt
            except Exception as exc:  # noqa: BLE001 - any template error is the model file's
                raise LocalreadError(
                    f"the chat template of {self.model.name} failed to render ({exc}); "
                    "use a completion-style model"
                ) from None
            head, sep1, rest = rendered.partition(marks[0])
            middle, sep2, tail = rest.partition(marks[1])
            if not (sep1 and sep2):
                # A template that drops the system message: put the instructions first
                # in the user message, which keeps them first in the context.
                head, sep, tail = rendered.partition(marks[1])
                if not sep:
                    raise LocalreadError(f"the chat template of {self.model.name} drops messages")
                return [
                    (head, False),
                    (prompt.shared + "\n\n", True),
                    (prompt.text, True),
                    (tail, False),
                ]
            return [
                (head, False),
                (prompt.shared, True),
                (middle, False),
                (prompt.text, True),
                (tail, False),
            ]

        return segments

    def _special_text(self, token: int) -> str:
        if token == -1:
            return ""
        return self._live().detokenize([token], special=True).decode("utf-8", errors="replace")

    def _tokens(self, prompt: Prompt | str) -> tuple[list[int], int]:
        """The prompt's tokens and how many of them belong to the shared part."""
        llm = self._live()
        p = as_prompt(prompt)
        if self._formatter is not None and p.style is ChatStyle.CHAT:
            parts = self._formatter(p)
        else:
            parts = [(p.shared, True), (p.text, True)]
        bos_text = self._special_text(llm.token_bos())
        tokens: list[int] = []
        shared_len = 0
        seen_content = 0
        for i, (text, is_content) in enumerate(parts):
            add_bos = i == 0 and not (bos_text and text.startswith(bos_text))
            if text or add_bos:
                tokens += llm.tokenize(
                    text.encode("utf-8"), add_bos=add_bos, special=not is_content
                )
            if is_content:
                seen_content += 1
                if seen_content == 1:
                    shared_len = len(tokens)
        return tokens, shared_len

    def render(self, prompt: Prompt | str) -> str:
        tokens, _ = self._tokens(prompt)
        return self._live().detokenize(tokens, special=True).decode("utf-8", errors="replace")

    def count_tokens(self, prompt: Prompt | str) -> int:
        return len(self._tokens(prompt)[0])

    # -- generation

    def complete(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> Completion:
        return self.stream(prompt, max_tokens, stop).read_all()

    def stream(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> CompletionStream:
        p = as_prompt(prompt)
        tokens, shared_len = self._tokens(p)
        error = fits_error(len(tokens), max_tokens, self.n_ctx)
        if error is not None:
            raise error
        stops = list(dict.fromkeys([*p.stop, *stop]))
        return CompletionStream(self._generate(tokens, shared_len, max_tokens, stops))

    def sample(
        self, prompt: Prompt | str, max_tokens: int, n: int, stop: Sequence[str] = ()
    ) -> list[Completion]:
        p = as_prompt(prompt)
        tokens, shared_len = self._tokens(p)
        error = fits_error(len(tokens), max_tokens, self.n_ctx)
        if error is not None:
            raise error
        llm = self._live()
        stops = list(dict.fromkeys([*p.stop, *stop])) or None
        started = time.perf_counter()
        # The prompt is primed again even right after its greedy answer: sampling
        # from the cells that answer left behind drew other first answers on some
        # CPUs than a fresh engine does (rounding of a longer cache). Priming cuts the
        # cache back to the shared part, so only the unit's own text is evaluated.
        reused = self._prime(tokens, shared_len)
        prompt_seconds = time.perf_counter() - started
        out: list[Completion] = []
        for i in range(n):
            # The prompt stays in the cache: each answer evaluates its last token again
            # (create_completion's exact-prefix path) and samples from there, always
            # after the same calls, so the answers are the same on every run.
            began = time.perf_counter()
            answer = llm.create_completion(
                prompt=tokens, max_tokens=max_tokens, temperature=SAMPLE_TEMPERATURE, top_p=SAMPLE_TOP_P,
                seed=self.seed + 1 + i, stop=stops,
            )
            choice, usage = answer["choices"][0], answer.get("usage") or {}
            out.append(Completion(
                text=choice["text"],
                finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                prompt_tokens=len(tokens),
                reused_tokens=reused if i == 0 else len(tokens) - 1,
                completion_tokens=int(usage.get("completion_tokens", 0)),
                prompt_seconds=prompt_seconds if i == 0 else 0.0,
                generation_seconds=time.perf_counter() - began,
            ))
        return out

    def _prime(self, tokens: list[int], shared_len: int) -> int:
        """Evaluate the prompt so that generation can sample at once; returns the
        number of prompt tokens reused from the cache.

        The shared part is reused when the cache starts with it (the cache is cut
        back to exactly that boundary), else evaluated alone; then the rest is
        evaluated from the boundary. See the module docstring for why."""
        llm = self._live()
        shared_len = min(shared_len, len(tokens) - 1)  # something must be evaluated
        cached = llm.input_ids[: llm.n_tokens].tolist()
        if shared_len > 0 and cached[:shared_len] == tokens[:shared_len]:
            llm.n_tokens = shared_len  # eval() drops the KV cells after n_tokens
            reused = shared_len
        else:
            llm.reset()
            if shared_len > 0:
                llm.eval(tokens[:shared_len])
            reused = 0
        llm.eval(tokens[shared_len:])
        return reused

    def _generate(
        self, tokens: list[int], shared_len: int, max_tokens: int, stop: list[str]
    ) -> Generator[str, None, Completion]:
        llm = self._live()
        started = time.perf_counter()
        reused = self._prime(tokens, shared_len)
        primed = time.perf_counter()
        # The prompt is fully evaluated, so create_completion samples at once (its
        # exact-prefix path). Its stopping criterion sees the token ids before each
        # sampled position (the first call: the prompt), so the longest list seen
        # tells how many tokens were sampled.
        longest = len(tokens) - 1

        def count(input_ids: Any, logits: Any) -> bool:
            nonlocal longest
            longest = max(longest, len(input_ids))
            return False

        from llama_cpp import StoppingCriteriaList

        chunks = llm.create_completion(
            prompt=tokens,
            max_tokens=max_tokens,
            temperature=0.0,
            seed=self.seed,
            stop=stop or None,
            stream=True,
            stopping_criteria=StoppingCriteriaList([count]),
        )
        pieces: list[str] = []
        finish = "length"
        for chunk in chunks:
            choice = chunk["choices"][0]
            if choice["text"]:
                pieces.append(choice["text"])
                yield choice["text"]
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        done = time.perf_counter()
        return Completion(
            text="".join(pieces),
            finish_reason=finish,
            prompt_tokens=len(tokens),
            reused_tokens=reused,
            completion_tokens=longest - len(tokens) + 1,
            prompt_seconds=primed - started,
            generation_seconds=done - primed,
        )


def open_engine(settings: Settings, *, min_ctx: int | None = None) -> Engine:
    """The engine of settings: the servers of settings.server when there are any
    (llm/server.py: no model is loaded here, and settings.model names the served
    model where a server serves several); else llama.cpp in this process, for
    settings.model (flags > env > config > default), loaded with:
    n_ctx from settings.n_ctx, else max(DEFAULT_N_CTX, min_ctx), capped at the model's
    trained context; n_threads from settings or the physical cores; n_gpu_layers from
    settings, else all layers when llama.cpp was built with GPU support, else 0; and
    the kernels this machine was checked to run without crashing (`probe`).
    Raises LocalreadError for anything the user can fix (no model, bad file, memory,
    a llama.cpp build that crashes here)."""
    if settings.server:
        from localread.llm.server import open_server_engine

        return open_server_engine(settings)
    from localread.llm.probe import checked_load

    model = resolve_model(settings)
    n_ctx = choose_n_ctx(settings.n_ctx, model.context_length, min_ctx)
    if settings.n_gpu_layers is not None:
        n_gpu_layers = settings.n_gpu_layers
    else:
        try:
            n_gpu_layers = -1 if gpu_offload_supported() else 0
        except ImportError:
            raise LocalreadError(
                "llama-cpp-python is not installed: pip install 'localread[llm]'"
            ) from None
    plan = checked_load(model, n_gpu_layers, settings.cache_dir)
    return LlamaEngine(
        model,
        n_ctx=n_ctx,
        n_threads=settings.n_threads or physical_cores(),
        n_gpu_layers=plan.n_gpu_layers,
        use_extra_bufts=plan.use_extra_bufts,
        verbose=settings.verbose,
    )
