"""`localread tour`: the reading path from an entry point to the core."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localread.commands.common import guarded, print_json, repo_path
from localread.commands.map_ import JsonOpt, RepoArg


@guarded
def tour_command(
    repo: RepoArg = None,
    entry: Annotated[str | None, typer.Option("--entry", help="Start from this file (or module); default: the top entry point.")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Static tour only, no model.")] = False,
    json_out: JsonOpt = False,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="Deepest call chain followed (default 6).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Most steps shown (default 40).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name or .gguf path (narrated tour).")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Guarantee no network access.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show llama.cpp's own logs.")] = False,
) -> None:
    """Walk REPO from an entry point to its core, in the order a person should read it."""
    from localread.config import load_settings
    from localread.render import json as render_json
    from localread.render import terminal
    from localread.repo.analysis import analyze
    from localread.repo.tour import build_tour, pick_entry

    settings = load_settings(
        max_depth=max_depth, max_steps=max_steps, model=model, offline=offline or None, verbose=verbose or None
    )
    result = analyze(repo_path(repo))
    terminal.warn_counts(result.counts)
    tour = build_tour(result, pick_entry(result, entry), max_depth=settings.max_depth, max_steps=settings.max_steps)
    if no_llm:
        explanations = None
        if not json_out:
            terminal.render_tour(result, tour)
    else:
        from localread.explain import narrate_tour

        explanations = narrate_tour(result, tour, settings, stream=not json_out)
    if json_out:
        print_json(render_json.tour_json(result, tour, explanations))


def register(app: typer.Typer) -> None:
    app.command("tour")(tour_command)
