"""The summarize job, as the command runs it under the repository's run lock (taken by
the caller before it creates the report folder): open the store, resolve the model,
summarize, and have the report written, with the run's log lines (the
`localread.summarize` logger) before and after."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from localread.config import Settings
from localread.repo.analysis import Repo
from localread.summarize.model import Options, Progress, Report

log = logging.getLogger("localread.summarize")


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
) -> Report:
    """Open the store, summarize with the model of `settings`, and call
    write_report(report, out_dir). The caller holds the repository's run lock
    (runlock.run_lock), so that two runs never write one report. Raises
    LocalreadError (disk full, no model, ...)."""
    from localread.llm.engine import choose_n_ctx, open_engine
    from localread.llm.models import resolve_model
    from localread.store import Store
    from localread.summarize.run import summarize

    with Store.open(settings, warn=log.warning) as store:
        model = resolve_model(settings)
        n_ctx = choose_n_ctx(settings.n_ctx, model.context_length)
        fixed = replace(settings, n_ctx=n_ctx)
        log.info(
            "summarize %s: model %s (sha256 %s), context %d, store %s, report %s%s",
            repo.root, model.name, model.sha256, n_ctx, store.path, out_dir,
            f", budget {options.budget.label}" if options.budget.label else "",
        )
        report = summarize(repo, store, model, n_ctx, lambda: open_engine(fixed), options,
                           on_progress=on_progress, should_stop=should_stop)
        write_report(report, out_dir)
    s = report.stats
    log.info(
        "%s: %d by the model (%d asked again), %d cached, %d static, %d pending; prompt tokens %d "
        "(%d reused), completion tokens %d, %.1f s",
        f"stopped ({report.stopped})" if report.stopped else "complete",
        s.llm_calls, s.retries, s.cached, s.static, s.pending, s.prompt_tokens, s.prompt_tokens_reused,
        s.completion_tokens, s.seconds,
    )
    return report
