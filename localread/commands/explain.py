"""`localread explain`: the facts card of one symbol, the model's narrative, and the
grounding check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from localread.commands.common import (
    GpuOpt,
    JsonOpt,
    ModelOpt,
    NoLlmOpt,
    OfflineOpt,
    ServerOpt,
    VerboseOpt,
    analyze_repo,
    command_settings,
    guarded,
    print_json,
    split_repo_arg,
    stored_summaries,
)
from localread.commands.supervise import run_supervised

if TYPE_CHECKING:
    from localread.data import Explanation
    from localread.repo.analysis import Repo


@guarded
def explain_command(
    args: Annotated[list[str], typer.Argument(metavar="[REPO] TARGET", show_default=False, help="TARGET: a symbol id, a unique suffix of one (Generator.generate), or PATH[:LINE].")],
    no_llm: NoLlmOpt = False,
    json_out: JsonOpt = False,
    model: ModelOpt = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    n_gpu_layers: GpuOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Explain one function, method, class or module of REPO (default: current folder)."""
    from localread import explain
    from localread.render import terminal
    from localread.repo.tour import default_tour
    from localread.targets import resolve_target

    repo_dir, target = split_repo_arg(args, "TARGET")
    settings = command_settings(model=model, offline=offline, server=server, n_gpu_layers=n_gpu_layers, verbose=verbose)
    repo = analyze_repo(repo_dir, settings)
    terminal.warn_counts(repo.counts)
    chunk = resolve_target(repo, target)
    card = explain.facts_card(repo, chunk.id, default_tour(repo, settings))
    known = stored_summaries(settings, repo, [c.id for c in card.callees])
    card = card.with_summaries(known)
    if not json_out:
        terminal.render_facts(card.to_json())
    if no_llm:
        _show(repo, explain.static_explanation(chunk, card), json_out=json_out)
        return

    def narrate() -> None:
        from localread.llm.engine import open_engine

        with open_engine(settings) as engine:
            on_text = None if json_out else terminal.write_text
            result = explain.explain_chunk(
                repo, chunk, engine, max_tokens=settings.max_tokens, card=card, summaries=known, on_text=on_text
            )
        _show(repo, result, json_out=json_out)

    run_supervised(narrate, what=f"explaining {chunk.id}",
                   after_crash="`--no-llm` shows its facts without the model")


def _show(repo: Repo, result: Explanation, *, json_out: bool) -> None:
    from localread import explain
    from localread.render import terminal

    if json_out:
        print_json(explain.explain_json(repo, result))
    else:
        terminal.render_grounding(result)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain_command)
