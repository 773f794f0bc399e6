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

from tree_sitter import Node, QueryCursor

from localread.data import Chunk, ChunkKind, EdgeKind
from localread.repo.analysis import Repo
from localread.repo.chunks import load_query, node_text, parse
from localread.repo.scan import read_source
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
    card.update(_syntax_facts(repo, chunk))
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
    """`for block in self.blocks: block(...) -> Block.forward` lines, in source order."""
    lines = []
    for site in repo.graph.calls.get(chunk.id, []):
        if not site.targets and site.external is None:
            what = f"{site.text}(...) [unresolved]"
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


def _syntax_facts(repo: Repo, chunk: Chunk) -> dict[str, Any]:
    """Parameters, returns, raises and self attributes, from the chunk's own syntax."""
    source = read_source(repo.root, chunk.path)
    node = _chunk_node(parse(source).root_node, chunk)
    out: dict[str, Any] = {"parameters": [], "returns": None, "returned": [], "raises": [],
                           "attributes_read": [], "attributes_written": []}
    if node is None:
        return out
    if node.type == "function_definition":
        out["parameters"] = _parameters(node.child_by_field_name("parameters"))
        out["returns"] = node_text(node.child_by_field_name("return_type")) or None
    body = node.child_by_field_name("body") if node.type != "module" else node
    if body is None:
        return out
    matches = [m for _, m in QueryCursor(load_query("python-facts")).matches(body)]
    nested = [m["nested"][0] for m in matches if "nested" in m and m["nested"][0].id != node.id]

    def own(n: Node) -> bool:
        # Statements of nested defs belong to those chunks; a class chunk owns none.
        return chunk.kind is not ChunkKind.CLASS and not any(
            d.start_byte <= n.start_byte and n.end_byte <= d.end_byte for d in nested
        )

    returned, raises, read, written = [], [], [], []
    for match in matches:
        if "return" in match:
            ret = match["return"][0]
            if own(ret) and ret.named_child_count:
                returned.append(" ".join(node_text(ret.named_children[0]).split()))
        elif "raise" in match:
            rai = match["raise"][0]
            if own(rai) and rai.named_child_count:
                exc = rai.named_children[0]
                raises.append(node_text(exc.child_by_field_name("function") if exc.type == "call" else exc))
        elif "self.attribute" in match:
            attr = match["self.attribute"][0]
            if node_text(match["self.object"][0]) == "self" and own(attr):
                (written if _is_assigned(attr) else read).append(node_text(match["self.name"][0]))
    out["returned"] = _unique(returned)
    out["raises"] = _unique(raises)
    out["attributes_written"] = _unique(written)
    out["attributes_read"] = [a for a in _unique(read) if a not in set(written)]
    return out


def _chunk_node(root: Node, chunk: Chunk) -> Node | None:
    if chunk.kind is ChunkKind.MODULE:
        return root
    want = chunk.start - 1
    stack = [root]
    while stack:
        node = stack.pop()
        if node.start_point.row > want or node.end_point.row < want:
            continue
        if node.type == "decorated_definition" and node.start_point.row == want:
            inner = node.child_by_field_name("definition")
            if inner is not None and node_text(inner.child_by_field_name("name")) == chunk.name:
                return inner
        if node.type in ("function_definition", "class_definition") and node.start_point.row == want:
            if node_text(node.child_by_field_name("name")) == chunk.name:
                return node
        if chunk.kind is ChunkKind.MAIN and node.type == "if_statement" and node.start_point.row == want:
            return node.child_by_field_name("consequence")
        stack.extend(reversed(node.children))
    return None


def _parameters(params: Node | None) -> list[dict[str, Any]]:
    out = []
    for p in params.named_children if params is not None else []:
        name, annotation, default = node_text(p), None, None
        if p.type in ("typed_parameter", "typed_default_parameter", "default_parameter"):
            ident = p.child_by_field_name("name") or (p.named_children[0] if p.named_children else None)
            name = node_text(ident)
            annotation = node_text(p.child_by_field_name("type")) or None
            default = node_text(p.child_by_field_name("value")) or None
        elif p.type in ("keyword_separator", "positional_separator"):
            continue
        if p.type == "typed_parameter" and p.named_children and p.named_children[0].type in (
            "list_splat_pattern", "dictionary_splat_pattern"
        ):
            name = node_text(p.named_children[0])
        if name in ("self", "cls"):
            continue
        out.append({"name": name, "annotation": annotation, "default": default})
    return out


def _is_assigned(attr: Node) -> bool:
    parent = attr.parent
    while parent is not None and parent.type in ("pattern_list", "tuple_pattern", "list_pattern"):
        attr, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type in ("assignment", "augmented_assignment"):
        left = parent.child_by_field_name("left")
        return left is not None and left.id == attr.id
    return False


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))[:MAX_LISTED]


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
