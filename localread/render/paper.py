"""`localread paper` for people: a rich table on the terminal, or Markdown.

Each section lists its matches (symbol, where it is, score, and why: the model's
sentence, else the words the section and the code share, else the graph path that
reached it); sections with no convincing match are marked. Then the two reverse
lists: core code the paper does not describe, and sections not found in the code.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from localread.data import Chunk
from localread.paper.align import Alignment, Match
from localread.render.safe import md_code, md_text
from localread.render.safe import term as escape  # rich's escape, with controls made visible

NOT_IN_PAPER = "In the code, not in the paper"
NOT_IN_CODE = "In the paper, not found in the code"


def reason(match: Match) -> str:
    """Why a symbol matches, in words: the model's sentence, or the shared words and
    the graph step that reached it (and, when the model's sentences failed the
    quality gate, that they did and why)."""
    if match.why:
        return match.why
    parts = []
    if match.evidence:
        parts.append("shares: " + ", ".join(match.evidence))
    if match.via:
        parts.append(f"via graph: {match.via}")
    if match.rejected:
        parts.append("the model's sentence was not kept: " + match.rejected[-1])
    return "; ".join(parts)


def _where(chunk_id: str, chunks: Mapping[str, Chunk]) -> str:
    chunk = chunks.get(chunk_id)
    return f"{chunk.path}:{chunk.start}" if chunk is not None else ""


def render_table(alignment: Alignment, chunks: Mapping[str, Chunk], console: Console) -> None:
    """Print the alignment as one table (a row per match) plus the two reverse lists.
    Matches below the convincing score are dim."""
    console.print(f"[bold]{escape(alignment.paper)}[/bold] <-> code", highlight=False)
    table = Table(show_edge=False)
    table.add_column("section", max_width=30, overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("symbol and why", overflow="fold")
    table.add_column("where", overflow="fold")
    for section in alignment.sections:
        title = f"[bold]{escape(section.title)}[/bold]"
        if not section.matched:
            title += "\n[dim](no convincing match)[/dim]"
        if not section.matches:
            table.add_row(title, "", "", "", end_section=True)
            continue
        for n, m in enumerate(section.matches):
            style = "dim" if m.score < alignment.threshold or not section.matched else "bold"
            cell = f"[{style}]{escape(m.id)}[/{style}]"
            if reason(m):
                cell += f"\n[italic dim]{escape(reason(m))}[/italic dim]"
            last = n == len(section.matches) - 1
            table.add_row(title if n == 0 else "", f"{m.score:.2f}", cell, escape(_where(m.id, chunks)), end_section=last)
    console.print(table)
    console.print(f"\n[bold]{NOT_IN_PAPER}[/bold] (core symbols no section matches):")
    for cid in alignment.uncovered_symbols:
        console.print(f"  {escape(cid)}  [dim]{escape(_where(cid, chunks))}[/dim]", highlight=False)
    if not alignment.uncovered_symbols:
        console.print("  (none)")
    console.print(f"\n[bold]{NOT_IN_CODE}[/bold]:")
    for title in alignment.unmatched_sections:
        console.print(f"  {escape(title)}", highlight=False)
    if not alignment.unmatched_sections:
        console.print("  (none)")
    console.print(
        f"\n[dim]a match convinces at score {alignment.threshold:.2f} or more"
        f"{'; reasons by ' + escape(alignment.model) if alignment.model else ''}[/dim]"
    )


def to_markdown(alignment: Alignment, chunks: Mapping[str, Chunk]) -> str:
    """The alignment as a Markdown document."""
    lines = [f"# {_md(alignment.paper)} and the code", ""]
    for section in alignment.sections:
        lines.append(f"## {_md(section.title)}")
        lines.append("")
        if not section.matched:
            lines += ["*No convincing match in the code.*", ""]
        if section.matches:
            lines += ["| symbol | where | score | why |", "| --- | --- | --- | --- |"]
            for m in section.matches:
                lines.append(
                    f"| {md_code(m.id, table=True)} | {_cell(_where(m.id, chunks))} | {m.score:.2f} | {_cell(reason(m))} |"
                )
            lines.append("")
    lines += [f"## {NOT_IN_PAPER}", ""]
    lines += [f"- {md_code(cid)} ({_md(_where(cid, chunks))})" for cid in alignment.uncovered_symbols] or ["- (none)"]
    lines += ["", f"## {NOT_IN_CODE}", ""]
    lines += [f"- {_md(title)}" for title in alignment.unmatched_sections] or ["- (none)"]
    lines += ["", f"A match convinces at score {alignment.threshold:.2f} or more."]
    if alignment.model:
        lines.append(f"Reasons written by {_md(alignment.model)}.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return md_text(text)  # escapes `|` too


def _md(text: str) -> str:
    return md_text(text)
