"""What every subcommand shares: the error boundary, the REPO argument, the model
options, settings."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from localread.config import Settings, load_settings
from localread.errors import error_boundary
from localread.logs import warnings_on_stderr

if TYPE_CHECKING:
    from localread.paper.steps import StepSection
    from localread.repo.analysis import Repo

F = TypeVar("F", bound=Callable[..., Any])

# readable=False: an unreadable folder is the scan's one-line error (exit 1), not click's usage box.
RepoArg = Annotated[Path | None, typer.Argument(help="Repository folder (default: current folder).", show_default=False, readable=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (logs stay on stderr).")]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Static analysis only, no model.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model: catalog name, imported name or .gguf path.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Guarantee that nothing touches the network.")]
GpuOpt = Annotated[int | None, typer.Option("--n-gpu-layers", help="Layers to offload to the GPU (-1: all; default: all when the build supports it).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Show llama.cpp's own logs on stderr.")]
MarkdownOpt = Annotated[bool, typer.Option("--markdown", help="Print Markdown on stdout.")]
ServerOpt = Annotated[list[str] | None, typer.Option("--server", metavar="URL", help="Run the model on this OpenAI-compatible server (llama-server, vLLM, SGLang); repeat for several.", show_default=False)]
ParallelOpt = Annotated[int | None, typer.Option("--parallel", min=1, help="Model requests in flight across the servers (default: their slots).", show_default=False)]


def guarded(func: F) -> F:
    """Run a command body inside the error boundary (exit 1 / 130 / 3, one line), with
    the stages' log warnings shown on stderr as `warning: ...` lines."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with error_boundary(), warnings_on_stderr():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """The result on stdout as JSON, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def repo_path(repo: Path | None) -> Path:
    return repo if repo is not None else Path.cwd()


def analyze_repo(repo: Path | None, settings: Settings) -> Repo:
    """The analysis of REPO (default: the current folder), reused from the analysis
    cache while the repository is unchanged unless the settings turn it off."""
    from localread.repo.analysis import analyze

    cache_dir = settings.cache_dir if settings.analysis_cache else None
    return analyze(repo_path(repo), cache_dir=cache_dir)


def stored_summaries(settings: Settings, repo: Repo, ids: Iterable[str]) -> dict[str, str]:
    """What an earlier `summarize` said of these chunks, where their code is unchanged
    (chunk id -> summary); {} when nothing was summarized."""
    from localread.store import known_summaries

    return known_summaries(settings, {i: repo.chunks[i].source_hash for i in ids if i in repo.chunks})


def callees_of(repo: Repo, ids: Iterable[str]) -> list[str]:
    """The repo chunks these chunks call, each once, in call order."""
    return list(dict.fromkeys(t for i in ids for site in repo.graph.calls.get(i, ()) for t in site.targets))


def split_repo_arg(args: list[str], name: str) -> tuple[Path, str]:
    """`[REPO] NAME` positionals: one value is NAME in the current folder; two are
    REPO and NAME. Anything else is a usage error (exit 2)."""
    if len(args) == 1:
        return Path.cwd(), args[0]
    if len(args) == 2:
        return Path(args[0]), args[1]
    typer.echo(f"usage: expected [REPO] {name}, got {len(args)} arguments", err=True)
    raise typer.Exit(2)


def command_settings(
    *, offline: bool = False, verbose: bool = False, server: list[str] | None = None, **flags: Any
) -> Settings:
    """The one settings path of every command: flags (unset flags are None; --server
    given replaces the servers of env and config) > env > config file > defaults.
    When the result is offline (`--offline`, LOCALREAD_OFFLINE, HF_HUB_OFFLINE=1 or
    `offline = true`), the guarantee is applied to this process before the command
    does anything else: no connection but to the model servers named (localread.offline)."""
    settings = load_settings(offline=offline or None, verbose=verbose or None, server=server or None, **flags)
    if settings.offline:
        from localread.offline import enforce_offline

        enforce_offline(settings.server)
    return settings


def paper_for_steps(repo: Repo, paper_file: Path, ids: Iterable[str]) -> tuple[str, dict[str, tuple[StepSection, ...]]]:
    """`--paper` of tour and report: read the paper (its skipped pages warned about),
    align it statically with the repository, and keep the sections these steps
    implement: (the paper's name as shown, chunk id -> sections). Raises
    LocalreadError when the paper cannot be read."""
    from localread.paper import align, code_view, read_paper
    from localread.paper.steps import step_sections
    from localread.render.terminal import warn_pages

    paper = read_paper(paper_file)
    warn_pages(paper_file, paper.skipped)
    try:
        name = paper_file.resolve().relative_to(repo.root).as_posix()
    except ValueError:
        name = paper_file.as_posix()
    return name, step_sections(align(paper, code_view(repo), paper_name=name), ids)
