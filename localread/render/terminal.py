"""Human output for the terminal, with rich. Results go to stdout; nothing here logs.

Every string that comes from the repository, a paper or the model (names, paths,
docstrings, defaults, reasons, narratives) goes through `render.safe` on its way out:
`safe.term` inside rich markup, `safe.plain` where markup is off, `safe.text` in
table cells, so no escape sequence, bidi override or markup of theirs reaches the
terminal, on a terminal or in a pipe."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from localread.data import Counts
from localread.render import safe
from localread.repo.analysis import Repo
from localread.repo.rank import core_symbols
from localread.repo.tour import Tour

stdout = Console(soft_wrap=False, highlight=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def warn_counts(counts: Counts) -> None:
    """One warning line on stderr when some files could not be read completely: how
    many of each kind, then the first few of them, each with why."""
    parts = []
    if counts.files_with_syntax_errors:
        shown = ", ".join(counts.files_with_syntax_errors[:3])
        more = "" if len(counts.files_with_syntax_errors) <= 3 else ", ..."
        parts.append(f"{len(counts.files_with_syntax_errors)} with syntax errors ({shown}{more})")
    if counts.decode_errors:
        parts.append(f"{counts.decode_errors} not valid UTF-8 (read with replacement characters)")
    if counts.skipped_unreadable:
        parts.append(f"{counts.skipped_unreadable} unreadable skipped")
    if counts.skipped_invalid:
        parts.append(f"{counts.skipped_invalid} not usable, left out")
    if counts.skipped_links:
        parts.append(f"{_plural(counts.skipped_links, 'link')} not followed")
    if counts.skipped_deep:
        parts.append(f"{counts.skipped_deep} too deep skipped")
    if counts.skipped_large:
        parts.append(f"{counts.skipped_large} too large skipped")
    if counts.skipped_binary:
        parts.append(f"{counts.skipped_binary} binary skipped")
    if not parts:
        return
    line = f"warning: {counts.files} Python files read; " + "; ".join(parts)
    if counts.notes:
        more = len(counts.notes) - _NOTES_SHOWN
        line += " (" + "; ".join(counts.notes[:_NOTES_SHOWN]) + (f"; {more} more" if more > 0 else "") + ")"
    stderr.print(safe.one_line(line), markup=False)


_NOTES_SHOWN = 3


def warn_pages(paper: object, skipped: tuple[str, ...]) -> None:
    """One warning line on stderr naming the pages of a paper that were left out."""
    if skipped:
        shown = "; ".join(skipped[:_NOTES_SHOWN]) + ("; ..." if len(skipped) > _NOTES_SHOWN else "")
        line = f"warning: {paper}: {_plural(len(skipped), 'page')} left out ({shown}); the rest was read"
        stderr.print(safe.one_line(line), markup=False)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_map(repo: Repo, top: int) -> None:
    stdout.print(f"[bold]{safe.term(repo.root)}[/bold]")
    stdout.print(safe.plain(f"install: {repo.layout.install or '(no packaging found)'}"), markup=False)
    layout = repo.layout
    what = []
    if layout.packages:
        what.append("packages: " + ", ".join(layout.packages) + (" (src layout)" if layout.src_layout else ""))
    if layout.script_dirs:
        what.append("script folders: " + ", ".join(layout.script_dirs))
    if layout.top_level_modules:
        what.append("top-level modules: " + ", ".join(layout.top_level_modules))
    for line in what:
        stdout.print(safe.plain(line), markup=False)
    entries = Table(title="entry points (best first)", title_justify="left", show_edge=False)
    for col in ("score", "path", "how", "why"):
        entries.add_column(col)
    for e in repo.entries[:10]:
        entries.add_row(f"{e.score:.1f}", safe.text(e.path), safe.text(e.command or ""), ", ".join(e.kinds))
    stdout.print(entries)
    symbols = Table(title="core symbols (by rank)", title_justify="left", show_edge=False)
    # The qualified name and the file say everything the id does, in less width; long
    # names fold rather than lose their ends.
    symbols.add_column("rank", no_wrap=True)
    symbols.add_column("symbol", overflow="fold", ratio=1)
    symbols.add_column("kind", no_wrap=True)
    symbols.add_column("where", no_wrap=True)
    for cid in core_symbols(repo.graph, repo.ranks, limit=top if top > 0 else len(repo.chunks)):
        c = repo.chunks[cid]
        symbols.add_row(f"{repo.ranks.get(cid, 0.0) * 100:.2f}", safe.text(c.qualname), str(c.kind), safe.text(f"{c.path}:{c.start}"))
    stdout.print(symbols)
    stdout.print(
        f"{repo.counts.files} Python files, {len(repo.chunks)} chunks, "
        f"{len(repo.graph.unresolved)} calls into the repo left unresolved",
        markup=False,
    )


def tour_tree(
    repo: Repo,
    tour: Tour,
    summaries: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
    sections: dict[str, tuple] | None = None,
) -> Tree:
    """The steps as a tree, each under the step that calls it, with its reason, its
    static description (when given) and, when an earlier `summarize` stored one for
    its unchanged code, its summary; with a paper (`sections`: chunk id ->
    paper.steps.StepSection), the sections it implements."""
    summaries = summaries or {}
    descriptions = descriptions or {}
    root = Tree(f"[bold]reading tour from {safe.term(tour.entry.path)}[/bold]")
    nodes: dict[str | None, Tree] = {}
    for n, step in enumerate(tour.steps, 1):
        parent = nodes.get(tour.parents.get(step.id), root)
        label = f"{n}. [bold]{_name(step.id, repo)}[/bold] [dim]{step.kind} {safe.term(step.path)}:{step.start}-{step.end}[/dim]"
        node = parent.add(label)
        node.add(f"[italic]{_escape(step.reason)}[/italic]")
        if descriptions.get(step.id):
            node.add(f"[dim]does:[/dim] {_escape(descriptions[step.id])}")
        if summaries.get(step.id):
            node.add(f"[dim]summarize said:[/dim] {_escape(summaries[step.id])}")
        if sections and sections.get(step.id):
            node.add(paper_line(sections[step.id]))
        nodes[step.id] = node
    return root


# How many cut steps the terminal lists (--json lists them all).
PRUNED_SHOWN = 10


def paper_line(sections: tuple) -> str:
    """Rich markup naming the paper sections a step implements (titles escaped)."""
    return "[magenta]in the paper:[/magenta] " + "; ".join(f"{_escape(s.title)} [dim]({s.score:.2f})[/dim]" for s in sections)


def render_tour(
    repo: Repo,
    tour: Tour,
    summaries: dict[str, str] | None = None,
    descriptions: dict[str, str] | None = None,
    sections: dict[str, tuple] | None = None,
) -> None:
    stdout.print(tour_tree(repo, tour, summaries, descriptions, sections))
    if not tour.pruned:
        return
    cuts = {p.cut for p in tour.pruned}
    common = cuts.pop() if len(cuts) == 1 else None
    what = f", {common}" if common else ""
    stdout.print(f"\n{len(tour.pruned)} more steps{what} (the heaviest first; the whole tree: --all):", markup=False)
    for p in tour.pruned[:PRUNED_SHOWN]:
        c = repo.chunks[p.id]
        stdout.print(safe.plain(f"  {c.qualname}  {c.path}:{c.start}"), markup=False)
        reason = p.reason.removesuffix(f"; {p.cut}") if common else p.reason
        stdout.print(Padding(Text(safe.plain(reason), style="dim"), (0, 0, 0, 6), expand=False))
    if len(tour.pruned) > PRUNED_SHOWN:
        stdout.print(f"  ... {len(tour.pruned) - PRUNED_SHOWN} more in --json", markup=False)
    stdout.print("  read further with --entry or `localread explain TARGET`", markup=False)


def _name(chunk_id: str, repo: Repo) -> str:
    """A step's name: the qualified name (the file follows it), the module for modules."""
    return _escape(repo.chunks[chunk_id].qualname)


def _escape(text: str) -> str:
    return safe.term(text)


# What a model line is introduced with: the quality gate checks its names, topic and
# call relations, not its meaning (on a narrated tour of tqdm with its docstrings
# hidden, 4 of the 6 lines that passed were wrong), so the reader is told whose it is.
MODEL_MARK = "model's guess: "


def write_text(text: str) -> None:
    """The model's line of purpose, once it has passed the quality gate, marked as the
    model's (MODEL_MARK), straight to stdout."""
    import sys

    sys.stdout.write(MODEL_MARK + safe.plain(text))
    sys.stdout.flush()


def render_facts(card: dict) -> None:
    """The facts card of `explain`, before the narrative; card: FactsCard.to_json()."""
    stdout.print(f"[bold]{_escape(card['id'])}[/bold]  [dim]{card['kind']} {_escape(card['path'])}:{card['start']}-{card['end']}[/dim]")
    rows: list[tuple[str, str]] = [("signature", card["signature"])]
    if card.get("docstring"):
        rows.append(("docstring", card["docstring"]))
    for p in card.get("parameters", []):
        text = p["name"] + (f": {p['annotation']}" if p["annotation"] else "") + (f" = {p['default']}" if p["default"] else "")
        rows.append(("parameter", text))
    if card.get("returns") or card.get("returned"):
        rows.append(("returns", ", ".join(filter(None, [card.get("returns"), *card.get("returned", [])]))))
    for key, label in (("bases", "bases"), ("methods", "methods"), ("defines", "defines")):
        if card.get(key):
            rows.append((label, ", ".join(card[key])))
    for line in card.get("outline", []):
        rows.append(("calls", line))
    for callee in card.get("callees", []):
        rows.append(("callee", callee["id"] + (f" - {callee['summary']}" if callee.get("summary") else "")))
    for c in card.get("callers", []):
        rows.append(("caller", f"{c['id']} ({c['at']})"))
    if card.get("attributes_written"):
        rows.append(("sets", ", ".join("self." + a for a in card["attributes_written"])))
    if card.get("attributes_read"):
        rows.append(("reads", ", ".join("self." + a for a in card["attributes_read"])))
    if card.get("raises"):
        rows.append(("raises", ", ".join(card["raises"])))
    if card.get("reading_path"):
        rows.append(("reading path", card["reading_path"]))
    table = Table(show_header=False, show_edge=False, box=None, pad_edge=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for label, value in rows:
        table.add_row(label, _escape(value))
    stdout.print(table)
    stdout.print()


def render_grounding(explanation) -> None:
    """After the facts card: the explanation and how it was made. The model's line of
    purpose (already written by the stream) is followed by the static description
    and the grounding line; a static explanation is printed here, marked, with why
    the model's answers were rejected when they were."""
    if not explanation.from_model:
        stdout.print(f"[bold]does:[/bold] {_escape(explanation.description or explanation.narrative)}")
        note = static_note(explanation)
        if note:
            stdout.print(f"[yellow]{_escape(note)}[/yellow]")
        return
    stdout.print()
    stdout.print(f"[bold]does:[/bold] {_escape(explanation.description)}")
    if explanation.rejected:
        stdout.print(f"[dim]note: {_escape(rejected_text(explanation))}[/dim]")
    if explanation.condensed:
        stdout.print(f"[dim]note: {_escape(explanation.condensed_note or 'the source was condensed')}[/dim]")
    if explanation.unverified:
        stdout.print("[yellow]unverified:[/yellow] " + _escape(", ".join(explanation.unverified))
                     + " [dim](named by the model, found nowhere in the repository)[/dim]")
    else:
        stdout.print("[green]grounding:[/green] every identifier the narrative names exists in the code")


def static_note(explanation) -> str | None:
    """Why an explanation is the static description, one line; None with --no-llm."""
    if explanation.source == "docstring":
        return "from the code: the docstring says what it is for, so the model was not asked"
    if explanation.rejected:
        return "facts only: " + rejected_text(explanation)
    return None


# Reasons of the gate that name a state ("empty", "off topic: ..."), not an act
# ("is a guess", "restates the name"): said with "is" in a sentence.
_STATES = ("empty", "too short", "off topic", "degenerate")


def _said(reason: str) -> str:
    return f"is {reason}" if reason.startswith(_STATES) else reason


def rejected_text(explanation) -> str:
    """Why model answers were not shown, one line: "the model's answer ...; asked
    again, ..." and, when none was kept, that the static description stands."""
    said = "the model's answer " + _said(explanation.rejected[0])
    if len(explanation.rejected) > 1:
        said += "; asked again with another prompt, it " + "; then ".join(_said(r) for r in explanation.rejected[1:])
    if explanation.from_model:
        return said + "; the line shown is the second answer"
    return said + "; the static description above is shown instead (exact, from the code)"


class TourPrinter:
    """Prints a narrated tour step by step while the model streams."""

    def __init__(self, repo: Repo, tour: Tour, sections: dict[str, tuple] | None = None) -> None:
        self.repo = repo
        self.tour = tour
        self.depth = 0
        self.sections = sections or {}
        stdout.print(f"[bold]reading tour from {_escape(tour.entry.path)}[/bold] ({len(tour.steps)} steps)")

    def step(self, n: int, step) -> None:
        self.depth = step.depth
        indent = "  " * step.depth  # the depth of a step is its place in the tree
        stdout.print(f"\n{indent}[bold]{n}. {_name(step.id, self.repo)}[/bold]  [dim]{step.kind} {_escape(step.path)}:{step.start}-{step.end}[/dim]")
        stdout.print(f"{indent}[italic dim]{_escape(step.reason)}[/italic dim]")
        if self.sections.get(step.id):
            stdout.print(indent + paper_line(self.sections[step.id]))

    def done(self, explanation) -> None:
        indent = "  " * self.depth
        if not explanation.from_model:
            stdout.print(f"{indent}[bold]does:[/bold] {_escape(explanation.description or explanation.narrative)}")
            note = static_note(explanation)
            if note:
                stdout.print(f"{indent}[dim]({_escape(note)})[/dim]")
            return
        stdout.print()  # ends the model's line
        stdout.print(f"{indent}[dim]does:[/dim] {_escape(explanation.description)}")
        if explanation.rejected:
            stdout.print(f"{indent}[dim](asked again: the first answer {_escape(explanation.rejected[0])})[/dim]")
        if explanation.unverified:
            stdout.print(f"{indent}[yellow]unverified:[/yellow] " + _escape(", ".join(explanation.unverified)))

    def finish(self) -> None:
        if self.tour.pruned:
            stdout.print(safe.plain(f"\n{len(self.tour.pruned)} more steps cut; the heaviest: "
                         + ", ".join(p.id for p in self.tour.pruned[:5]) + " (the whole tree: --all)"), markup=False)
