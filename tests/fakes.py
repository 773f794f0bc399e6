"""Test doubles: a scriptable engine for tests of the plumbing around a model
(never of model output)."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from localread.llm.engine import (
    DEFAULT_N_CTX,
    Completion,
    CompletionStream,
    Prompt,
    as_prompt,
    fits_error,
)
from localread.llm.models import ChatStyle, ResolvedModel

_FAKE_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One request a FakeEngine received: the rendered prompt and the options."""

    prompt: str
    max_tokens: int
    stop: tuple[str, ...]


@dataclass
class FakeEngine:
    """A scriptable engine for tests of the plumbing around a model (never of model
    output). `enqueue(text)` queues answers, returned in order; `history` records every
    request. Tokens are words and punctuation marks; reuse counts the tokens the
    shared part has in common with the previous prompt, as LlamaEngine does."""

    n_ctx: int = DEFAULT_N_CTX
    chat_style: ChatStyle = ChatStyle.COMPLETION
    name: str = "fake"
    history: list[FakeCall] = field(default_factory=list)
    closed: bool = False
    model: ResolvedModel = field(init=False)
    _queue: deque[str] = field(default_factory=deque)
    _samples: deque[list[str]] = field(default_factory=deque)
    _last_shared: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model = ResolvedModel(
            name=self.name,
            path=Path(f"{self.name}.gguf"),
            sha256=hashlib.sha256(f"localread-fake:{self.name}".encode()).hexdigest(),
            source="fake",
            chat_style=self.chat_style,
            context_length=self.n_ctx,
        )

    def enqueue(self, *texts: str) -> None:
        self._queue.extend(texts)

    def enqueue_samples(self, *texts: str) -> None:
        """The answers of the next `sample` call (a call with none queued samples none)."""
        self._samples.append(list(texts))

    def render(self, prompt: Prompt | str) -> str:
        p = as_prompt(prompt)
        if p.style is ChatStyle.CHAT and self.chat_style is ChatStyle.CHAT:
            return f"<system>\n{p.shared}\n</system>\n<user>\n{p.text}\n</user>\n<assistant>\n"
        return p.shared + p.text

    def count_tokens(self, prompt: Prompt | str) -> int:
        return len(_FAKE_TOKEN.findall(self.render(prompt))) + 1  # + BOS

    def complete(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> Completion:
        return self.stream(prompt, max_tokens, stop).read_all()

    def stream(
        self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()
    ) -> CompletionStream:
        if self.closed:
            raise RuntimeError("engine is closed")
        p = as_prompt(prompt)
        n_prompt = self.count_tokens(p)
        error = fits_error(n_prompt, max_tokens, self.n_ctx)
        if error is not None:
            raise error
        stops = tuple(dict.fromkeys([*p.stop, *stop]))
        self.history.append(FakeCall(self.render(p), max_tokens, stops))
        if not self._queue:
            raise RuntimeError("FakeEngine: no answer enqueued for this call")
        answer = self._queue.popleft()
        shared = _FAKE_TOKEN.findall(p.shared)
        reused = len(shared) + 1 if shared and shared == self._last_shared else 0
        self._last_shared = shared
        return CompletionStream(self._pieces(answer, stops, max_tokens, n_prompt, reused))

    def sample(
        self, prompt: Prompt | str, max_tokens: int, n: int, stop: Sequence[str] = ()
    ) -> list[Completion]:
        """The next queued samples (at most n), each recorded in history like a call
        (and not through a subclass's own `stream`, which answers greedy calls)."""
        texts = self._samples.popleft() if self._samples else []
        out = []
        for text in texts[:n]:
            self._queue.appendleft(text)
            out.append(FakeEngine.stream(self, prompt, max_tokens, stop).read_all())
        return out

    @staticmethod
    def _pieces(
        answer: str, stops: tuple[str, ...], max_tokens: int, n_prompt: int, reused: int
    ) -> Generator[str, None, Completion]:
        finish = "stop"
        cut = min((i for s in stops if (i := answer.find(s)) >= 0), default=-1)
        if cut >= 0:
            answer = answer[:cut]
        words = re.findall(r"\S+\s*", answer)
        if len(words) > max_tokens:
            words, finish = words[:max_tokens], "length"
        yield from words
        return Completion(
            text="".join(words),
            finish_reason=finish,
            prompt_tokens=n_prompt,
            reused_tokens=reused,
            completion_tokens=len(words),
            prompt_seconds=0.0,
            generation_seconds=0.0,
        )

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
