"""The run: walk the plan's order and give every unit a summary, committing each one.

For each unit: a static summary when the chunk is trivial (summarize.static); else
the store, keyed by `make_key(kind, {body, model sha256, prompt version, sampling})`
where `body` is everything the prompt says about this unit (its source, its inputs'
summaries); else one model call, committed to the store at once. The module header
(file, imports) is context, not part of the key, so identical sources in different
files share one explanation. The engine is opened on the first model call only: a
rerun on an unchanged repository loads no model and makes no call.

A budget (deadline, most model calls) or a stop request ends model calls cleanly; the
walk then still fills whatever the store or static rules can, and every other unit
is reported as pending. The next run recomputes the same plan and resumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localread import __version__
from localread.data import ChunkKind
from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.sentences import first_sentence
from localread.store import Entry, Store, make_key
from localread.summarize.answers import summarize_unit
from localread.summarize.budget import over_budget
from localread.summarize.model import (
    Options,
    Plan,
    Progress,
    Report,
    Result,
    RunHeader,
    Source,
    Stats,
    Unit,
)
from localread.summarize.plan import build_plan, known_tours
from localread.summarize.prompts import (
    STOPS,
    PromptBuilder,
    UnitPrompt,
    instructions,
    prompt_version,
)
from localread.summarize.static import static_summary

if TYPE_CHECKING:
    from localread.llm.engine import Completion, Engine
    from localread.llm.models import ResolvedModel

log = logging.getLogger("localread.summarize")


def sampling_options() -> dict[str, Any]:
    """What the engine samples with (see llm/engine.py): part of every key."""
    from localread.llm.engine import DEFAULT_SEED

    return {"temperature": 0.0, "seed": DEFAULT_SEED, "stop": list(STOPS)}


class _Runner:
    """One walk of a plan: the results so far, the stats, why model calls stopped."""

    def __init__(
        self,
        repo: Repo,
        plan: Plan,
        store: Store,
        model: ResolvedModel,
        n_ctx: int,
        engine_factory: Callable[[], Engine],
        options: Options,
        on_progress: Callable[[Progress], None],
        should_stop: Callable[[], str | None],
    ) -> None:
        self.repo, self.plan, self.store, self.model = repo, plan, store, model
        self.options = options
        self.engine_factory = engine_factory
        self.engine: Engine | None = None
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.prompts = PromptBuilder(repo, plan, n_ctx)
        self.version = prompt_version()
        self.sampling = sampling_options()
        self.stats = Stats(chunks=len(repo.chunks))
        self.results: dict[str, Result] = {}
        self.stopped: str | None = None
        self.left = 0
        self.started = time.monotonic()
        # Static summaries do not depend on inputs: decided once, up front, which also
        # lets the ETA leave them out.
        self.static: dict[str, str] = {}
        if options.static:
            for uid, unit in plan.units.items():
                if unit.chunk is not None:
                    chunk = repo.chunks[unit.chunk]
                    text = "\n".join(self.prompts.sources.lines(chunk.path)) if chunk.kind is ChunkKind.MODULE \
                        else self.prompts.sources.chunk(chunk)
                    said = static_summary(chunk, text, bool(self.prompts.children.get(chunk.id)))
                    if said is not None:
                        self.static[uid] = said

    def one_line(self, uid: str) -> str:
        summary = self.results[uid].summary or ""
        return first_sentence(summary) or "(no summary)"

    def run(self) -> None:
        total = len(self.plan.order)
        # Units after this one that may need the model (for the ETA), kept as a count
        # so that progress stays O(1) per unit on repositories of thousands.
        self.left = sum(1 for uid in self.plan.order if uid not in self.static)
        for n, uid in enumerate(self.plan.order, 1):
            if self.stopped is None:
                self.stopped = self.should_stop()
            self.results[uid] = self.unit(self.plan.units[uid])
            self.stats.count(self.results[uid].source)
            if uid not in self.static:
                self.left -= 1
            self.on_progress(self._progress(n, total, uid))
        self.stats.seconds = time.monotonic() - self.started

    def unit(self, unit: Unit) -> Result:
        inputs = self.plan.inputs[unit.id]
        if unit.id in self.static:
            return Result(self.static[unit.id], Source.STATIC)
        if any(self.results[d].summary is None for d in inputs):
            return Result(None, Source.PENDING)
        shown = {d: self.one_line(d) for d in inputs}
        prompt = self.prompts.build(unit, shown)
        key = make_key(
            unit.kind.value,
            {
                "body": prompt.body,
                "model": self.model.sha256,
                "prompt_version": self.version,
                "sampling": {**self.sampling, "max_tokens": prompt.max_tokens},
            },
        )
        entry = self.store.get(key)
        if entry is not None:
            detail = entry.detail
            return Result(entry.summary, Source.CACHE, tuple(detail.get("rejected", ())), bool(detail.get("fallback")))
        if self.stopped is None:
            self.stopped = over_budget(self.options.budget, self.stats.llm_calls, self.stats.model_seconds, time.time())
        if self.stopped is not None:
            return Result(None, Source.PENDING)
        return self._summarize(unit, prompt, key, shown)

    def _summarize(self, unit: Unit, prompt: UnitPrompt, key: str, shown: dict[str, str]) -> Result:
        """Ask the model; an answer that fails the quality gate is asked again once
        with the retry prompt, then replaced by the static description
        (answers.summarize_unit). The result is committed under key."""
        seconds = 0.0

        def timed(attempt: UnitPrompt) -> Completion:
            nonlocal seconds
            started = time.monotonic()
            try:
                return self._call(attempt)
            finally:
                seconds += time.monotonic() - started

        outcome = summarize_unit(self.repo, self.prompts, unit, shown, timed)
        calls, rejected, fallback, summary = outcome.completions, list(outcome.rejected), outcome.fallback, outcome.summary
        self.store.put(
            Entry(
                key=key,
                kind=unit.kind.value,
                summary=summary,
                model_sha256=self.model.sha256,
                prompt_version=self.version,
                detail={"unit": unit.id, "finish_reason": calls[-1].finish_reason,
                        **({"source_hash": self.repo.chunks[unit.chunk].source_hash} if unit.chunk else {}),
                        **({"rejected": rejected, "fallback": fallback} if rejected else {})},
                prompt_tokens=sum(c.prompt_tokens for c in calls),
                prompt_tokens_reused=sum(c.reused_tokens for c in calls),
                completion_tokens=sum(c.completion_tokens for c in calls),
                seconds=seconds,
            )
        )
        self.stats.model_seconds += seconds
        self.stats.retries += len(calls) - 1
        log.debug("%s: %s%s", unit.id, summary, f" (rejected: {'; '.join(rejected)})" if rejected else "")
        return Result(summary, Source.MODEL, tuple(rejected), fallback)

    def _call(self, prompt: UnitPrompt) -> Completion:
        """One model call; its tokens are counted."""
        from localread.llm.engine import Prompt

        if self.engine is None:
            self.engine = self.engine_factory()
        # Only the instructions are the shared prefix: the engine reuses exactly that
        # part (llm/engine.py), and a module header of a few tokens is not worth losing
        # the instructions' reuse at every change of module.
        completion: Completion = self.engine.complete(
            Prompt(shared=instructions(), text=prompt.header + prompt.body, stop=STOPS),
            prompt.max_tokens,
        )
        self.stats.prompt_tokens += completion.prompt_tokens
        self.stats.prompt_tokens_reused += completion.reused_tokens
        self.stats.completion_tokens += completion.completion_tokens
        return completion

    def _progress(self, done: int, total: int, current: str) -> Progress:
        s = self.stats
        evaluated = s.prompt_tokens - s.prompt_tokens_reused + s.completion_tokens
        rate = evaluated / s.model_seconds if s.model_seconds > 0 else 0.0
        remaining = total - done
        eta = None
        if s.llm_calls and self.stopped is None:
            eta = self.left * s.model_seconds / s.llm_calls
        return Progress(
            done=done,
            total=total,
            model=s.llm_calls,
            cached=s.cached,
            static=s.static,
            pending=s.pending,
            remaining=remaining,
            tokens_per_s=rate,
            eta_s=eta,
            current=current,
        )

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def summarize(
    repo: Repo,
    store: Store,
    model: ResolvedModel,
    n_ctx: int,
    engine_factory: Callable[[], Engine],
    options: Options | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,
) -> Report:
    """Summarize `repo` into a Report, committing every model result to `store`.

    model / n_ctx: the model's identity and the context the engine will have (known
    without loading it). engine_factory: opens the engine; called on the first model
    call only, and the engine is closed before returning. should_stop: polled between
    units; a reason ("interrupted") ends model calls as a budget does.
    options: Options() when None. Raises LocalreadError from the store or the engine
    (disk full, model missing).
    """
    options = options if options is not None else Options()
    tours = known_tours(repo, options)
    plan = build_plan(repo, tours)
    run_id = store.begin_run(str(repo.root))
    previous = store.last_run(str(repo.root), before=run_id)
    if previous is not None and previous.finished is None:
        log.warning(
            "the previous run on this repository (pid %d, started %s) did not finish; resuming",
            previous.pid,
            previous.started,
        )
    runner = _Runner(
        repo,
        plan,
        store,
        model,
        n_ctx,
        engine_factory,
        options,
        on_progress or (lambda _p: None),
        should_stop or (lambda: None),
    )
    status = "failed"
    try:
        runner.run()
        status = "complete" if runner.stopped is None else f"stopped: {runner.stopped}"
    finally:
        runner.close()
        runner.stats.seconds = time.monotonic() - runner.started
        try:
            store.end_run(run_id, status, runner.stats.to_json())
        except LocalreadError:
            if status != "failed":
                raise
    header = RunHeader(
        model_name=model.name,
        model_sha256=model.sha256,
        n_ctx=n_ctx,
        prompt_version=prompt_version(),
        localread_version=__version__,
        static=options.static,
    )
    return Report(
        repo=repo,
        plan=plan,
        results=runner.results,
        tours=tours,
        stats=runner.stats,
        header=header,
        stopped=runner.stopped,
        interrupted=runner.stopped in ("interrupted", "terminated"),
    )
