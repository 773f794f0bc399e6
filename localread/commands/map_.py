"""`localread map`: layout, install command, entry points, ranked core symbols."""

from __future__ import annotations

from typing import Annotated

import typer

from localread.commands.common import (
    JsonOpt,
    OfflineOpt,
    RepoArg,
    analyze_repo,
    command_settings,
    guarded,
    print_json,
)


@guarded
def map_command(
    repo: RepoArg = None,
    json_out: JsonOpt = False,
    top: Annotated[int, typer.Option("--top", min=0, help="How many core symbols to list (0: all).")] = 20,
    offline: OfflineOpt = False,
) -> None:
    """Show how REPO is laid out and installed, its entry points and its core symbols."""
    from localread.render import json as render_json
    from localread.render import terminal

    result = analyze_repo(repo, command_settings(offline=offline))
    terminal.warn_counts(result.counts)
    if json_out:
        print_json(render_json.map_json(result, top))
    else:
        terminal.render_map(result, top)


def register(app: typer.Typer) -> None:
    app.command("map")(map_command)
