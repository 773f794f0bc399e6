"""`localread summarize`: the overnight batch, from the command line.

Exit codes: 0 when the report is written (complete, or stopped by --until /
--max-minutes / --max-chunks with the rest marked pending); 1 for a user error, a
native crash of llama.cpp included (the summaries made so far stay in the store);
130 after Ctrl-C and 143 after SIGTERM, once the current summary is committed and the
report written. Progress goes to stderr (render.progress); it and the run's warnings
also go to DIR/summarize.log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localread.commands.common import (
    GpuOpt,
    JsonOpt,
    ModelOpt,
    OfflineOpt,
    RepoArg,
    VerboseOpt,
    analyze_repo,
    command_settings,
    guarded,
    print_json,
)
from localread.commands.supervise import run_supervised


@guarded
def summarize_command(
    repo: RepoArg = None,
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: under the cache dir).", readable=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="Stop model calls at this local time, HH:MM.")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop model calls after N minutes.")] = None,
    max_chunks: Annotated[int | None, typer.Option("--max-chunks", help="Stop after N model calls.")] = None,
    static: Annotated[bool, typer.Option("--static/--no-static", help="Summarize trivial code without the model.")] = True,
    json_out: JsonOpt = False,
    model: ModelOpt = None,
    offline: OfflineOpt = False,
    n_gpu_layers: GpuOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Summarize every chunk of REPO bottom-up into a Markdown report; resumable."""
    from localread.logs import run_log
    from localread.render import markdown, terminal
    from localread.render.progress import progress_display
    from localread.runlock import run_lock
    from localread.summarize import Options, StopRequest, make_budget
    from localread.summarize.job import default_out_dir, run_job

    settings = command_settings(model=model, offline=offline, n_gpu_layers=n_gpu_layers, verbose=verbose)
    options = Options(budget=make_budget(until, max_minutes, max_chunks), static=static,
                      max_depth=settings.max_depth, max_steps=settings.max_steps)

    def job() -> None:
        result = analyze_repo(repo, settings)
        terminal.warn_counts(result.counts)
        out_dir = out if out is not None else default_out_dir(settings, result.root)
        stop = StopRequest()
        # The lock first: a run refused because another one holds it creates no --out folder.
        with run_lock(settings, result.root):
            markdown.claim_out_dir(out_dir, result.root)
            with run_log(out_dir / markdown.LOG_NAME), progress_display() as on_progress, stop.graceful():
                report = run_job(result, settings, options, out_dir, write_report=markdown.write_report,
                                 on_progress=on_progress, should_stop=stop)
        if json_out:
            print_json(markdown.summary_json(report))
        else:
            terminal.stdout.print(f"report: {out_dir / 'index.md'}", markup=False, highlight=False)
            terminal.stdout.print(f"site: {out_dir / 'index.html'}", markup=False, highlight=False)
        if stop.reason is not None:
            raise typer.Exit(130 if stop.reason == "interrupted" else 143)

    run_supervised(job, what="summarizing",
                   after_crash="every summary made so far is saved: run the same command again to continue")


def register(app: typer.Typer) -> None:
    app.command("summarize")(summarize_command)
