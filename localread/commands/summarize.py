"""`localread summarize`: the overnight batch, from the command line.

The command wires the stages: analyze, check the out dir, take the repository's run
lock, open the store, summarize, write the report. Progress goes to stderr: a rich
progress bar on a terminal, a plain line every LOG_EVERY_S seconds otherwise (cron);
both, and the run's warnings, also go to DIR/summarize.log.

Exit codes: 0 when the report is written (complete, or stopped by --until /
--max-minutes / --max-chunks with the rest marked pending); 1 for a user error;
130 after Ctrl-C and 143 after SIGTERM, once the current summary is committed and the
report written.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from localread.commands.common import analyze_repo, guarded, print_json
from localread.commands.map_ import JsonOpt, RepoArg

if TYPE_CHECKING:
    from localread.config import Settings
    from localread.repo.analysis import Repo
    from localread.summarize import Options, Progress, Report

LOG_EVERY_S = 60.0
log = logging.getLogger("localread.summarize")


@guarded
def summarize_command(
    repo: RepoArg = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: under the cache dir).", readable=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="Stop model calls at this local time, HH:MM.")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop model calls after N minutes.")] = None,
    max_chunks: Annotated[int | None, typer.Option("--max-chunks", help="Stop after N model calls.")] = None,
    static: Annotated[bool, typer.Option("--static/--no-static", help="Summarize trivial code without the model.")] = True,
    json_out: JsonOpt = False,
    model: Annotated[str | None, typer.Option("--model", help="Model name or .gguf path.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Guarantee no network access.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show llama.cpp's own logs.")] = False,
) -> None:
    """Summarize every chunk of REPO bottom-up into a Markdown report; resumable."""
    from localread.config import load_settings
    from localread.render import markdown, terminal
    from localread.store import run_lock
    from localread.summarize import Options, StopRequest, make_budget

    settings = load_settings(model=model, offline=offline or None, verbose=verbose or None)
    options = Options(budget=make_budget(until, max_minutes, max_chunks), static=static,
                      max_depth=settings.max_depth, max_steps=settings.max_steps)
    result = analyze_repo(repo, settings)
    terminal.warn_counts(result.counts)
    out_dir = out if out is not None else default_out_dir(settings, result.root)
    stop = StopRequest()
    # The lock first: a run refused because another one holds it creates no --out folder.
    with run_lock(settings, result.root):
        markdown.claim_out_dir(out_dir, result.root)
        with _logging(out_dir / markdown.LOG_NAME), _progress() as on_progress, stop.graceful():
            report = run(result, settings, options, out_dir, on_progress=on_progress, should_stop=stop)
    if json_out:
        print_json(markdown.summary_json(report))
    else:
        terminal.stdout.print(f"report: {out_dir / 'index.md'}", markup=False, highlight=False)
    if stop.reason is not None:
        raise typer.Exit(130 if stop.reason == "interrupted" else 143)


def run(
    repo: Repo,
    settings: Settings,
    options: Options,
    out_dir: Path,
    *,
    on_progress: Callable[[Progress], None],
    should_stop: Callable[[], str | None],
) -> Report:
    """Open the store, summarize, write the report; the caller holds the repository's
    run lock. Raises LocalreadError (disk full, no model, ...)."""
    from localread.llm.engine import choose_n_ctx, open_engine
    from localread.llm.models import resolve_model
    from localread.render.markdown import write_report
    from localread.store import Store
    from localread.summarize import summarize

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


def default_out_dir(settings: Settings, root: Path) -> Path:
    """`<cache dir>/reports/<folder name>-<hash of its path>`: never inside the
    repository being read, and one folder per repository."""
    digest = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:8]
    return settings.cache_dir / "reports" / f"{root.name}-{digest}"


@contextmanager
def _logging(path: Path) -> Iterator[None]:
    """Info lines of the run to the log file in DIR, warnings also to stderr."""
    logger = logging.getLogger("localread")
    file_handler = _QuietFileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("warning: %(message)s"))
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(file_handler)
    logger.addHandler(stderr_handler)
    try:
        yield
    finally:
        logger.removeHandler(file_handler)
        logger.removeHandler(stderr_handler)
        logger.setLevel(previous)
        file_handler.close()


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (disk full) must not print tracebacks over
    the run's own clear error."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def _line(p: Progress) -> str:
    eta = "" if p.eta_s is None else f", ETA {_duration(p.eta_s)}"
    return (
        f"{p.done}/{p.total} done (model {p.model}, cached {p.cached}, static {p.static}, "
        f"pending {p.pending}), {p.remaining} remaining, {p.tokens_per_s:.0f} tok/s{eta}"
    )


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


@contextmanager
def _progress() -> Iterator[Callable[[Progress], None]]:
    """A progress callback: a rich bar on a terminal, else a log line now and then."""
    if not sys.stderr.isatty():
        last = [-LOG_EVERY_S]  # the first unit is logged at once: cron logs show the start

        def plain(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_S or p.done == p.total:
                last[0] = now
                log.info("%s", _line(p))
                print(f"summarize: {_line(p)}", file=sys.stderr, flush=True)

        yield plain
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("summarize"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("[dim]{task.fields[detail]}"),
        TimeElapsedColumn(),
        transient=False,
    )
    task = bar.add_task("summarize", total=None, detail="")
    last = [0.0]

    def fancy(p: Progress) -> None:
        eta = "" if p.eta_s is None else f" · ETA {_duration(p.eta_s)}"
        bar.update(
            task,
            total=p.total,
            completed=p.done,
            detail=f"model {p.model} · cached {p.cached} · static {p.static} · remaining {p.remaining}"
            f" · {p.tokens_per_s:.0f} tok/s{eta}",
        )
        now = time.monotonic()
        if now - last[0] >= LOG_EVERY_S:
            last[0] = now
            log.info("%s", _line(p))

    with bar:
        yield fancy


def register(app: typer.Typer) -> None:
    app.command("summarize")(summarize_command)
