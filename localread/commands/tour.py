"""`localread tour`: the reading path from an entry point to the core."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from localread.commands.common import (
    GpuOpt,
    JsonOpt,
    ModelOpt,
    NoLlmOpt,
    OfflineOpt,
    RepoArg,
    ServerOpt,
    VerboseOpt,
    analyze_repo,
    callees_of,
    command_settings,
    guarded,
    paper_for_steps,
    print_json,
    stored_summaries,
)
from localread.commands.supervise import run_supervised
from localread.data import Explanation
from localread.errors import LocalreadError

if TYPE_CHECKING:
    from localread.config import Settings
    from localread.paper.steps import StepSection
    from localread.repo.analysis import Repo
    from localread.repo.tour import Tour


@guarded
def tour_command(
    repo: RepoArg = None,
    entry: Annotated[str | None, typer.Option("--entry", help="Start from this file (or module); default: the top entry point.")] = None,
    no_llm: NoLlmOpt = False,
    json_out: JsonOpt = False,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Most calls below the entry's main code (default: no limit).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="The step budget (default 40; a class and its constructor count as one).")] = None,
    max_lines: Annotated[int | None, typer.Option("--max-lines", help="A budget of lines to read too (default: none).")] = None,
    everything: Annotated[bool, typer.Option("--all", help="The whole reading tree: no budget, no depth limit.")] = False,
    paper: Annotated[Path | None, typer.Option("--paper", help="A paper (.pdf, .md, .txt, .tex): under each step, the sections it implements.", readable=False)] = None,
    codetour: Annotated[Path | None, typer.Option("--codetour", help="Also write the tour as a CodeTour file (VS Code), e.g. REPO/.tours/localread.tour.", readable=False)] = None,
    model: ModelOpt = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    n_gpu_layers: GpuOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Walk REPO from an entry point to its core, in the order a person should read it."""
    from localread.render import json as render_json
    from localread.render import safe, terminal
    from localread.repo.tour import build_tour, pick_entry

    settings = command_settings(
        model=model, offline=offline, server=server, n_gpu_layers=n_gpu_layers, verbose=verbose,
        max_depth=max_depth, max_steps=max_steps, max_lines=max_lines,
    )
    result = analyze_repo(repo, settings)
    terminal.warn_counts(result.counts)
    tour = build_tour(
        result, pick_entry(result, entry), max_depth=settings.max_depth, max_steps=settings.max_steps,
        max_lines=settings.max_lines, everything=everything,
    )
    if codetour is not None and codetour.is_dir():  # before the model's minutes, not after
        raise LocalreadError(f"--codetour {codetour}: is a folder; name the .tour file to write")
    steps = [s.id for s in tour.steps]
    stored = stored_summaries(settings, result, steps + callees_of(result, steps))
    paper_name, sections = None, None
    if paper is not None:
        paper_name, sections = paper_for_steps(result, paper, steps)

    def write_tour_file(explanations: dict[str, Explanation]) -> None:
        if codetour is None:
            return
        from localread.render.codetour import codetour as tour_document
        from localread.render.codetour import write_codetour

        told = {**stored, **{i: e.narrative for i, e in explanations.items() if e.narrative}}
        write_codetour(codetour, tour_document(result, tour, told, sections, paper_name))
        terminal.stderr.print(f"codetour: {safe.plain(codetour)}", markup=False)

    if not no_llm:
        # In the supervised child, which holds the explanations: the file is written there.
        run_supervised(
            lambda: write_tour_file(_narrate(result, tour, settings, stored, sections, json_out=json_out)),
            what="narrating the tour", after_crash="`localread tour --no-llm` shows it without the model",
        )
        return
    descriptions = _descriptions(result, tour)
    if json_out:
        print_json(render_json.tour_json(result, tour, {}, stored, descriptions, sections))
    else:
        terminal.render_tour(result, tour, stored, descriptions, sections)
    write_tour_file({})


def _descriptions(repo: Repo, tour: Tour) -> dict[str, str]:
    """The static description of each step: what the tour shows without the model."""
    from localread.describe import describe
    from localread.facts import facts_card

    return {s.id: describe(repo, repo.chunks[s.id], facts_card(repo, s.id, tour)) for s in tour.steps}


def _narrate(repo: Repo, tour: Tour, settings: Settings, stored: dict[str, str],
             sections: dict[str, tuple[StepSection, ...]] | None, *, json_out: bool) -> dict[str, Explanation]:
    """The narrated tour: streamed to the terminal step by step, or printed as JSON;
    returns the explanations."""
    from localread.explain import narrate_tour
    from localread.llm.engine import open_engine
    from localread.render import json as render_json
    from localread.render import terminal

    with open_engine(settings) as engine:
        printer = None if json_out else terminal.TourPrinter(repo, tour, sections)
        explanations: dict[str, Explanation] = narrate_tour(
            repo, tour, engine, max_tokens=settings.max_tokens,
            summaries=stored,
            on_step=printer.step if printer else None,
            on_text=terminal.write_text if printer else None,
            on_done=printer.done if printer else None,
        )
    if printer:
        printer.finish()
    if json_out:
        print_json(render_json.tour_json(repo, tour, explanations, stored, sections=sections))
    return explanations


def register(app: typer.Typer) -> None:
    app.command("tour")(tour_command)
