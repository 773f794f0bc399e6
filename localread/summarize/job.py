"""The summarize job, as the command runs it under the repository's run lock (taken by
the caller before it creates the report folder): open the store, find the model
(in-process, on servers, or a batch engine's), summarize, and have the report
written, with the run's log lines (the `localread.summarize` logger) before and after.

Three ways to run the model:
- in-process llama.cpp (the default), one call at a time;
- `settings.server`: OpenAI-compatible servers, `slots` calls in flight (llm/server.py);
- `BatchFiles`: no model call; the next wave of prompts is written to a Batch file,
  and a results file's answers are committed first (summarize.batch).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from localread.config import Settings
from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.summarize.model import Options, Progress, Report

if TYPE_CHECKING:
    from localread.llm.engine import Engine
    from localread.llm.models import ResolvedModel
    from localread.store import Store

log = logging.getLogger("localread.summarize")


@dataclass(frozen=True, slots=True)
class BatchFiles:
    """A batch step. results: a Batch output file to import first; export: where to
    write the next wave; model: the model name the batch engine serves (None: the one
    the results name)."""

    export: Path | None = None
    results: Path | None = None
    model: str | None = None


def default_out_dir(settings: Settings, root: Path) -> Path:
    """`<cache dir>/reports/<folder name>-<hash of its path>`: never inside the
    repository being read, and one folder per repository."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:8]
    return settings.cache_dir / "reports" / f"{root.name}-{digest}"


def run_job(
    repo: Repo,
    settings: Settings,
    options: Options,
    out_dir: Path,
    *,
    write_report: Callable[[Report, Path], None],
    on_progress: Callable[[Progress], None],
    should_stop: Callable[[], str | None],
    batch: BatchFiles | None = None,
    on_note: Callable[[str], None] = lambda _line: None,
) -> Report:
    """Open the store, summarize with the model of `settings` (or as a batch step),
    and call write_report(report, out_dir). The caller holds the repository's run
    lock (runlock.run_lock), so that two runs never write one report. on_note: one
    line each for what a batch step did. Raises LocalreadError (disk full, no model,
    no server, ...), also after the report is written when the model servers stopped
    answering mid-run."""
    from localread.store import Store
    from localread.summarize.run import summarize

    with Store.open(settings, warn=log.warning) as store:
        if batch is not None:
            report = _batch_step(repo, store, settings, options, batch, on_progress, on_note)
        else:
            model, n_ctx, factory, slots, where, where_now = _engine(settings)
            log.info(
                "summarize %s: model %s (sha256 %s), context %d, %s, store %s, report %s%s",
                repo.root, model.name, model.sha256, n_ctx, where, store.path, out_dir,
                f", budget {options.budget.label}" if options.budget.label else "",
            )
            report = summarize(repo, store, model, n_ctx, factory, options, on_progress=on_progress,
                               should_stop=should_stop, slots=slots)
            if settings.server:
                log.info("servers: %s", where_now())
        write_report(report, out_dir)
    s = report.stats
    log.info(
        "%s: %d by the model (%d asked again), %d cached, %d static, %d pending; prompt tokens %d "
        "(%d reused), completion tokens %d, %.1f s",
        f"stopped ({report.stopped})" if report.stopped else "complete",
        s.llm_calls, s.retries, s.cached, s.static, s.pending, s.prompt_tokens, s.prompt_tokens_reused,
        s.completion_tokens, s.seconds,
    )
    if report.failed is not None:
        raise LocalreadError(
            f"{report.failed}; the {s.llm_calls + s.cached} summaries made are kept and the report marks "
            "the rest pending: run the same command again to continue"
        )
    return report


def _engine(
    settings: Settings,
) -> tuple[ResolvedModel, int, Callable[[], Engine], int, str, Callable[[], str]]:
    """(model, n_ctx, engine factory, slots, where the model runs, and a function
    that says so with the work done) for a live run."""
    from localread.llm.engine import choose_n_ctx, open_engine
    from localread.llm.models import resolve_model

    if settings.server:
        from localread.llm.server import open_server_engine

        engine = open_server_engine(settings)
        return (engine.model, engine.n_ctx, lambda: engine, engine.slots, f"servers {engine.describe()}",
                engine.describe)
    if settings.parallel is not None and settings.parallel > 1:
        log.warning("parallel %d ignored: the in-process engine runs one call at a time; use --server "
                    "for parallel requests", settings.parallel)
    model = resolve_model(settings)
    n_ctx = choose_n_ctx(settings.n_ctx, model.context_length)
    fixed = replace(settings, n_ctx=n_ctx)
    return model, n_ctx, lambda: open_engine(fixed), 1, "in-process llama.cpp", lambda: "in-process llama.cpp"


def _batch_step(
    repo: Repo,
    store: Store,
    settings: Settings,
    options: Options,
    batch: BatchFiles,
    on_progress: Callable[[Progress], None],
    on_note: Callable[[str], None],
) -> Report:
    """Import batch.results (when given) into the current wave, then walk the plan in
    batch mode: the report, and the next wave written to batch.export."""
    from localread.llm.engine import choose_n_ctx
    from localread.llm.server import served_model
    from localread.summarize.ask import Ask
    from localread.summarize.batch import answers_model, import_answers, read_answers, write_wave
    from localread.summarize.prompts import prompt_version
    from localread.summarize.run import current_wave, summarize

    if settings.server:
        raise LocalreadError("--export-batch / --import-batch make no model call: drop --server")
    answers = read_answers(batch.results) if batch.results is not None else []
    name = batch.model
    if name is None and batch.results is not None:
        name = answers_model(answers, batch.results)
    if name is None:
        raise LocalreadError(
            "--export-batch needs --batch-model NAME: the model name your batch engine serves "
            "(the --model of `vllm run-batch`), which every request names"
        )
    n_ctx = choose_n_ctx(settings.n_ctx, None)
    model = served_model(name, n_ctx)
    log.info("summarize %s: batch step for model %s (sha256 %s), context %d, store %s",
             repo.root, name, model.sha256, n_ctx, store.path)
    if batch.results is not None:
        others = sorted({a.model for a in answers if a.model and a.model != name})
        if others:
            raise LocalreadError(
                f"{batch.results}: answers of {', '.join(others)}, not of {name} (--batch-model)"
            )
        plan, wave = current_wave(repo, store, model, n_ctx, options)
        done = import_answers(repo, plan, store, wave, answers, model_sha256=model.sha256, model_name=name,
                              prompt_version=prompt_version())
        on_note(f"{batch.results}: {done.line()}")
        log.info("%s: %s", batch.results, done.line())
    asks: list[Ask] = []
    report = summarize(repo, store, model, n_ctx, None, options, on_progress=on_progress, collect=asks)
    if batch.export is not None:
        n = write_wave(batch.export, store, asks, name)
        if n:
            on_note(f"next wave: {n} prompts in {batch.export} ({report.stats.pending - n} units wait for them)")
        else:
            on_note(f"the tree is complete: no prompt left ({batch.export} is empty)")
    elif asks:
        on_note(f"{len(asks)} prompts are ready for the next wave: write them with --export-batch FILE")
    return report
