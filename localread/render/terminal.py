"""Human output for the terminal, with rich. Results go to stdout; nothing here logs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from localread.data import Counts
from localread.repo.analysis import Repo
from localread.repo.rank import core_symbols
from localread.repo.tour import Tour

stdout = Console(soft_wrap=False, highlight=False)
stderr = Console(stderr=True, highlight=False)


def warn_counts(counts: Counts) -> None:
    """One warning line on stderr when some files could not be read completely."""
    parts = []
    if counts.files_with_syntax_errors:
        shown = ", ".join(counts.files_with_syntax_errors[:3])
        more = "" if len(counts.files_with_syntax_errors) <= 3 else ", ..."
        parts.append(f"{len(counts.files_with_syntax_errors)} with syntax errors ({shown}{more})")
    if counts.decode_errors:
        parts.append(f"{counts.decode_errors} not valid UTF-8 (read with replacement characters)")
    if counts.skipped_unreadable:
        parts.append(f"{counts.skipped_unreadable} unreadable or looping links skipped")
    if counts.skipped_large:
        parts.append(f"{counts.skipped_large} over 1 MiB skipped")
    if counts.skipped_binary:
        parts.append(f"{counts.skipped_binary} binary skipped")
    if parts:
        stderr.print(f"warning: {counts.files} Python files read; " + "; ".join(parts), markup=False)


def render_map(repo: Repo, top: int) -> None:
    stdout.print(f"[bold]{repo.root}[/bold]")
    stdout.print(f"install: {repo.layout.install or '(no packaging found)'}", markup=False)
    layout = repo.layout
    what = []
    if layout.packages:
        what.append("packages: " + ", ".join(layout.packages) + (" (src layout)" if layout.src_layout else ""))
    if layout.script_dirs:
        what.append("script folders: " + ", ".join(layout.script_dirs))
    if layout.top_level_modules:
        what.append("top-level modules: " + ", ".join(layout.top_level_modules))
    for line in what:
        stdout.print(line, markup=False)
    entries = Table(title="entry points (best first)", title_justify="left", show_edge=False)
    for col in ("score", "path", "how", "why"):
        entries.add_column(col)
    for e in repo.entries[:10]:
        entries.add_row(f"{e.score:.1f}", e.path, e.command or "", ", ".join(e.kinds))
    stdout.print(entries)
    symbols = Table(title="core symbols (by rank)", title_justify="left", show_edge=False)
    for col in ("rank", "symbol", "kind", "where"):
        symbols.add_column(col)
    for cid in core_symbols(repo.graph, repo.ranks, limit=top if top > 0 else len(repo.chunks)):
        c = repo.chunks[cid]
        symbols.add_row(f"{repo.ranks.get(cid, 0.0) * 100:.2f}", c.id, str(c.kind), f"{c.path}:{c.start}")
    stdout.print(symbols)
    stdout.print(
        f"{repo.counts.files} Python files, {len(repo.chunks)} chunks, "
        f"{len(repo.graph.unresolved)} calls into the repo left unresolved",
        markup=False,
    )


def tour_tree(repo: Repo, tour: Tour) -> Tree:
    root = Tree(f"[bold]reading tour from {tour.entry.path}[/bold]")
    nodes = {-1: root}
    for n, step in enumerate(tour.steps, 1):
        parent = nodes.get(step.depth - 1, root)
        label = f"{n}. [bold]{_name(step.id, repo)}[/bold] [dim]{step.kind} {step.path}:{step.start}-{step.end}[/dim]"
        node = parent.add(label)
        node.add(f"[italic]{_escape(step.reason)}[/italic]")
        nodes[step.depth] = node
    return root


def render_tour(repo: Repo, tour: Tour) -> None:
    stdout.print(tour_tree(repo, tour))
    if tour.pruned:
        stdout.print(f"\n{len(tour.pruned)} more symbols beyond the limits (best first):", markup=False)
        for p in tour.pruned[:10]:
            c = repo.chunks[p.id]
            stdout.print(f"  {c.id}  {c.path}:{c.start}  ({p.reason})", markup=False)
        stdout.print("  read further with --entry or `localread explain TARGET`", markup=False)


def _name(chunk_id: str, repo: Repo) -> str:
    chunk = repo.chunks[chunk_id]
    return _escape(chunk.id)


def _escape(text: str) -> str:
    return text.replace("[", "\\[")
