"""The run: give every unit of the plan a summary, bottom-up, committing each one.

For each unit: a static summary when the chunk is trivial (summarize.static); else
the store, keyed by `make_key(kind, {body, model sha256, prompt version, sampling})`
where `body` is everything the prompt says about this unit (its source, its inputs'
summaries); else the model (summarize.ask), and the result is committed to the store
at once. The module header (file, imports) is context, not part of the key, so
identical sources in different files share one explanation. The engine is opened on
the first model call only: a rerun on an unchanged repository loads no model and
makes no call.

Scheduling. The plan's inputs form a DAG, and its order is a topological order by
priority. A unit is *ready* once all its inputs are settled; the ready unit that
comes first in the order is taken first. With one slot (the in-process engine) the
model call is made at once, so units are settled exactly in the plan's order. With
`slots` > 1 (servers, llm/server.py) up to that many model calls are in flight at
once, in worker threads; the main thread alone builds prompts, reads and writes the
store (one writer: each result is committed as it arrives, in its own transaction),
and reports progress. A killed run loses only the calls in flight; keys are unique,
so nothing is stored twice.

A budget (deadline, most model calls) or a stop request ends model calls cleanly;
calls in flight are finished and committed, the walk then still fills whatever the
store or static rules can, and every other unit is reported as pending. When no
model server answers any more, the run stops the same way and says so
(`Report.failed`). The next run recomputes the same plan and resumes.

Batch mode (`collect`): no engine; each unit that needs the model is added to the
wave (summarize.batch) and reported as pending.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localread import __version__
from localread.data import ChunkKind
from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.sentences import first_sentence
from localread.store import Store, make_key
from localread.summarize.ask import Ask, Outcome, ask_engine, entry
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
from localread.summarize.prompts import STOPS, PromptBuilder, prompt_version
from localread.summarize.static import static_summary

if TYPE_CHECKING:
    from localread.llm.engine import Engine
    from localread.llm.models import ResolvedModel

log = logging.getLogger("localread.summarize")

# How often the main thread, waiting for answers, looks for a stop request.
POLL_S = 0.5


def sampling_options() -> dict[str, Any]:
    """What the engine samples with (see llm/engine.py): part of every key."""
    from localread.llm.engine import DEFAULT_SEED

    return {"temperature": 0.0, "seed": DEFAULT_SEED, "stop": list(STOPS)}


class _Slots:
    """Where model calls run: at once in the caller's thread (one slot), or in
    `n` daemon threads (daemon: a call stuck on a dead server never holds up the
    exit). `done()` gives (ask, outcome or the exception it raised)."""

    def __init__(self, n: int, call: Callable[[Ask], Outcome]) -> None:
        self.n = n
        self.call = call
        self.busy = 0
        self._done: queue.Queue[tuple[Ask, Outcome | BaseException]] = queue.Queue()
        self._todo: queue.Queue[Ask] = queue.Queue()
        self._started = False

    def _run(self, ask: Ask) -> None:
        try:
            self._done.put((ask, self.call(ask)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._done.put((ask, exc))

    def _work(self) -> None:
        while True:
            self._run(self._todo.get())

    def submit(self, ask: Ask) -> None:
        self.busy += 1
        if self.n > 1:
            if not self._started:  # threads only for a run that calls the model
                self._started = True
                for i in range(self.n):
                    threading.Thread(target=self._work, name=f"localread-slot-{i}", daemon=True).start()
            self._todo.put(ask)
        else:
            self._run(ask)

    def done(self, timeout: float) -> tuple[Ask, Outcome | BaseException] | None:
        try:
            item = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        self.busy -= 1
        return item


class _Runner:
    """One walk of a plan: the results so far, the stats, why model calls stopped."""

    def __init__(
        self,
        repo: Repo,
        plan: Plan,
        store: Store,
        model: ResolvedModel,
        n_ctx: int,
        engine_factory: Callable[[], Engine] | None,
        options: Options,
        on_progress: Callable[[Progress], None],
        should_stop: Callable[[], str | None],
        slots: int,
        collect: list[Ask] | None,
    ) -> None:
        self.repo, self.plan, self.store, self.model = repo, plan, store, model
        self.options = options
        self.engine_factory = engine_factory
        self.engine: Engine | None = None
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.collect = collect
        self.prompts = PromptBuilder(repo, plan, n_ctx)
        self.version = prompt_version()
        self.sampling = sampling_options()
        self.stats = Stats(chunks=len(repo.chunks))
        self.results: dict[str, Result] = {}
        self.stopped: str | None = None
        self.failed: str | None = None
        self.left = 0
        self.started = time.monotonic()
        # Wall time with at least one model call in flight: the ETA and the rate.
        self.busy_s = 0.0
        self._busy_since = 0.0
        self.slots = _Slots(max(slots, 1), self._ask)
        # Units whose key is being asked already (identical code elsewhere): settled
        # from that answer, as the store would settle them after it.
        self.twins: dict[str, list[str]] = {}
        self._collected: set[str] = set()  # keys of the wave (batch mode), each once
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

    # -- the walk

    def run(self) -> None:
        """Settle every unit: the ready unit first in the plan's order is taken first,
        and a model call is handed to a free slot (see the module docstring)."""
        order = self.plan.order
        index = {uid: i for i, uid in enumerate(order)}
        waiting = {uid: len(set(self.plan.inputs[uid])) for uid in order}
        self.needed_by: dict[str, list[str]] = {}
        for uid in order:
            for dep in set(self.plan.inputs[uid]):
                self.needed_by.setdefault(dep, []).append(uid)
        self.waiting, self.index = waiting, index
        self.ready: list[tuple[int, str]] = [(index[u], u) for u in order if waiting[u] == 0]
        heapq.heapify(self.ready)
        # Units after this one that may need the model (for the ETA), kept as a count
        # so that progress stays O(1) per unit on repositories of thousands.
        self.left = sum(1 for uid in order if uid not in self.static)
        while self.ready or self.slots.busy:
            while self.ready and self.slots.busy < self.slots.n:
                _, uid = heapq.heappop(self.ready)
                if self.stopped is None:
                    self.stopped = self.should_stop()
                settled = self.unit(self.plan.units[uid])
                if isinstance(settled, Result):
                    self._settle(uid, settled)
                elif settled.key in self.twins:
                    self.twins[settled.key].append(uid)
                else:
                    self.twins[settled.key] = []
                    if not self.slots.busy:
                        self._busy_since = time.monotonic()
                    self.slots.submit(settled)
            if self.slots.busy:
                self._receive()
        self.stats.seconds = time.monotonic() - self.started

    def _receive(self) -> None:
        """Wait for one answer (looking for stop requests meanwhile) and commit it."""
        item = self.slots.done(POLL_S)
        while item is None:
            if self.stopped is None:
                self.stopped = self.should_stop()
            item = self.slots.done(POLL_S)
        if not self.slots.busy:
            self.busy_s += time.monotonic() - self._busy_since
        ask, outcome = item
        twins = self.twins.pop(ask.key, [])
        if isinstance(outcome, BaseException):
            from localread.llm.server import ServerUnavailable

            if not isinstance(outcome, ServerUnavailable):
                raise outcome
            if self.failed is None:
                self.failed = str(outcome)
                self.stopped = self.stopped or "no model server answers"
            for uid in (ask.unit.id, *twins):
                self._settle(uid, Result(None, Source.PENDING))
            return
        result = self._commit(outcome)
        self._settle(ask.unit.id, result)
        for uid in twins:
            self._settle(uid, Result(result.summary, Source.CACHE, result.rejected, result.fallback))

    def _settle(self, uid: str, result: Result) -> None:
        """Record a unit's result, report progress, and make ready what waited for it."""
        self.results[uid] = result
        self.stats.count(result.source)
        if uid not in self.static:
            self.left -= 1
        self.on_progress(self._progress(uid))
        for later in self.needed_by.get(uid, ()):
            self.waiting[later] -= 1
            if self.waiting[later] == 0:
                heapq.heappush(self.ready, (self.index[later], later))

    def unit(self, unit: Unit) -> Result | Ask:
        """The unit's result without a model call where there is one; else what to
        ask the model."""
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
        retry = self.prompts.build(unit, shown, retry=True)
        # The same prompt again would get the same answer (greedy decoding).
        ask = Ask(unit, key, (prompt,) if retry.body == prompt.body else (prompt, retry), shown)
        if self.collect is not None:
            if key not in self._collected:
                self._collected.add(key)
                self.collect.append(ask)
            return Result(None, Source.PENDING)
        if self.stopped is None:
            self.stopped = over_budget(self.options.budget, self.stats.llm_calls, self.stats.model_seconds,
                                       time.time(), in_flight=self.slots.busy)
        if self.stopped is not None:
            return Result(None, Source.PENDING)
        if self.engine is None:
            if self.engine_factory is None:
                raise RuntimeError("summarize: a model call with no engine")
            self.engine = self.engine_factory()
        return ask

    def _ask(self, ask: Ask) -> Outcome:
        """A unit's model calls (in a slot: reads only)."""
        assert self.engine is not None  # opened by unit() before the ask is handed over
        return ask_engine(self.repo, self.plan.inputs[ask.unit.id], ask, self.engine, time.monotonic)

    def _commit(self, outcome: Outcome) -> Result:
        """Store an outcome (the one writer) and count it."""
        served = self.model.name if self.model.source == "server" else None
        self.store.put(entry(self.repo, outcome, model_sha256=self.model.sha256, model_name=served,
                             prompt_version=self.version))
        s = self.stats
        s.prompt_tokens += outcome.prompt_tokens
        s.prompt_tokens_reused += outcome.prompt_tokens_reused
        s.completion_tokens += outcome.completion_tokens
        s.model_seconds += outcome.seconds
        s.retries += max(outcome.calls - 1, 0)  # none made where no prompt fitted
        s.samples += outcome.samples
        rejected = outcome.rejected
        log.debug("%s: %s%s", outcome.ask.unit.id, outcome.summary,
                  f" (rejected: {'; '.join(rejected)})" if rejected else "")
        return Result(outcome.summary, Source.MODEL, rejected, outcome.fallback)

    def _progress(self, current: str) -> Progress:
        s = self.stats
        total = len(self.plan.order)
        done = len(self.results)
        busy = self.busy_s + (time.monotonic() - self._busy_since if self.slots.busy else 0.0)
        evaluated = s.prompt_tokens - s.prompt_tokens_reused + s.completion_tokens
        rate = evaluated / busy if busy > 0 else 0.0
        eta = None
        if s.llm_calls and self.stopped is None:
            # Wall time per model unit with every slot at work, not one call's time.
            eta = self.left * busy / s.llm_calls
        return Progress(
            done=done,
            total=total,
            model=s.llm_calls,
            cached=s.cached,
            static=s.static,
            pending=s.pending,
            remaining=total - done,
            tokens_per_s=rate,
            eta_s=eta,
            current=current,
            in_flight=self.slots.busy,
            slots=self.slots.n,
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
    engine_factory: Callable[[], Engine] | None,
    options: Options | None = None,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], str | None] | None = None,
    slots: int = 1,
    collect: list[Ask] | None = None,
) -> Report:
    """Summarize `repo` into a Report, committing every model result to `store`.

    model / n_ctx: the model's identity and the context the engine will have (known
    without loading it). engine_factory: opens the engine; called on the first model
    call only, and the engine is closed before returning. slots: model calls in
    flight at once (the engine must be thread-safe when more than 1). should_stop:
    polled between units; a reason ("interrupted") ends model calls as a budget does.
    collect: batch mode, no model calls: what the model would be asked is appended.
    options: Options() when None. Raises LocalreadError from the store or the engine
    (disk full, model missing); a model server that stops answering ends the run
    with Report.failed instead.
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
    runner = _Runner(repo, plan, store, model, n_ctx, engine_factory, options, on_progress or (lambda _p: None),
                     should_stop or (lambda: None), slots, collect)
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
        failed=runner.failed,
    )


def current_wave(repo: Repo, store: Store, model: ResolvedModel, n_ctx: int, options: Options) -> tuple[Plan, list[Ask]]:
    """The plan, and what the model would be asked now (batch mode), without
    recording a run: the units whose inputs are all summarized, in the plan's order."""
    plan = build_plan(repo, known_tours(repo, options))
    wave: list[Ask] = []
    _Runner(repo, plan, store, model, n_ctx, None, options, lambda _p: None, lambda: None, 1, wave).run()
    return plan, wave
