"""`localread paper`: which code implements each section of a paper, and what is on
one side only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from localread.commands.common import (
    GpuOpt,
    JsonOpt,
    MarkdownOpt,
    ModelOpt,
    OfflineOpt,
    ServerOpt,
    VerboseOpt,
    analyze_repo,
    command_settings,
    guarded,
    print_json,
)
from localread.commands.supervise import run_supervised
from localread.errors import LocalreadError

if TYPE_CHECKING:
    from localread.paper import Alignment

# readable=False: an unreadable path is a one-line error of ours (exit 1), not a usage box.
FirstArg = Annotated[Path, typer.Argument(help="REPO then PAPER, or only PAPER (REPO: the current folder).", show_default=False, readable=False)]
SecondArg = Annotated[Path | None, typer.Argument(help="The paper: .pdf, .md, .txt or .tex.", show_default=False, readable=False)]


@guarded
def paper_command(
    first: FirstArg,
    second: SecondArg = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Static alignment only, no model.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Matches shown per section.")] = 3,
    json_out: JsonOpt = False,
    markdown: MarkdownOpt = False,
    model: ModelOpt = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    n_gpu_layers: GpuOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Align the sections of PAPER with the code of REPO that implements them."""
    from localread.paper import align, code_view, read_paper
    from localread.render import paper as render
    from localread.render import terminal

    if json_out and markdown:
        raise LocalreadError("--json and --markdown both given; choose one")
    settings = command_settings(model=model, offline=offline, server=server, n_gpu_layers=n_gpu_layers, verbose=verbose)
    repo_dir, paper_file = (Path.cwd(), first) if second is None else (first, second)
    paper = read_paper(paper_file)
    terminal.warn_pages(paper_file, paper.skipped)
    repo = analyze_repo(repo_dir, settings)
    terminal.warn_counts(repo.counts)
    view = code_view(repo)
    name = _display_path(paper_file, repo.root)
    def show(alignment: Alignment) -> None:
        if json_out:
            print_json(alignment.to_json())
        elif markdown:
            sys.stdout.write(render.to_markdown(alignment, repo.chunks))
        else:
            render.render_table(alignment, repo.chunks, terminal.stdout)

    if no_llm:
        show(align(paper, view, top=top, paper_name=name))
        return

    def with_the_model() -> None:
        from localread.paper.explain import CANDIDATES, with_model

        pool = align(paper, view, top=max(top, CANDIDATES), paper_name=name)
        show(with_model(pool, paper, repo, view, settings, top=top))

    run_supervised(with_the_model, what="aligning the paper",
                   after_crash="`--no-llm` gives the static alignment")


def _display_path(paper: Path, root: Path) -> str:
    """The paper relative to the repository when it lies inside it, else as given."""
    try:
        return paper.resolve().relative_to(root).as_posix()
    except ValueError:
        return paper.as_posix()


def register(app: typer.Typer) -> None:
    app.command("paper")(paper_command)
