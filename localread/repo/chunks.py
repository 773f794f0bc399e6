"""tree-sitter -> Chunk: modules, classes, functions, methods and main blocks.

`parse(source)` returns a tree-sitter tree; `extract_chunks(tree, source, path,
module)` returns the file's chunks in source order (module first) and the number of
parse errors. Files with syntax errors still yield every definition that parsed.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass
from functools import cache
from importlib import resources

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from localread.data import Chunk, ChunkKind


@cache
def language() -> Language:
    return Language(tree_sitter_python.language())


@cache
def load_query(name: str) -> Query:
    """A tree-sitter query shipped as `localread/queries/<name>.scm`."""
    text = resources.files("localread.queries").joinpath(f"{name}.scm").read_text(encoding="utf-8")
    return Query(language(), text)


@cache
def _parser() -> Parser:
    return Parser(language())


def parse(source: bytes) -> Tree:
    return _parser().parse(source)


def node_text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class FileChunks:
    chunks: list[Chunk]
    errors: int


def extract_chunks(tree: Tree, source: bytes, path: str, module: str) -> FileChunks:
    """The chunks of one file, in source order, the module chunk first."""
    root = tree.root_node
    lines = source.split(b"\n")
    captures = QueryCursor(load_query("python-chunks")).captures(root)
    errors = len(captures.get("error", []))
    if root.has_error and errors == 0:
        errors = 1  # only MISSING nodes: still a syntax error

    module_chunk = Chunk(
        id=module,
        kind=ChunkKind.MODULE,
        path=path,
        start=1,
        end=max(1, root.end_point.row + (1 if root.end_point.column else 0)),
        name=module.rsplit(".", 1)[-1],
        signature=f"module {module} ({path})",
        docstring=_docstring(root),
        source_hash=sha256(source),
        parent=None,
        module=module,
    )
    chunks = [module_chunk]
    used: set[str] = {module}

    # Definitions: ids come from the chain of enclosing definitions.
    defs = sorted(captures.get("definition", []), key=lambda n: n.start_byte)
    ids: dict[int, str] = {}  # node id -> chunk id, for parents
    kinds: dict[int, ChunkKind] = {}
    for node in defs:
        name = node_text(node.child_by_field_name("name"))
        if not name:
            continue
        outer = _enclosing_definition(node)
        parent_id = ids.get(outer.id, module) if outer is not None else module
        parent_kind = kinds.get(outer.id) if outer is not None else None
        if node.type == "class_definition":
            kind = ChunkKind.CLASS
        elif parent_kind is ChunkKind.CLASS:
            kind = ChunkKind.METHOD
        else:
            kind = ChunkKind.FUNCTION
        chunk_id = _unique(f"{parent_id}.{name}", used)
        ids[node.id] = chunk_id
        kinds[node.id] = kind
        span = node.parent if node.parent is not None and node.parent.type == "decorated_definition" else node
        decorators = (
            tuple(node_text(d)[1:].strip() for d in span.children if d.type == "decorator")
            if span is not node
            else ()
        )
        start, end = span.start_point.row + 1, span.end_point.row + 1
        chunks.append(
            Chunk(
                id=chunk_id,
                kind=kind,
                path=path,
                start=start,
                end=end,
                name=name,
                signature=_signature(node),
                docstring=_docstring(node.child_by_field_name("body")),
                source_hash=sha256(b"\n".join(lines[start - 1 : end])),
                parent=parent_id,
                decorators=decorators,
                is_async=any(c.type == "async" for c in node.children),
                module=module,
            )
        )

    for block, condition in zip(captures.get("main.block", []), captures.get("main.condition", [])):
        text = node_text(condition)
        if "__name__" not in text or "__main__" not in text:
            continue
        start, end = block.start_point.row + 1, block.end_point.row + 1
        chunks.append(
            Chunk(
                id=_unique(f"{module}.__main__", used),
                kind=ChunkKind.MAIN,
                path=path,
                start=start,
                end=end,
                name="__main__",
                signature=f"if {' '.join(text.split())}:",
                docstring=None,
                source_hash=sha256(b"\n".join(lines[start - 1 : end])),
                parent=module,
                module=module,
            )
        )
    chunks[1:] = sorted(chunks[1:], key=lambda c: (c.start, c.end))
    return FileChunks(chunks=chunks, errors=errors)


def _enclosing_definition(node: Node) -> Node | None:
    parent = node.parent
    while parent is not None:
        if parent.type in ("function_definition", "class_definition"):
            return parent
        parent = parent.parent
    return None


def _unique(candidate: str, used: set[str]) -> str:
    """Redefinitions (property setters, if/else variants) get `#2`, `#3`, ..."""
    chunk_id, n = candidate, 1
    while chunk_id in used:
        n += 1
        chunk_id = f"{candidate}#{n}"
    used.add(chunk_id)
    return chunk_id


def _signature(node: Node) -> str:
    """The header of a def/class up to its colon, on one line."""
    body = node.child_by_field_name("body")
    raw = node.text[: body.start_byte - node.start_byte] if body is not None and node.text else node.text
    text = (raw or b"").decode("utf-8", errors="replace").rstrip()
    text = text.removesuffix(":")
    return " ".join(text.split()).replace("( ", "(").replace(" )", ")").replace(",)", ")")


def _docstring(body: Node | None) -> str | None:
    if body is None:
        return None
    for child in body.named_children:
        if child.type == "comment":
            continue
        if child.type == "expression_statement" and child.named_child_count == 1:
            first = child.named_children[0]
            if first.type == "string":
                return _string_value(first)
        return None
    return None


def _string_value(node: Node) -> str:
    parts = [node_text(c) for c in node.named_children if c.type == "string_content"]
    return inspect.cleandoc("".join(parts)).strip()
