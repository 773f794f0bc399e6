"""The facts card of a chunk: what static analysis knows about it, exactly.

`facts_card(repo, chunk_id, tour=None)` returns a FactsCard (localread.data): signature,
parameters (defaults, annotations), return annotation and returned expressions,
docstring summary, callers, repo callees, a call outline (calls in source order with
the loop or branch each sits in), attributes of `self` read and written, exceptions
raised, and the chunk's place on the reading path. `facts_text(card)` renders it as
the compact text a prompt carries. Nothing here runs the repository's code.
"""

from __future__ import annotations

from typing import NamedTuple

from localread.data import Callee, Caller, Chunk, ChunkKind, EdgeKind, FactsCard, Parameter
from localread.repo.analysis import Repo
from localread.repo.graph import Param
from localread.repo.tour import Tour
from localread.sentences import first_sentence

MAX_LISTED = 12


def facts_card(repo: Repo, chunk_id: str, tour: Tour | None = None) -> FactsCard:
    """The card of one chunk; its callees carry no summary yet (FactsCard.with_summaries).
    tour: the reading path the card places the chunk on. Raises KeyError for an id
    that is not a chunk of repo."""
    chunk = repo.chunks[chunk_id]
    is_class = chunk.kind is ChunkKind.CLASS
    return FactsCard(
        id=chunk.id,
        kind=chunk.kind,
        path=chunk.path,
        start=chunk.start,
        end=chunk.end,
        signature=chunk.signature,
        decorators=tuple(chunk.decorators),
        docstring=_summary(chunk.docstring),
        **_code_facts(repo, chunk)._asdict(),
        callers=_callers(repo, chunk),
        callees=_callees(repo, chunk),
        outline=_outline(repo, chunk),
        reading_path=_place(tour, chunk),
        bases=tuple(e.target for e in repo.graph.callees(chunk.id) if e.kind is EdgeKind.INHERITS) if is_class else None,
        methods=tuple(c.name for c in repo.chunks.values() if c.parent == chunk.id and c.kind is ChunkKind.METHOD)
        if is_class else None,
        defines=tuple(c.qualname for c in repo.chunks.values() if c.parent == chunk.id)
        if chunk.kind is ChunkKind.MODULE else None,
    )


def _summary(docstring: str | None) -> str | None:
    # A docstring that opens with a section ("Parameters" over dashes) summarizes nothing.
    if not docstring or first_sentence(docstring) is None:
        return None
    return docstring.strip().split("\n\n", 1)[0].replace("\n", " ").strip()


def _callers(repo: Repo, chunk: Chunk) -> tuple[Caller, ...]:
    seen: dict[str, Caller] = {}
    for edge in sorted(repo.graph.callers(chunk.id), key=lambda e: (e.path, e.line, e.source)):
        if edge.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES) and edge.source not in seen:
            seen[edge.source] = Caller(edge.source, f"{edge.path}:{edge.line}")
    return tuple(seen.values())[:MAX_LISTED]


def _callees(repo: Repo, chunk: Chunk) -> tuple[Callee, ...]:
    seen: dict[str, Callee] = {}
    for site in repo.graph.calls.get(chunk.id, []):
        for target in site.targets:
            if target not in seen:
                seen[target] = Callee(target, f"{chunk.path}:{site.line}")
    return tuple(seen.values())


def _outline(repo: Repo, chunk: Chunk) -> tuple[str, ...]:
    """`for block in self.blocks: block(...) -> Block.forward` lines, in source order.
    `[unresolved]` marks only calls that look like calls into the repository; a method
    of a value of unknown type (`masks[0].numpy()`) is shown as written."""
    lines = []
    unresolved = {site for site in repo.graph.unresolved if site.caller == chunk.id}
    for site in repo.graph.calls.get(chunk.id, []):
        if not site.targets and site.external is None:
            what = f"{site.text}(...)" + (" [unresolved]" if site in unresolved else "")
        elif site.targets:
            named = dict(site.configured)
            names = ", ".join((repo.chunks[t].qualname if t in repo.chunks else t)
                              + (f" (named by {named[t]})" if t in named else "") for t in site.targets)
            what = f"{site.text}(...) -> {names}"
        else:
            what = f"{site.text}(...) [{site.external}]"
        lines.append(f"{site.context}: {what}" if site.context else what)
    return tuple(lines)


def _place(tour: Tour | None, chunk: Chunk) -> str | None:
    if tour is None:
        return None
    for n, step in enumerate(tour.steps, 1):
        if step.id == chunk.id:
            return f"step {n} of {len(tour.steps)} on the reading path from {tour.entry.path}: {step.reason}"
    return f"not on the reading path from {tour.entry.path}"


class _CodeFacts(NamedTuple):
    """The card's fields read from the chunk's own code (see _code_facts)."""

    parameters: tuple[Parameter, ...] = ()
    returns: str | None = None
    returned: tuple[str, ...] = ()
    raises: tuple[str, ...] = ()
    attributes_read: tuple[str, ...] = ()
    attributes_written: tuple[str, ...] = ()


def _code_facts(repo: Repo, chunk: Chunk) -> _CodeFacts:
    """Parameters, returns, raises and self attributes, as the symbol graph read them
    from the chunk's own code (a class: its constructor's parameters)."""
    facts = repo.graph.facts.get(chunk.id)
    if facts is None:
        return _CodeFacts()
    written = set(facts.writes)
    return _CodeFacts(
        parameters=tuple(_parameter(p) for p in facts.params if not _is_receiver(p, chunk)),
        returns=facts.returns,
        returned=tuple(facts.returned[:MAX_LISTED]),
        raises=tuple(facts.raises[:MAX_LISTED]),
        attributes_read=tuple(a for a in facts.reads if a not in written)[:MAX_LISTED],
        attributes_written=tuple(facts.writes[:MAX_LISTED]),
    )


def _is_receiver(param: Param, chunk: Chunk) -> bool:
    """The `self` or `cls` a method receives: not a parameter a caller passes."""
    return (
        chunk.kind is ChunkKind.METHOD
        and param.name in ("self", "cls")
        and param.kind in ("positional_only", "positional")
    )


def _parameter(param: Param) -> Parameter:
    stars = {"var_positional": "*", "var_keyword": "**"}.get(param.kind, "")
    return Parameter(stars + param.name, param.annotation, param.default)


def parameter_text(param: Parameter) -> str:
    """`name: annotation = default`, each part only when the source has it."""
    return param.name + (f": {param.annotation}" if param.annotation else "") + (
        f" = {param.default}" if param.default else ""
    )


def facts_text(card: FactsCard) -> str:
    """The card as `- label: value` lines for a prompt. Callee summaries are not here:
    prompts carry them in their own section."""
    lines = [f"- signature: `{card.signature}`"]
    if card.decorators:
        lines.append("- decorators: " + ", ".join(f"`@{d}`" for d in card.decorators))
    if card.docstring:
        lines.append(f"- docstring: {card.docstring}")
    if card.parameters:
        lines.append("- parameters: " + ", ".join(f"`{parameter_text(p)}`" for p in card.parameters))
    if card.bases:
        lines.append("- bases: " + ", ".join(f"`{b}`" for b in card.bases))
    if card.methods:
        lines.append("- methods: " + ", ".join(f"`{m}`" for m in card.methods))
    if card.defines:
        lines.append("- defines: " + ", ".join(f"`{d}`" for d in card.defines[:MAX_LISTED]))
    if card.outline:
        lines.append("- calls, in order: " + "; ".join(f"`{line}`" for line in card.outline[: MAX_LISTED * 2]))
    if card.attributes_written:
        lines.append("- sets: " + ", ".join(f"`self.{a}`" for a in card.attributes_written))
    if card.attributes_read:
        lines.append("- reads: " + ", ".join(f"`self.{a}`" for a in card.attributes_read))
    if card.returns or card.returned:
        lines.append("- returns: " + ", ".join(f"`{r}`" for r in filter(None, [card.returns, *card.returned])))
    if card.raises:
        lines.append("- raises: " + ", ".join(f"`{r}`" for r in card.raises))
    if card.callers:
        lines.append("- called by: " + ", ".join(f"`{c.id}` ({c.at})" for c in card.callers[:4]))
    return "\n".join(lines)
