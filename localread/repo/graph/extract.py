"""Per-file extraction: one tree-sitter query over a parsed file, plain records out.

`extract_file` runs in the worker processes that read a large repository (see
`analysis.read_files`): it returns `FileSymbols`, byte spans and names with no tree
nodes, so the tree can be dropped at once and the result pickled cheaply. The query is
queries/python-symbols.scm; each of its patterns is handled below by its tag (the
prefix of its first capture).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import cache
from importlib import resources

import tree_sitter
from tree_sitter import QueryCursor

from localread.data import Chunk, ChunkKind
from localread.repo.chunks import load_query
from localread.repo.gcpause import gc_paused
from localread.repo.graph.model import (
    AssignRec,
    CallRec,
    ContextRec,
    DecoratorRec,
    FileSymbols,
    ImportRec,
    LoopRec,
    NameRec,
    RaiseRec,
    ReturnRec,
    ScopeRec,
    SelfAttrRec,
    WalrusRec,
    WithRec,
)
from localread.repo.graph.parse import lambda_names
from localread.repo.imports import parse_imports
from localread.repo.scan import SourceFile

# Statements whose body is an outline context, and the word that names it ("" means
# the header as written: `for block in self.blocks`).
_CONTEXT_WORDS = {
    "if": "", "elif": "", "while": "", "withs": "", "for": "",
    "else": "else", "try": "try", "except": "", "finally": "finally",
}
_MAX_HEADER = 100
_NO_SPAN = (-1, -1)


def _header(stmt: tree_sitter.Node, body: tree_sitter.Node, source: bytes) -> str:
    """A compound statement's header on one line, without its `:` (`for block in
    self.blocks`), cut at _MAX_HEADER. It ends at the colon, so that a comment between
    the colon and the body (`if warm:  # by default...`) is no part of it."""
    end = body.start_byte
    for child in stmt.children:
        if child.start_byte >= body.start_byte:
            break
        if child.type == ":":
            end = child.end_byte
    head = " ".join(source[stmt.start_byte:end].decode("utf-8", "replace").split()).rstrip(":").rstrip()
    return head if len(head) <= _MAX_HEADER else head[: _MAX_HEADER - 3] + "..."


def _else_word(clause: tree_sitter.Node, source: bytes) -> str:
    """An `else` with the statement it belongs to, since the outline lists it apart
    from that statement's calls: `else of if fast`, `else of if a ... elif` (the if has
    `elif`s before it), `else of for x in xs`, `else of while ...`, `else of try`."""
    owner = clause.parent
    kind = owner.type if owner is not None else ""
    if kind == "try_statement":
        return "else of try"
    if owner is None or kind not in ("if_statement", "for_statement", "while_statement"):
        return "else"
    body = owner.child_by_field_name("consequence" if kind == "if_statement" else "body")
    if body is None:
        return "else"
    elifs = " ... elif" if any(child.type == "elif_clause" for child in owner.children) else ""
    return f"else of {_header(owner, body, source)}{elifs}"


@cache
def _query_tags() -> tuple[tree_sitter.Query, tuple[str, ...]]:
    """The symbols query and, per pattern index, its tag (first capture's prefix)."""
    query = load_query("python-symbols")
    text = resources.files("localread.queries").joinpath("python-symbols.scm").read_bytes()
    tags = []
    for pattern in range(query.pattern_count):
        body = text[query.start_byte_for_pattern(pattern):query.end_byte_for_pattern(pattern)]
        found = re.search(rb"@([A-Za-z_]+)", body)
        tags.append(found.group(1).decode() if found else "")
    return query, tuple(tags)


def extract_file(
    tree: tree_sitter.Tree, source: bytes, file: SourceFile, chunks: list[Chunk]
) -> FileSymbols:
    """The symbols of one file, read from its tree with one query.

    chunks: the file's chunks from `extract_chunks` on the same tree (module first).
    """
    with gc_paused():  # the many small tuples made here are no garbage cycles
        return _extract(tree, source, file, chunks)


def _extract(tree: tree_sitter.Tree, source: bytes, file: SourceFile, chunks: list[Chunk]) -> FileSymbols:
    query, tags = _query_tags()
    # (name, end line) -> chunks, first line ascending: a class and its last method, or
    # a function and a nested one, may share both (they made one scope its own parent,
    # and the graph builder looped forever); the def line tells them apart below.
    by_key: dict[tuple[str, int], list[Chunk]] = {}
    mains: dict[int, Chunk] = {}
    module_chunk = chunks[0] if chunks else None
    for chunk in chunks:
        if chunk.kind is ChunkKind.MAIN:
            mains[chunk.start] = chunk
        elif chunk.kind is not ChunkKind.MODULE:
            by_key.setdefault((chunk.name, chunk.end), []).append(chunk)
    module_id = module_chunk.id if module_chunk is not None else file.module

    # Records before their scope is known (it is once every definition is): each holds
    # the final record's fields after `scope`, a position in the file first.
    calls_raw: list[tuple] = []  # (func_start, func_end, func_type, args_start, args_end, line)
    assigns_raw: list[tuple] = []  # AssignRec after scope
    loops_raw: list[tuple] = []  # LoopRec after scope
    withs_raw: list[tuple] = []  # WithRec after scope
    walrus_raw: list[tuple] = []  # (name_start, *WalrusRec after scope)
    imports_raw: list[tuple] = []  # (statement start, *ImportRec after scope)
    bound_raw: list[tuple] = []  # (position, name)
    globals_raw: list[tuple] = []  # (position, name)
    decos_raw: list[tuple] = []  # (start, end, line)
    returns_raw: list[tuple] = []  # ReturnRec after scope
    raises_raw: list[tuple] = []  # RaiseRec after scope
    selfs_raw: list[tuple] = []  # (start, name, line)
    intervals: list[tuple] = []  # (body_start, body_end, is_scope, scope index or header)
    defs: list[tuple] = []  # (def_start, body_start, body_end, chunk, kind, name, spans)
    main_bodies: set[tuple[int, int]] = set()

    for pattern, caps in QueryCursor(query).matches(tree.root_node):
        tag = tags[pattern]
        if tag == "call":
            func = caps["call.func"][0]
            args = caps["call.args"][0]
            calls_raw.append(
                (func.start_byte, func.end_byte, func.type, args.start_byte, args.end_byte,
                 func.start_point[0] + 1)
            )
        elif tag == "asg":
            left = caps["asg.left"][0]
            right = caps.get("asg.right")
            ann = caps.get("asg.type")
            r = right[0] if right else None
            while r is not None and r.type == "assignment":
                r = r.child_by_field_name("right")
            assigns_raw.append(
                (left.start_point[0] + 1, left.start_byte, left.end_byte, left.type,
                 r.start_byte if r is not None else -1, r.end_byte if r is not None else -1,
                 ann[0].start_byte if ann else -1, ann[0].end_byte if ann else -1, "=",
                 r.type if r is not None else "")
            )
        elif tag == "self":
            obj = caps["self.obj"][0]
            name = caps["self.attr"][0]
            selfs_raw.append((obj.start_byte, source[name.start_byte:name.end_byte].decode(),
                              obj.start_point[0] + 1))
        elif tag in _CONTEXT_WORDS:
            stmt = caps[tag][0]
            body = caps[f"{tag}.body"][0]
            if tag == "for":
                left = caps["for.left"][0]
                right = caps["for.right"][0]
                loops_raw.append(
                    (left.start_byte, left.end_byte, right.start_byte, right.end_byte, right.type)
                )
            word = _CONTEXT_WORDS[tag]
            if tag == "else":
                word = _else_word(stmt, source)
            elif not word:
                word = _header(stmt, body, source)
            intervals.append((body.start_byte, body.end_byte, False, word))
        elif tag == "def" or tag == "class":
            node = caps[tag][0]
            body = caps[f"{tag}.body"][0]
            name_node = caps[f"{tag}.name"][0]
            name = source[name_node.start_byte:name_node.end_byte].decode("utf-8", "replace")
            same = by_key.get((name, node.end_point[0] + 1), [])
            # The innermost chunk that starts (with its decorators) at or before the def.
            chunk = max((c for c in same if c.start <= node.start_point[0] + 1), key=lambda c: c.start, default=None)
            if chunk is None:
                continue
            if tag == "def":
                params = caps["def.params"][0]
                ret = caps.get("def.returns")
                spans = ((params.start_byte, params.end_byte),
                         (ret[0].start_byte, ret[0].end_byte) if ret else _NO_SPAN, _NO_SPAN)
                kind = "function"
            else:
                bases = caps.get("class.bases")
                spans = (_NO_SPAN, _NO_SPAN, (bases[0].start_byte, bases[0].end_byte) if bases else _NO_SPAN)
                kind = "class"
            defs.append((node.start_byte, body.start_byte, body.end_byte, chunk, kind, name, spans))
        elif tag == "main":
            cond = caps["main.cond"][0]
            text = source[cond.start_byte:cond.end_byte]
            if b"__name__" not in text or b"__main__" not in text:
                continue
            stmt = caps["main"][0]
            chunk = mains.get(stmt.start_point[0] + 1)
            if chunk is None:
                continue
            body = caps["main.body"][0]
            main_bodies.add((body.start_byte, body.end_byte))
            defs.append((stmt.start_byte, body.start_byte, body.end_byte, chunk, "main", "__main__",
                         (_NO_SPAN, _NO_SPAN, _NO_SPAN)))
        elif tag == "import":
            stmt = caps["import"][0]
            items = parse_imports(
                source[stmt.start_byte:stmt.end_byte].decode("utf-8", "replace"), stmt.start_point[0] + 1
            )
            if items:
                imports_raw.append((stmt.start_byte, stmt.start_point[0] + 1, tuple(items)))
        elif tag == "aug":
            left = caps["aug.left"][0]
            right = caps["aug.right"][0]
            op = caps["aug.op"][0]
            assigns_raw.append(
                (left.start_point[0] + 1, left.start_byte, left.end_byte, left.type, right.start_byte,
                 right.end_byte, -1, -1, source[op.start_byte:op.end_byte].decode(), right.type)
            )
        elif tag == "comp":
            left = caps["comp.left"][0]
            right = caps["comp.right"][0]
            loops_raw.append((left.start_byte, left.end_byte, right.start_byte, right.end_byte, right.type))
        elif tag == "return":
            value = caps["return.value"][0]
            returns_raw.append((value.start_byte, value.end_byte, value.type))
        elif tag == "raise":
            value = caps["raise.value"][0]
            raises_raw.append((value.start_byte, value.end_byte))
        elif tag == "decorator":
            expr = caps["decorator"][0]
            decos_raw.append((expr.start_byte, expr.end_byte, expr.start_point[0] + 1))
        elif tag == "with":
            value = caps["with.value"][0]
            alias = caps["with.alias"][0]
            withs_raw.append((alias.start_byte, alias.end_byte, value.start_byte, value.end_byte, value.type))
        elif tag == "walrus":
            name = caps["walrus.name"][0]
            value = caps["walrus.value"][0]
            walrus_raw.append(
                (name.start_byte, source[name.start_byte:name.end_byte].decode(), value.start_byte,
                 value.end_byte, value.type)
            )
        elif tag == "global":
            name = caps["global"][0]
            globals_raw.append((name.start_byte, source[name.start_byte:name.end_byte].decode()))
        elif tag == "lambda":
            params = caps["lambda.params"][0]
            for name in lambda_names(source[params.start_byte:params.end_byte]):
                bound_raw.append((params.start_byte, name))
            # `lambda x, eo=obj: eo.embed(x)`: a default binds its parameter to a value
            # (as a walrus would: the lambda is no scope of its own).
            for param in params.named_children:
                if param.type in ("default_parameter", "typed_default_parameter"):
                    pname, value = param.child_by_field_name("name"), param.child_by_field_name("value")
                    if pname is not None and value is not None and pname.type == "identifier":
                        walrus_raw.append((pname.start_byte, source[pname.start_byte:pname.end_byte].decode(),
                                           value.start_byte, value.end_byte, value.type))
        elif tag == "excalias":
            alias = caps["excalias"][0]
            bound_raw.append((alias.start_byte, source[alias.start_byte:alias.end_byte].decode().strip()))

    # Scopes: the module, then defs and main blocks in source order.
    defs.sort(key=lambda d: d[0])
    scopes: list[ScopeRec] = [
        ScopeRec(module_id, "module", -1, module_id.rsplit(".", 1)[-1], 1,
                 module_chunk.end if module_chunk else 1, _NO_SPAN, _NO_SPAN, _NO_SPAN)
    ]
    for _def_start, body_start, body_end, chunk, kind, name, spans in defs:
        intervals.append((body_start, body_end, True, len(scopes)))
        scopes.append(ScopeRec(chunk.id, kind, -1, name, chunk.start, chunk.end, *spans))
    # The main guard's if-statement is a scope, not an outline context.
    intervals = [iv for iv in intervals if iv[2] or (iv[0], iv[1]) not in main_bodies]
    locate = _Locator(intervals)
    for i, (def_start, *_rest) in enumerate(defs, start=1):
        scopes[i] = scopes[i]._replace(parent=locate.scope(def_start))

    scope_of = locate.scope
    where = locate.where
    # Records are made with tuple.__new__: a NamedTuple's own __new__ is a Python
    # function, several times the cost, and this runs for every record of every file.
    new = tuple.__new__
    calls = []
    for func_start, func_end, func_type, args_start, args_end, line in calls_raw:
        scope, ctx = where(func_start)
        calls.append(new(CallRec, (scope, line, func_start, func_end, func_type, args_start, args_end, ctx)))
    # A decorator applies to the first definition that starts after it.
    def_starts = [d[0] for d in defs]
    decorators = []
    for start, end, line in decos_raw:
        following = bisect_left(def_starts, end)
        decorated = following + 1 if following < len(defs) else -1
        decorators.append(new(DecoratorRec, (scope_of(start), line, start, end, decorated)))
    self_attrs = []
    for start, name, line in selfs_raw:
        scope, ctx = where(start)
        self_attrs.append(new(SelfAttrRec, (scope, ctx, name, start, line)))
    # In the raw records below, r[0] or r[1] is the position that locates the scope.
    return FileSymbols(
        path=file.path,
        module=module_id,
        source=source,
        scopes=scopes,
        calls=calls,
        assigns=[new(AssignRec, (scope_of(r[1]), *r)) for r in assigns_raw],
        loops=[new(LoopRec, (scope_of(r[0]), *r)) for r in loops_raw],
        withs=[new(WithRec, (scope_of(r[0]), *r)) for r in withs_raw],
        walrus=[new(WalrusRec, (scope_of(r[0]), *r[1:])) for r in walrus_raw],
        imports=[new(ImportRec, (scope_of(r[0]), *r[1:])) for r in imports_raw],
        bound=[new(NameRec, (scope_of(r[0]), r[1])) for r in bound_raw],
        globals=[new(NameRec, (scope_of(r[0]), r[1])) for r in globals_raw],
        decorators=decorators,
        returns=[new(ReturnRec, (scope_of(r[0]), *r)) for r in returns_raw],
        raises=[new(RaiseRec, (scope_of(r[0]), *r)) for r in raises_raw],
        self_attrs=self_attrs,
        contexts=locate.contexts,
    )


class _Locator:
    """Innermost scope and outline context of a byte offset.

    Intervals (body spans of scopes and of loops/branches) nest; they are flattened
    into breakpoints so that a lookup is one bisect.
    """

    def __init__(self, intervals: list[tuple]) -> None:
        intervals.sort(key=lambda iv: (iv[0], -iv[1], not iv[2]))
        self.contexts: list[ContextRec] = []
        positions: list[int] = [0]
        scopes: list[int] = [0]
        ctxs: list[int] = [-1]
        # Stack entries: (end, scope index, context index) in force inside the interval.
        stack: list[tuple[int, int, int]] = [(1 << 62, 0, -1)]
        for start, end, is_scope, payload in intervals:
            while stack[-1][0] <= start:
                popped_end = stack.pop()[0]
                positions.append(popped_end)
                scopes.append(stack[-1][1])
                ctxs.append(stack[-1][2])
            _, outer_scope, outer_ctx = stack[-1]
            if is_scope:
                entry = (end, payload, -1)
            else:
                self.contexts.append(tuple.__new__(ContextRec, (payload, outer_ctx)))
                entry = (end, outer_scope, len(self.contexts) - 1)
            stack.append(entry)
            positions.append(start)
            scopes.append(entry[1])
            ctxs.append(entry[2])
        while len(stack) > 1:
            popped_end = stack.pop()[0]
            positions.append(popped_end)
            scopes.append(stack[-1][1])
            ctxs.append(stack[-1][2])
        self._positions = positions
        self._scopes = scopes
        self._ctxs = ctxs

    def scope(self, pos: int) -> int:
        return self._scopes[bisect_right(self._positions, pos) - 1]

    def where(self, pos: int) -> tuple[int, int]:
        """(scope index, context index) at pos."""
        i = bisect_right(self._positions, pos) - 1
        return self._scopes[i], self._ctxs[i]
