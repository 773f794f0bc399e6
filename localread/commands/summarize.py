"""`localread summarize`: the overnight batch, from the command line; the model runs
in-process, on `--server` URLs (`--parallel N` requests in flight), or as waves of a
batch file (`--export-batch` / `--import-batch`).

Exit codes: 0 when the report is written (complete, or stopped by --until /
--max-minutes / --max-chunks with the rest marked pending); 1 for a user error, a
native crash of llama.cpp included (the summaries made so far stay in the store), and
model servers that stopped answering mid-run (the report is written first);
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
    ParallelOpt,
    RepoArg,
    ServerOpt,
    VerboseOpt,
    analyze_repo,
    command_settings,
    guarded,
    print_json,
)
from localread.commands.supervise import run_supervised
from localread.errors import LocalreadError


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
    server: ServerOpt = None,
    parallel: ParallelOpt = None,
    export_batch: Annotated[Path | None, typer.Option("--export-batch", metavar="FILE", help="Make no model call: write the next wave of prompts to FILE (OpenAI Batch JSONL).", show_default=False)] = None,
    import_batch: Annotated[Path | None, typer.Option("--import-batch", metavar="RESULTS", help="Check and commit the answers of a Batch output file first.", show_default=False)] = None,
    batch_model: Annotated[str | None, typer.Option("--batch-model", metavar="NAME", help="The model name the batch engine serves (default: the one the results name).", show_default=False)] = None,
    n_gpu_layers: GpuOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Summarize every chunk of REPO bottom-up into a Markdown report; resumable."""
    from localread.logs import run_log
    from localread.render import markdown, terminal
    from localread.render.progress import progress_display
    from localread.runlock import run_lock
    from localread.summarize import Options, StopRequest, make_budget
    from localread.summarize.job import BatchFiles, default_out_dir, run_job

    settings = command_settings(model=model, offline=offline, server=server, parallel=parallel,
                                n_gpu_layers=n_gpu_layers, verbose=verbose)
    options = Options(budget=make_budget(until, max_minutes, max_chunks), static=static,
                      max_depth=settings.max_depth, max_steps=settings.max_steps)
    batch = None
    if export_batch is not None or import_batch is not None:
        batch = BatchFiles(export=export_batch, results=import_batch, model=batch_model)
    elif batch_model is not None:
        raise LocalreadError("--batch-model goes with --export-batch or --import-batch")

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
                                 on_progress=on_progress, should_stop=stop, batch=batch,
                                 on_note=lambda line: terminal.stderr.print(f"summarize: {line}", markup=False,
                                                                            highlight=False))
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
