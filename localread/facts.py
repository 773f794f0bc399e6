"""The facts card of a chunk: what static analysis knows about it, exactly.

`facts_card(repo, chunk_id, tour=None)` returns a JSON-ready dict: signature,
parameters (defaults, annotations), return annotation and returned expressions,
docstring summary, callers, repo callees, a call outline (calls in source order with
the loop or branch each sits in), attributes of `self` read and written, exceptions
raised, and the chunk's place on the reading path. `facts_text(card)` renders it as
the compact text a prompt carries. Nothing here runs the repository's code.
"""

from __future__ import annotations

from typing import Any

from localread.data import Chunk, ChunkKind, EdgeKind
from localread.repo.analysis import Repo
from localread.repo.graph import Param
from localread.repo.tour import Tour

MAX_LISTED = 12


def facts_card(repo: Repo, chunk_id: str, tour: Tour | None = None) -> dict[str, Any]:
    chunk = repo.chunks[chunk_id]
    card: dict[str, Any] = {
        "id": chunk.id,
        "kind": str(chunk.kind),
        "path": chunk.path,
        "start": chunk.start,
        "end": chunk.end,
        "signature": chunk.signature,
        "decorators": list(chunk.decorators),
        "docstring": _summary(chunk.docstring),
    }
    card.update(_code_facts(repo, chunk))
    card["callers"] = _callers(repo, chunk)
    card["callees"] = _callees(repo, chunk)
    card["outline"] = _outline(repo, chunk)
    if chunk.kind is ChunkKind.CLASS:
        card["bases"] = [e.target for e in repo.graph.callees(chunk.id) if e.kind is EdgeKind.INHERITS]
        card["methods"] = [c.name for c in repo.chunks.values() if c.parent == chunk.id and c.kind is ChunkKind.METHOD]
    if chunk.kind is ChunkKind.MODULE:
        card["defines"] = [c.qualname for c in repo.chunks.values() if c.parent == chunk.id]
    card["reading_path"] = _place(tour, chunk)
    return card


def _summary(docstring: str | None) -> str | None:
    if not docstring:
        return None
    return docstring.strip().split("\n\n", 1)[0].replace("\n", " ").strip()


def _callers(repo: Repo, chunk: Chunk) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for edge in sorted(repo.graph.callers(chunk.id), key=lambda e: (e.path, e.line, e.source)):
        if edge.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES) and edge.source not in seen:
            seen[edge.source] = {"id": edge.source, "at": f"{edge.path}:{edge.line}"}
    return list(seen.values())[:MAX_LISTED]


def _callees(repo: Repo, chunk: Chunk) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for site in repo.graph.calls.get(chunk.id, []):
        for target in site.targets:
            if target not in seen:
                seen[target] = {"id": target, "at": f"{chunk.path}:{site.line}", "summary": None}
    return list(seen.values())


def _outline(repo: Repo, chunk: Chunk) -> list[str]:
    """`for block in self.blocks: block(...) -> Block.forward` lines, in source order.
    `[unresolved]` marks only calls that look like calls into the repository; a method
    of a value of unknown type (`masks[0].numpy()`) is shown as written."""
    lines = []
    unresolved = {site for site in repo.graph.unresolved if site.caller == chunk.id}
    for site in repo.graph.calls.get(chunk.id, []):
        if not site.targets and site.external is None:
            what = f"{site.text}(...)" + (" [unresolved]" if site in unresolved else "")
        elif site.targets:
            names = ", ".join(repo.chunks[t].qualname if t in repo.chunks else t for t in site.targets)
            what = f"{site.text}(...) -> {names}"
        else:
            what = f"{site.text}(...) [{site.external}]"
        lines.append(f"{site.context}: {what}" if site.context else what)
    return lines


def _place(tour: Tour | None, chunk: Chunk) -> str | None:
    if tour is None:
        return None
    for n, step in enumerate(tour.steps, 1):
        if step.id == chunk.id:
            return f"step {n} of {len(tour.steps)} on the reading path from {tour.entry.path}: {step.reason}"
    return f"not on the reading path from {tour.entry.path}"


def _code_facts(repo: Repo, chunk: Chunk) -> dict[str, Any]:
    """Parameters, returns, raises and self attributes, as the symbol graph read them
    from the chunk's own code (a class: its constructor's parameters)."""
    facts = repo.graph.facts.get(chunk.id)
    if facts is None:
        return {"parameters": [], "returns": None, "returned": [], "raises": [],
                "attributes_read": [], "attributes_written": []}
    written = set(facts.writes)
    return {
        "parameters": [_parameter(p) for p in facts.params if not _is_receiver(p, chunk)],
        "returns": facts.returns,
        "returned": list(facts.returned[:MAX_LISTED]),
        "raises": list(facts.raises[:MAX_LISTED]),
        "attributes_read": [a for a in facts.reads if a not in written][:MAX_LISTED],
        "attributes_written": list(facts.writes[:MAX_LISTED]),
    }


def _is_receiver(param: Param, chunk: Chunk) -> bool:
    """The `self` or `cls` a method receives: not a parameter a caller passes."""
    return (
        chunk.kind is ChunkKind.METHOD
        and param.name in ("self", "cls")
        and param.kind in ("positional_only", "positional")
    )


def _parameter(param: Param) -> dict[str, Any]:
    stars = {"var_positional": "*", "var_keyword": "**"}.get(param.kind, "")
    return {"name": stars + param.name, "annotation": param.annotation, "default": param.default}


def facts_text(card: dict[str, Any]) -> str:
    """The card as `- label: value` lines for a prompt. Callee summaries are not here:
    prompts carry them in their own section."""
    lines = [f"- signature: `{card['signature']}`"]
    if card.get("decorators"):
        lines.append("- decorators: " + ", ".join(f"`@{d}`" for d in card["decorators"]))
    if card.get("docstring"):
        lines.append(f"- docstring: {card['docstring']}")
    params = [
        p["name"] + (f": {p['annotation']}" if p["annotation"] else "") + (f" = {p['default']}" if p["default"] else "")
        for p in card.get("parameters", [])
    ]
    if params:
        lines.append("- parameters: " + ", ".join(f"`{p}`" for p in params))
    if card.get("bases"):
        lines.append("- bases: " + ", ".join(f"`{b}`" for b in card["bases"]))
    if card.get("methods"):
        lines.append("- methods: " + ", ".join(f"`{m}`" for m in card["methods"]))
    if card.get("defines"):
        lines.append("- defines: " + ", ".join(f"`{d}`" for d in card["defines"][:MAX_LISTED]))
    if card.get("outline"):
        lines.append("- calls, in order: " + "; ".join(f"`{line}`" for line in card["outline"][: MAX_LISTED * 2]))
    if card.get("attributes_written"):
        lines.append("- sets: " + ", ".join(f"`self.{a}`" for a in card["attributes_written"]))
    if card.get("attributes_read"):
        lines.append("- reads: " + ", ".join(f"`self.{a}`" for a in card["attributes_read"]))
    if card.get("returns") or card.get("returned"):
        lines.append("- returns: " + ", ".join(f"`{r}`" for r in filter(None, [card.get("returns"), *card.get("returned", [])])))
    if card.get("raises"):
        lines.append("- raises: " + ", ".join(f"`{r}`" for r in card["raises"]))
    if card.get("callers"):
        lines.append("- called by: " + ", ".join(f"`{c['id']}` ({c['at']})" for c in card["callers"][:4]))
    return "\n".join(lines)
