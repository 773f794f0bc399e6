"""The symbol graph: who imports, calls, builds, references, inherits and overrides whom.

Two functions, called by `analysis.analyze`:

- `extract_file(tree, source, file, chunks)` reads one parsed file with a single
  tree-sitter query (queries/python-symbols.scm) and returns `FileSymbols`: plain data
  (byte spans into the source, names, node types, small tuples), no tree nodes, so the
  tree can be dropped at once.
- `build_graph(scan, chunks, symbols)` resolves names across the repository and
  returns a `Graph`: edges, every call site with its resolved targets, the calls into
  the repository it could not resolve, the names each module imports, and per-chunk
  facts (`ChunkFacts`).

Resolution is static and never a guess: what cannot be resolved is left unresolved
and counted. A light type inference runs as a worklist fixed point over plain data:
a variable's types are the union of the types of every value bound to it
(assignments, loop targets, `with ... as`, parameters' annotations and defaults,
arguments passed at repo call sites, `return` values), so a name bound in several
branches has the union of their types. Expressions are read lazily: names, dotted
names and calls straight from the source spans (a call's value comes from its call
site), anything else through Python's `ast` on the span's text, only when a type is
asked for.

Phases: (0) base classes and MROs (C3); (1) every call site, without argument flows;
(2) flows into the parameters of the functions that phase 1 found few callers for
(`_MAX_CALLERS`): a utility called from everywhere keeps its declared types only.

Types are tuples of ints ("atoms", names interned in `_Builder.strs`), so that sets of
them iterate in the same order in every process and the result never depends on the
per-process str hash seed. Kinds: M repo module, C repo class, I instance of a repo
class, W a repo nn.Module wrapped by DataParallel/DDP/FSDP (`.module` unwraps), F repo
function or method (with how many leading parameters are bound and the receiver
class), X external object by dotted name (`torch.nn.functional.relu`), XR what calling
an external returned, XB an external method bound to a repo value (`model.to`), SEQ
and DICT containers with their element types and origin (`torch.nn.ModuleList`), TUP a
tuple of known length, NS a module namespace (`mod.__dict__`), SUP `super()`, CM a
container's method, MISS a name missing from a repo module, FX one of too many
functions passed through a callback parameter. Unions of external names widen to one
unknown, so that loops such as `while ...: f = f.__wrapped__` reach a fixed point.
"""

from __future__ import annotations

import ast
import builtins
import gc
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from posixpath import dirname
from typing import NamedTuple

import tree_sitter
from tree_sitter import QueryCursor

from localread.data import Chunk, ChunkKind, Edge, EdgeKind
from localread.repo.chunks import load_query
from localread.repo.imports import ImportItem, ModuleIndex, ModuleRef, parse_imports
from localread.repo.scan import Scan, SourceFile

# --------------------------------------------------------------------------------------
# Public values
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallSite:
    """One call, with what it resolves to.

    caller: id of the innermost chunk whose code makes the call (the module chunk for
    top-level code, `<module>.__main__` for the main block). text: the callee
    expression as written, whitespace collapsed. targets: repo chunk ids, sorted (a
    class for an instantiation; `forward` when an nn.Module instance is called; several
    when the callee has a union of types). kind: INSTANTIATES when every target is a
    class, else CALLS. context: the loops and branches the call sits in within its
    chunk, outermost first, joined by "; " (`for block in self.blocks; if block.use`),
    "" at the top of the body. external: the dotted name when the callee lies outside
    the repository (`torch.nn.functional.relu`, `builtins.print`), else None.

    A site with no targets and no external is not resolved; it is counted in
    `Graph.unresolved` only when it looks like a call into the repository.
    """

    caller: str
    line: int
    text: str
    targets: tuple[str, ...]
    kind: EdgeKind
    context: str
    external: str | None


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter as written. kind: "positional_only", "positional", "var_positional",
    "keyword_only" or "var_keyword"."""

    name: str
    annotation: str | None
    default: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class ChunkFacts:
    """What the facts card shows about a chunk, all from its own code.

    params: the function's parameters (a class: its constructor's, without self/cls;
    a dataclass without `__init__`: its annotated fields). returns: the return
    annotation. returned: expressions after `return`, as written, in source order.
    raises: the exceptions raised (`raise X(...)` -> "X"), in source order. reads /
    writes: attributes of `self` read / assigned, in source order (a name assigned and
    read again is in both). constructed_by: for a class,
    the chunk ids that instantiate it, sorted. Lists hold each item once.
    """

    id: str
    params: tuple[Param, ...] = ()
    returns: str | None = None
    returned: tuple[str, ...] = ()
    raises: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    constructed_by: tuple[str, ...] = ()


class FileSymbols(NamedTuple):
    """What `extract_file` keeps of one file: plain data, byte spans into `source`.

    Record layouts (all ints are byte offsets unless named otherwise; -1 = absent;
    `scope` indexes `scopes`, whose entry 0 is the module):

    calls:      (scope, line, func_start, func_end, func_type, args_start, args_end, ctx)
    assigns:    (scope, line, left_start, left_end, left_type, right_start, right_end,
                 type_start, type_end, op, right_type)   op: "=" or the augmented operator
    loops:      (scope, left_start, left_end, right_start, right_end, right_type)
                for statements and comprehension clauses
    withs:      (scope, alias_start, alias_end, value_start, value_end, value_type)
    walrus:     (scope, name, value_start, value_end, value_type)
    imports:    (scope, line, items)
    bound:      (scope, name)     names bound without a value (lambda, except ... as)
    globals:    (scope, name)
    decorators: (scope, line, start, end, decorated_scope)
    returns:    (scope, start, end, type)
    raises:     (scope, start, end)
    self_attrs: (scope, ctx, name, start, line)    `self.name` read or written
    contexts:   (header, parent context or -1)
    """

    path: str
    module: str
    source: bytes
    scopes: list[ScopeRec]
    calls: list[tuple]
    assigns: list[tuple]
    loops: list[tuple]
    withs: list[tuple]
    walrus: list[tuple]
    imports: list[tuple]
    bound: list[tuple]
    globals: list[tuple]
    decorators: list[tuple]
    returns: list[tuple]
    raises: list[tuple]
    self_attrs: list[tuple]
    contexts: list[tuple]


class ScopeRec(NamedTuple):
    """A chunk of the file as a name scope. kind: module/class/function/main (the main
    block resolves names in the module). Spans are byte offsets, -1 when absent."""

    chunk: str
    kind: str
    parent: int
    name: str
    start_line: int
    end_line: int
    params: tuple[int, int]
    returns: tuple[int, int]
    bases: tuple[int, int]


@dataclass
class Graph:
    """The repository's symbol graph.

    edges: deduplicated, sorted by (source, line, target, kind). calls: the call sites
    of each caller id, in source order. unresolved: the sites that look like calls into
    the repository (rooted in a repo module or class instance, in `self`, or a bare
    name defined nowhere) but resolve to nothing, in (path, line) order. imports: for
    each module id, the dotted names its file imports, absolute (relative imports
    resolved), sorted. import_names: for each module id, {local name: dotted name} of
    its module-level imports. facts: ChunkFacts by chunk id, computed on first access.
    """

    chunks: dict[str, Chunk]
    edges: list[Edge]
    calls: dict[str, list[CallSite]]
    unresolved: list[CallSite]
    imports: dict[str, list[str]] = field(default_factory=dict)
    import_names: dict[str, dict[str, str]] = field(default_factory=dict)
    facts: Mapping[str, ChunkFacts] = field(default_factory=dict)
    _by_source: dict[str, list[Edge]] = field(default_factory=dict, repr=False)
    _by_target: dict[str, list[Edge]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for edge in self.edges:
            self._by_source.setdefault(edge.source, []).append(edge)
            self._by_target.setdefault(edge.target, []).append(edge)

    def callers(self, chunk_id: str) -> list[Edge]:
        """Edges into chunk_id (any kind), sorted by (source, line)."""
        return sorted(self._by_target.get(chunk_id, []), key=lambda e: (e.source, e.line, e.kind))

    def callees(self, chunk_id: str) -> list[Edge]:
        """Edges out of chunk_id (any kind), in (line, target) order."""
        return list(self._by_source.get(chunk_id, []))


# --------------------------------------------------------------------------------------
# Extraction: one query per file, plain data out
# --------------------------------------------------------------------------------------


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


_CONTEXT_WORDS = {
    "if": "", "elif": "", "while": "", "withs": "", "for": "",
    "else": "else", "try": "try", "except": "", "finally": "finally",
}
_MAX_HEADER = 100


def extract_file(
    tree: tree_sitter.Tree, source: bytes, file: SourceFile, chunks: list[Chunk]
) -> FileSymbols:
    """The symbols of one file, read from its tree with one query.

    chunks: the file's chunks from `extract_chunks` on the same tree (module first).
    """
    enabled = gc.isenabled()
    gc.disable()  # the many small tuples made here are no garbage cycles (see build_graph)
    try:
        return _extract(tree, source, file, chunks)
    finally:
        if enabled:
            gc.enable()


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

    calls_raw: list[tuple] = []
    assigns_raw: list[tuple] = []
    loops_raw: list[tuple] = []
    withs_raw: list[tuple] = []
    walrus_raw: list[tuple] = []
    imports_raw: list[tuple] = []
    bound_raw: list[tuple] = []
    globals_raw: list[tuple] = []
    decos_raw: list[tuple] = []
    returns_raw: list[tuple] = []
    raises_raw: list[tuple] = []
    selfs_raw: list[tuple] = []
    # (body_start, body_end, is_scope, payload)
    intervals: list[tuple] = []
    defs: list[tuple] = []  # (def_start, body_start, body_end, ScopeRec fields...)
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
                (left.start_byte, left.end_byte, left.type,
                 r.start_byte if r is not None else -1, r.end_byte if r is not None else -1,
                 ann[0].start_byte if ann else -1, ann[0].end_byte if ann else -1, "=",
                 left.start_point[0] + 1, r.type if r is not None else "")
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
            if not word:
                head = source[stmt.start_byte:body.start_byte].decode("utf-8", "replace")
                word = " ".join(head.split()).rstrip(":").rstrip()
                if len(word) > _MAX_HEADER:
                    word = word[: _MAX_HEADER - 3] + "..."
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
                         (ret[0].start_byte, ret[0].end_byte) if ret else (-1, -1), (-1, -1))
                kind = "function"
            else:
                bases = caps.get("class.bases")
                spans = ((-1, -1), (-1, -1),
                         (bases[0].start_byte, bases[0].end_byte) if bases else (-1, -1))
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
                         ((-1, -1), (-1, -1), (-1, -1))))
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
                (left.start_byte, left.end_byte, left.type, right.start_byte, right.end_byte, -1, -1,
                 source[op.start_byte:op.end_byte].decode(), left.start_point[0] + 1, right.type)
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
            for name in _lambda_names(source[params.start_byte:params.end_byte]):
                bound_raw.append((params.start_byte, name))
        elif tag == "excalias":
            alias = caps["excalias"][0]
            bound_raw.append((alias.start_byte, source[alias.start_byte:alias.end_byte].decode().strip()))

    # Scopes: the module, then defs and main blocks in source order.
    defs.sort(key=lambda d: d[0])
    scopes: list[ScopeRec] = [
        ScopeRec(module_id, "module", -1, module_id.rsplit(".", 1)[-1], 1,
                 module_chunk.end if module_chunk else 1, (-1, -1), (-1, -1), (-1, -1))
    ]
    for def_start, body_start, body_end, chunk, kind, name, spans in defs:
        intervals.append((body_start, body_end, True, len(scopes)))
        scopes.append(ScopeRec(chunk.id, kind, -1, name, chunk.start, chunk.end, *spans))
    # The main guard's if-statement is a scope, not an outline context.
    intervals = [iv for iv in intervals if iv[2] or (iv[0], iv[1]) not in main_bodies]
    locate = _Locator(intervals)
    contexts = locate.contexts
    for i, (def_start, *_rest) in enumerate(defs, start=1):
        rec = scopes[i]
        scopes[i] = rec._replace(parent=locate.scope(def_start))

    scope_of = locate.scope
    where = locate.where
    calls = []
    for fs, fe, ftype, a_s, a_e, line in calls_raw:
        scope, ctx = where(fs)
        calls.append((scope, line, fs, fe, ftype, a_s, a_e, ctx))
    assigns = [(scope_of(r[0]), r[8], *r[:8], r[9]) for r in assigns_raw]
    # A decorator applies to the first definition that starts after it.
    def_starts = [d[0] for d in defs]
    decorators = []
    for start, end, line in decos_raw:
        nxt = bisect_left(def_starts, end)
        decorated = nxt + 1 if nxt < len(defs) else -1
        decorators.append((scope_of(start), line, start, end, decorated))
    return FileSymbols(
        path=file.path,
        module=module_id,
        source=source,
        scopes=scopes,
        calls=calls,
        assigns=assigns,
        loops=[(scope_of(r[0]), *r) for r in loops_raw],
        withs=[(scope_of(r[0]), *r) for r in withs_raw],
        walrus=[(scope_of(r[0]), *r[1:]) for r in walrus_raw],
        imports=[(scope_of(r[0]), r[1], r[2]) for r in imports_raw],
        bound=[(scope_of(r[0]), r[1]) for r in bound_raw],
        globals=[(scope_of(r[0]), r[1]) for r in globals_raw],
        decorators=decorators,
        returns=[(scope_of(r[0]), *r) for r in returns_raw],
        raises=[(scope_of(r[0]), *r) for r in raises_raw],
        self_attrs=[(*where(r[0]), r[1], r[0], r[2]) for r in selfs_raw],
        contexts=contexts,
    )


class _Locator:
    """Innermost scope and outline context of a byte offset.

    Intervals (body spans of scopes and of loops/branches) nest; they are flattened
    into breakpoints so that a lookup is one bisect.
    """

    def __init__(self, intervals: list[tuple]) -> None:
        intervals.sort(key=lambda iv: (iv[0], -iv[1], not iv[2]))
        self.contexts: list[tuple[str, int]] = []
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
                self.contexts.append((payload, outer_ctx))
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
        i = bisect_right(self._positions, pos) - 1
        return self._scopes[i], self._ctxs[i]


def _lambda_names(text: bytes) -> list[str]:
    try:
        node = ast.parse(f"lambda {text.decode('utf-8', 'replace')}: 0", mode="eval").body
    except (SyntaxError, ValueError):
        return []
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return names


# --------------------------------------------------------------------------------------
# Build: names, types, call targets
# --------------------------------------------------------------------------------------

# Atom kinds. Atoms are tuples of ints (names interned), so that sets of atoms iterate
# in the same order in every run (str hashes are randomized per process) and the
# worklist visits keys in the same order: results are the same run after run.
M, C, I, W, F, X, XR, XB, SEQ, DICT, TUP, NS, SUP, CM, MISS, FX = range(16)
_REPO_KINDS = frozenset({M, C, I, W, F, NS, SUP, MISS, FX})
_OUTSIDE_KINDS = frozenset({X, XR, MISS, CM})
_CALLABLE_KINDS = frozenset({C, F, I, W, SEQ})

EMPTY: frozenset = frozenset()
_BUILTINS = frozenset(dir(builtins))
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_DOTTED_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_SELF_ATTR = re.compile(r"([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)\Z")
# An element of an unpacking target that is exactly `self.name`.
_SELF_TARGET = re.compile(rb"(?<![\w.])self\s*\.\s*([A-Za-z_]\w*)(?=\s*(?:[,)\]=]|\Z))")
_UNPACKED = ("pattern_list", "tuple_pattern", "list_pattern")
_MUTATORS = {
    # method -> (argument index, ops): how `x.method(...)` adds to what x holds
    "append": (0, (("wrap", SEQ),)),
    "add": (0, (("wrap", SEQ),)),
    "extend": (0, (("iter",), ("wrap", SEQ))),
    "insert": (1, (("wrap", SEQ),)),
    "update": (0, (("values",), ("wrap", DICT))),
    "setdefault": (1, (("wrap", DICT),)),
}
_MAX_DEPTH = 50  # nested on-demand evaluations before deferring to the worklist
_MAX_NEST = 3  # containers of containers deeper than this are dropped
_MAX_OUTSIDE = 8  # more external/missing names than this in one value widen to "unknown"
_MAX_DOTS = 8  # longer external dotted names widen to "unknown"
# A function called from more call sites than this is a library-style utility: its
# parameters keep their declared types only (the union of every caller's arguments
# would resolve its calls to everything, and cost the most to compute).
_MAX_CALLERS = 6
# A parameter that receives more functions than this is a generic callback slot.
_MAX_FLOW_FUNCS = 64
_UNKNOWN_CALLABLE = (FX,)

# Methods an nn.Module inherits that return the module itself (wrappers keep the type).
_SELF_RETURNING = frozenset({
    "to", "cuda", "cpu", "eval", "train", "half", "float", "double", "bfloat16",
    "requires_grad_", "share_memory", "apply", "type", "xpu", "to_empty",
})
# External bases that make a class an nn.Module (calling an instance runs forward).
_MODULE_BASES = frozenset({
    "torch.nn.Module", "torch.nn.modules.module.Module",
    "pytorch_lightning.LightningModule", "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule", "lightning.LightningModule",
    "lightning.pytorch.LightningModule", "lightning.pytorch.core.LightningModule",
    "transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel",
    "diffusers.ModelMixin", "diffusers.models.modeling_utils.ModelMixin",
})
# Wrappers whose `.module` is what they wrap.
_DP_WRAPPERS = frozenset({
    "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
    "torch.nn.parallel.data_parallel.DataParallel",
    "torch.distributed.fsdp.FullyShardedDataParallel", "apex.parallel.DistributedDataParallel",
})
# Calls that return (something that behaves as) their first argument.
_IDENTITY = frozenset({
    "torch.compile", "torch.jit.script", "torch.jit.trace", "copy.deepcopy", "copy.copy",
    "torch.nn.SyncBatchNorm.convert_sync_batchnorm", "torch.nn.utils.spectral_norm",
    "torch.nn.utils.weight_norm", "torch.nn.utils.parametrizations.spectral_norm",
    "torch.nn.utils.parametrizations.weight_norm", "functools.partial", "builtins.staticmethod",
    "builtins.classmethod", "functools.lru_cache", "functools.cache", "typing.cast",
})
_MODULE_LIST = frozenset({"torch.nn.ModuleList", "torch.nn.modules.container.ModuleList"})
_SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})
_SEQ_BUILTINS = frozenset({
    "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset", "builtins.sorted",
    "builtins.reversed", "builtins.iter", "collections.deque",
})
_DICT_BUILTINS = frozenset({
    "builtins.dict", "collections.OrderedDict", "collections.defaultdict", "torch.nn.ModuleDict",
    "torch.nn.modules.container.ModuleDict",
})
# External callables whose result depends on their arguments (see _external_call).
_NEEDS_ARGS = (
    _IDENTITY | _DP_WRAPPERS | _MODULE_LIST | _SEQUENTIAL | _SEQ_BUILTINS | _DICT_BUILTINS
    | frozenset({
        "builtins.enumerate", "builtins.zip", "builtins.next", "builtins.getattr", "builtins.super",
        "builtins.type", "builtins.vars", "builtins.globals", "importlib.import_module",
    })
)
_TYPING_MODULES = ("typing.", "typing_extensions.", "builtins.", "collections.abc.", "collections.")
_ANN_SEQ = frozenset({
    "List", "Sequence", "Iterable", "Iterator", "Set", "FrozenSet", "Collection", "MutableSequence",
    "list", "set", "frozenset", "Deque", "deque", "Generator", "MutableSet", "AbstractSet",
})
_ANN_DICT = frozenset({
    "Dict", "Mapping", "MutableMapping", "dict", "OrderedDict", "DefaultDict", "defaultdict",
})
_ANN_SAME = frozenset({"Annotated", "ClassVar", "Final", "Required", "NotRequired", "ReadOnly"})
_CONTAINER_METHODS = frozenset({
    "get", "pop", "setdefault", "values", "items", "keys", "copy", "append", "extend", "insert",
    "add", "update", "remove", "clear", "index", "count", "sort", "reverse", "popitem", "discard",
})
# Node types whose value has no type the resolver uses (numbers, arithmetic, tests).
_NO_VALUE_TYPES = frozenset({
    "integer", "float", "true", "false", "none", "binary_operator", "comparison_operator",
    "not_operator", "unary_operator", "lambda", "ellipsis",
})
_PROPERTY_DECORATORS = ("property", "cached_property")
_MISSING = object()
_NOT_SCANNED = _NO_VALUE_TYPES | {"call", "string", "concatenated_string"}


def _norm(atoms: frozenset, unknown_external: tuple, unknown_missing: tuple) -> frozenset:
    """Merge containers of one kind and origin, and widen many external (or missing)
    names into one unknown, so that unions stay small and loops like
    `while ...: f = f.__wrapped__` reach a fixed point."""
    if len(atoms) < 2:
        return atoms
    containers = 0
    outside = 0
    for a in atoms:
        kind = a[0]
        if kind == SEQ or kind == DICT or kind == TUP:
            containers += 1
        elif kind in _OUTSIDE_KINDS:
            outside += 1
    # Once widened, a value stays widened: the unknown absorbs every later name.
    if outside > _MAX_OUTSIDE or (outside > 1 and (unknown_external in atoms or unknown_missing in atoms)):
        widened = {a for a in atoms if a[0] not in _OUTSIDE_KINDS}
        if any(a[0] != MISS and a[0] in _OUTSIDE_KINDS for a in atoms):
            widened.add(unknown_external)
        if any(a[0] == MISS for a in atoms):
            widened.add(unknown_missing)
        atoms = frozenset(widened)
    if containers < 2:
        return atoms
    merged: dict[tuple[int, int], frozenset] = {}
    tups: dict[int, list[frozenset]] = {}
    for a in atoms:
        kind = a[0]
        if kind == TUP:
            n = len(a[1])
            if n in tups:
                tups[n] = [x | y for x, y in zip(tups[n], a[1])]
            else:
                tups[n] = list(a[1])
        elif kind == SEQ or kind == DICT:
            key = (kind, a[1])
            merged[key] = merged.get(key, EMPTY) | a[2]
    # Elements added by mutation (origin 0) join whatever concrete container holds them.
    for kind in (SEQ, DICT):
        star = merged.get((kind, 0))
        others = [k for k in merged if k[0] == kind and k[1] != 0]
        if star is not None and others:
            del merged[(kind, 0)]
            for k in others:
                merged[k] = merged[k] | star
    out = {a for a in atoms if a[0] != SEQ and a[0] != DICT and a[0] != TUP}
    out.update((k[0], k[1], _norm(v, unknown_external, unknown_missing)) for k, v in merged.items())
    out.update((TUP, tuple(_norm(x, unknown_external, unknown_missing) for x in v)) for v in tups.values())
    return frozenset(out)


def _depth(atom: tuple) -> int:
    kind = atom[0]
    if kind == CM:
        return _depth(atom[1])
    if kind == SEQ or kind == DICT:
        return 1 + max((_depth(a) for a in atom[2]), default=0)
    if kind == TUP:
        return 1 + max((_depth(a) for elems in atom[1] for a in elems), default=0)
    return 0


def _shallow(elems: frozenset) -> frozenset:
    return frozenset(a for a in elems if _depth(a) < _MAX_NEST)


def _elems(atoms: frozenset) -> frozenset:
    """What iterating over a value gives."""
    out: set = set()
    for a in atoms:
        if a[0] == SEQ:
            out.update(a[2])
        elif a[0] == TUP:
            for elems in a[1]:
                out.update(elems)
    return frozenset(out)


def _values(atoms: frozenset) -> frozenset:
    """The values of a mapping (or of a list of (key, value) pairs)."""
    out: set = set()
    for a in atoms:
        if a[0] == DICT:
            out.update(a[2])
        elif a[0] == SEQ:
            for pair in a[2]:
                if pair[0] == TUP and len(pair[1]) == 2:
                    out.update(pair[1][1])
    return frozenset(out)


class _Scope:
    """A name scope during the build (a chunk: module, class, function, main block)."""

    __slots__ = (
        "all_nodes",
        "chain",
        "classmethod",
        "cls",
        "decorators",
        "file",
        "globals",
        "id",
        "kind",
        "module",
        "n",
        "names",
        "param_names",
        "params",
        "parent",
        "property",
        "rec",
        "stars",
        "static",
    )

    def __init__(self, sid: str, n: int, kind: str, file: int, module: str, rec: ScopeRec,
                 decorators: tuple[str, ...]) -> None:
        self.id = sid
        self.n = n
        self.kind = kind
        self.file = file
        self.module = module
        self.parent: str | None = None
        self.rec = rec
        self.names: dict[str, None] = {}
        self.globals: set[str] = set()
        self.chain: tuple[str, ...] = ()
        self.cls: str | None = None  # the class of a method
        self.params: list[tuple[_P, ast.arg | None, ast.expr | None]] | None = None
        self.param_names: frozenset[str] = frozenset()
        self.decorators = decorators
        short = {d.split("(")[0].rsplit(".", 1)[-1] for d in decorators}
        self.static = "staticmethod" in short
        self.classmethod = "classmethod" in short
        self.property = any(p in short for p in _PROPERTY_DECORATORS)
        self.stars: list[ImportItem] = []
        self.all_nodes: list[tuple[int, int, int]] = []  # __all__ assignments (module)


class _P(NamedTuple):
    """A parameter's name and kind (what resolution needs of it)."""

    name: str
    kind: str


class _Site(NamedTuple):
    file: int
    scope: str  # the scope whose names the callee uses
    caller: str  # the chunk that makes the call
    line: int
    pos: int
    text: str
    func_type: str
    func_span: tuple[int, int]
    args_span: tuple[int, int]  # (-1, -1) for a decorator application
    const_args: frozenset  # decorator application: the decorated function or class
    context: str
    decorator: bool


class _Builder:
    """Holds the repository's tables and solves types to a fixed point."""

    def __init__(self, scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols]) -> None:
        self.chunks = chunks
        self.files: list[FileSymbols] = [symbols[p] for p in sorted(symbols)]
        self.index = ModuleIndex([f.path for f in self.files], scan.layout.src_layout, scan.root.name)
        self.strs: list[str] = [""]
        self.str_ids: dict[str, int] = {"": 0}
        self.unknown_external = (X, self.intern("?"))
        self.unknown_missing = (MISS, self.intern("?"))
        self.str_atom = frozenset(((XR, self.intern("builtins.str")),))
        self.scopes: dict[str, _Scope] = {}
        self.by_n: dict[int, _Scope] = {}
        self.file_scopes: list[list[str]] = []  # per file: scope index -> scope id
        self.module_of_path: dict[str, str] = {}
        self.sources: dict[tuple, list[tuple]] = {}
        self.values: dict[tuple, frozenset] = {}
        self.readers: dict[tuple, dict[tuple, None]] = {}
        self.active: set[tuple] = set()
        self.reader: tuple | None = None
        self.depth = 0
        self.queue: deque[tuple] = deque()
        self.queued: set[tuple] = set()
        self.sites: list[_Site] = []
        self.site_keys: list[tuple] = []  # per site: its solver key, shared by equal callees
        self.key_sites: dict[tuple, list[int]] = {}
        self.call_at: dict[tuple[int, int, int], int] = {}  # (file, call start, call end) -> site
        self.incoming: dict[str, dict[tuple[int, int], None]] = {}
        self.flowed: dict[int, set[tuple[str, int]]] = {}
        self.flows_on = False
        self.flow_enabled: set[str] = set()
        self.param_reads: dict[tuple, None] = {}
        self.active_params: dict[str, dict[tuple, tuple[int, str, str]]] = {}
        self.flow_acc: dict[tuple, frozenset] = {}
        self.exprs: dict[tuple[int, int, int], ast.expr | None] = {}
        self.lookups: dict[tuple[str, str], object] = {}
        self.stars_memo: dict[tuple[str, str], object] = {}
        self.star_targets: dict[str, list[tuple[str | None, str]]] = {}
        self.owners: dict[tuple[str, str, bool], str | None] = {}
        self.xattrs: dict[tuple[int, str], int] = {}
        self.mro: dict[str, tuple[str, ...]] = {}
        self.repo_mro: dict[str, tuple[str, ...]] = {}
        self.module_like: dict[str, bool] = {}
        self.bases: dict[str, list[frozenset]] = {}
        self.exports_memo: dict[str, frozenset[str]] = {}
        self.def_names: set[str] = set()
        self.method_names: set[str] = set()
        self.write_spans: set[tuple[int, int]] = set()

    def intern(self, text: str) -> int:
        n = self.str_ids.get(text)
        if n is None:
            n = len(self.strs)
            self.strs.append(text)
            self.str_ids[text] = n
        return n

    def _x(self, dotted: str) -> tuple:
        return (X, self.intern(dotted))

    def _norm(self, atoms: frozenset) -> frozenset:
        return _norm(atoms, self.unknown_external, self.unknown_missing)

    # ---- setup ------------------------------------------------------------------

    def setup(self) -> None:
        final: dict[tuple[str, str, str, int, int], str] = {}
        for chunk in self.chunks.values():
            final[(chunk.path, chunk.kind.value, chunk.name, chunk.start, chunk.end)] = chunk.id
        for fi, fs in enumerate(self.files):
            ids: list[str] = []
            for si, rec in enumerate(fs.scopes):
                if si == 0:
                    sid = final.get((fs.path, "module", rec.name, rec.start_line, rec.end_line))
                    if sid is None:
                        sid = next((c.id for c in self.chunks.values()
                                    if c.path == fs.path and c.kind is ChunkKind.MODULE), rec.chunk)
                else:
                    sid = None
                    wanted = (("main",) if rec.kind == "main" else ("class",) if rec.kind == "class"
                              else ("function", "method"))
                    for ck in wanted:
                        sid = final.get((fs.path, ck, rec.name, rec.start_line, rec.end_line))
                        if sid is not None:
                            break
                    if sid is None:
                        sid = rec.chunk
                ids.append(sid)
                chunk = self.chunks.get(sid)
                scope = _Scope(sid, self.intern(sid), rec.kind, fi, ids[0], rec,
                               chunk.decorators if chunk else ())
                self.scopes[sid] = scope
                self.by_n[scope.n] = scope
            self.file_scopes.append(ids)
            self.module_of_path[fs.path] = ids[0]
            for si, rec in enumerate(fs.scopes):
                if si:
                    self.scopes[ids[si]].parent = ids[rec.parent] if rec.parent >= 0 else ids[0]
        for scope in self.scopes.values():
            scope.chain = self._chain(scope)
            if scope.kind == "function":
                parent = self.scopes.get(scope.parent) if scope.parent else None
                if parent is not None and parent.kind == "class":
                    scope.cls = parent.id
        for fi, fs in enumerate(self.files):
            self._bind_file(fi, fs)
        for fi, fs in enumerate(self.files):
            self._sites_of_file(fi, fs)

    def _chain(self, scope: _Scope) -> tuple[str, ...]:
        """Scopes searched for a name used in scope: itself, enclosing functions (class
        bodies are not searched from nested functions), the module."""
        if scope.kind in ("module", "main"):
            return (scope.module,)
        chain = [scope.id]
        seen = {scope.id}  # a parent link back into the chain must not loop forever
        sid = scope.parent
        while sid is not None and sid != scope.module and sid not in seen:
            seen.add(sid)
            s = self.scopes[sid]
            if s.kind == "function":
                chain.append(sid)
            sid = s.parent
        chain.append(scope.module)
        return tuple(chain)

    def _names_scope(self, fi: int, si: int) -> _Scope:
        scope = self.scopes[self.file_scopes[fi][si]]
        return self.scopes[scope.module] if scope.kind == "main" else scope

    def _bind(self, scope: _Scope, name: str, source: tuple | None) -> None:
        target = self.scopes[scope.module] if name in scope.globals else scope
        target.names[name] = None
        if source is not None:
            self.sources.setdefault(("v", target.id, name), []).append(source)

    def _bind_file(self, fi: int, fs: FileSymbols) -> None:
        ids = self.file_scopes[fi]
        src = fs.source
        for si, name in fs.globals:
            self.scopes[ids[si]].globals.add(name)
        # Definitions are bound in the enclosing scope.
        for si, rec in enumerate(fs.scopes):
            if si == 0 or rec.kind == "main":
                continue
            scope = self.scopes[ids[si]]
            parent = self._names_scope(fi, max(rec.parent, 0))
            if any(d.endswith((".setter", ".deleter")) for d in scope.decorators):
                continue
            if rec.kind == "class":
                self.def_names.add(rec.name)
                atom = (C, scope.n)
            else:
                if parent.kind == "class":
                    self.method_names.add(rec.name)
                elif parent.kind == "module":
                    self.def_names.add(rec.name)
                atom = (F, scope.n, 0, 0)
            self._bind(parent, rec.name, ("a", frozenset((atom,))))
        for si, line, items in fs.imports:
            scope = self._names_scope(fi, si)
            for item in items:
                if item.kind == "star":
                    if scope.kind == "module":
                        scope.stars.append(item)
                    continue
                self._bind(scope, item.local, ("imp", fi, item))
        for si, name in fs.bound:
            self._bind(self._names_scope(fi, si), name, None)
        # What functions return: `return` values, and the return annotation.
        for si, start, end, rtype in fs.returns:
            sid = ids[si]
            if self.scopes[sid].kind == "function":
                self.sources.setdefault(("r", sid), []).append(("t", fi, start, end, sid, rtype, ()))
        for si, rec in enumerate(fs.scopes):
            if rec.kind == "function" and rec.returns[0] >= 0:
                sid = ids[si]
                self.sources.setdefault(("r", sid), []).append(
                    ("n", fi, rec.returns[0], rec.returns[1], sid)
                )
        for si, name, vs, ve, vtype in fs.walrus:
            scope = self._names_scope(fi, si)
            self._bind(scope, name, ("t", fi, vs, ve, scope.id, vtype, ()))
        for si, ls, le, rs, re_, rtype in fs.loops:
            scope = self._names_scope(fi, si)
            self._bind_target(fi, scope, ls, le, None, ("t", fi, rs, re_, scope.id, rtype, (("iter",),)))
        for si, as_, ae, vs, ve, vtype in fs.withs:
            scope = self._names_scope(fi, si)
            self._bind_target(fi, scope, as_, ae, None, ("t", fi, vs, ve, scope.id, vtype, (("enter",),)))
        for si, line, ls, le, ltype, rs, re_, ts, te, op, rtype in fs.assigns:
            scope = self._names_scope(fi, si)
            if op != "=" and op not in ("+=", "|="):
                continue
            value = ("t", fi, rs, re_, scope.id, rtype, ()) if rs >= 0 else None
            ann = ("n", fi, ts, te, scope.id) if ts >= 0 else None
            if ltype == "identifier":
                name = src[ls:le].decode("utf-8", "replace")
                if scope.kind == "class" and ann is not None:
                    # A field declaration (`x: Model`): instances have it (dataclasses).
                    self.sources.setdefault(("ia", scope.id, name), []).append(ann)
                    if value is None:
                        continue
                    ann = None
                if name == "__all__" and scope.kind == "module" and value is not None:
                    scope.all_nodes.append((fi, rs, re_))
                self._bind(scope, name, value)
                if ann is not None:
                    self._bind(scope, name, ann)
            elif ltype == "attribute":
                self.write_spans.add((fi, ls))
                found = _SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
                if found is None:
                    continue
                owner = self._self_class(scope, found.group(1))
                if owner is None:
                    cls = self._cls_class(scope, found.group(1))
                    if cls is not None:  # `cls.x = ...` in a classmethod: a class attribute
                        if value is not None:
                            self._bind(self.scopes[cls], found.group(2), value)
                        if ann is not None:
                            self._bind(self.scopes[cls], found.group(2), ann)
                    continue
                lst = self.sources.setdefault(("ia", owner, found.group(2)), [])
                if value is not None:
                    lst.append(value)
                if ann is not None:
                    lst.append(ann)
            elif ltype == "subscript" and value is not None:
                self._bind_item(fi, scope, ls, le, value)
            elif value is not None:
                self._bind_target(fi, scope, ls, le, None, value)

    def _bind_target(self, fi: int, scope: _Scope, start: int, end: int, node: ast.expr | None,
                     source: tuple) -> None:
        """Bind the names of an assignment target (a name or a nested tuple pattern)."""
        if node is None:
            text = self.files[fi].source[start:end].decode("utf-8", "replace")
            if text.isidentifier():
                self._bind(scope, text, source)
                return
            node = self._parse(text)
            if node is None:
                return
        if isinstance(node, ast.Name):
            self._bind(scope, node.id, source)
        elif isinstance(node, (ast.Tuple, ast.List)):
            n = len(node.elts)
            starred = any(isinstance(e, ast.Starred) for e in node.elts)
            for i, elt in enumerate(node.elts):
                if isinstance(elt, ast.Starred):
                    self._bind_target(fi, scope, 0, 0, elt.value, source[:-1] + (source[-1] + (("none",),),))
                    continue
                op = ("iter",) if starred else ("idx", i, n)
                self._bind_target(fi, scope, 0, 0, elt, source[:-1] + (source[-1] + (op,),))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = self._self_class(scope, node.value.id)
            if owner is not None:
                self.sources.setdefault(("ia", owner, node.attr), []).append(source)

    def _bind_item(self, fi: int, scope: _Scope, start: int, end: int, value: tuple) -> None:
        """`x[k] = v`: v joins what x holds (a dict, or a list when k is an int)."""
        text = self.files[fi].source[start:end].decode("utf-8", "replace")
        found = _SUBSCRIPT.match(text)
        if found is None:
            return
        base = _quick_expr(found.group(1))
        key = self._container_key(scope, base) if base is not None else None
        if key is None:
            return
        kind = SEQ if found.group(2).strip().lstrip("-").isdigit() else DICT
        self.sources.setdefault(key, []).append(value[:-1] + (value[-1] + (("wrap", kind),),))

    def _container_key(self, scope: _Scope, node: ast.expr) -> tuple | None:
        """The variable a mutated container lives in: a name or `self.attr`."""
        if isinstance(node, ast.Name):
            found = self._lookup(scope.id, node.id)
            return found if type(found) is tuple else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = self._self_class(scope, node.value.id)
            if owner is not None:
                return ("ia", owner, node.attr)
        return None

    def _self_class(self, scope: _Scope, name: str) -> str | None:
        """The class whose instance `name` is in scope (the `self` of a method, also
        seen from functions nested in it), or None."""
        s: _Scope | None = scope
        while s is not None and s.kind == "function":
            params = self._params(s)
            if s.cls is not None:
                if (params and params[0][0].name == name
                        and params[0][0].kind in ("positional", "positional_only")
                        and not s.static and not s.classmethod):
                    return s.cls
                return None
            if name in s.names or name in s.param_names:
                return None
            s = self.scopes.get(s.parent) if s.parent else None
        return None

    def _cls_class(self, scope: _Scope, name: str) -> str | None:
        """The class that `name` is in a classmethod (its first parameter), or None."""
        if scope.kind != "function" or scope.cls is None or not scope.classmethod:
            return None
        params = self._params(scope)
        return scope.cls if params and params[0][0].name == name else None

    def _sites_of_file(self, fi: int, fs: FileSymbols) -> None:
        ids = self.file_scopes[fi]
        names_ids = [self._names_scope(fi, si).id for si in range(len(ids))]
        src = fs.source
        contexts = _context_texts(fs.contexts)
        sites, site_keys, key_sites, call_at = self.sites, self.site_keys, self.key_sites, self.call_at
        dotted = _DOTTED.match
        new_site = tuple.__new__
        for si, line, fs_, fe, ftype, as_, ae, ctx in fs.calls:
            text = src[fs_:fe].decode("utf-8", "replace")
            names = names_ids[si]
            site_index = len(sites)
            call_at[(fi, fs_, ae)] = site_index
            sites.append(new_site(_Site, (fi, names, ids[si], line, fs_, text, ftype, (fs_, fe), (as_, ae),
                                          EMPTY, contexts[ctx] if ctx >= 0 else "", False)))
            # Equal dotted callees in one scope have equal types: one key for all.
            if (ftype == "identifier" or ftype == "attribute") and dotted(text):
                key: tuple = ("s", names, text)
                same = key_sites.get(key)
                if same is None:
                    key_sites[key] = [site_index]
                else:
                    same.append(site_index)
                if ftype == "attribute":
                    base, _, method = text.rpartition(".")
                    if method in _MUTATORS:
                        self._mutation(fi, names, site_index, base, method, as_, ae)
            else:
                key = ("s", site_index)
                key_sites[key] = [site_index]
            site_keys.append(key)

        for si, line, start, end, decorated in fs.decorators:
            if decorated < 0:
                continue
            target = self.scopes[ids[decorated]]
            atom = (C, target.n) if target.kind == "class" else (F, target.n, 0, 0)
            names = self._names_scope(fi, si)
            text = src[start:end].decode("utf-8", "replace")
            key = ("s", len(self.sites))
            self.site_keys.append(key)
            self.key_sites[key] = [len(self.sites)]
            self.sites.append(tuple.__new__(_Site, (fi, names.id, ids[si], line, start, text, "decorator",
                                                    (start, end), (-1, -1), frozenset((atom,)), "", True)))

    def _mutation(self, fi: int, names: str, site_index: int, base: str, method: str, as_: int,
                  ae: int) -> None:
        """`x.append(v)` and friends: v joins what x holds."""
        spec = _MUTATORS[method]
        node = _quick_expr(base)
        key = self._container_key(self.scopes[names], node) if node is not None else None
        if key is not None:
            self.sources.setdefault(key, []).append(("arg", site_index, spec[0], spec[1]))
        if method in ("extend", "append") and base == "__all__":
            self.scopes[self.scopes[names].module].all_nodes.append((fi, as_, ae))

    # ---- parameters ---------------------------------------------------------------

    def _param_names(self, scope: _Scope) -> frozenset[str]:
        """The names a function's parameters bind (cheap: no parse)."""
        if scope.params is None and not scope.param_names and scope.rec.params[0] >= 0:
            fs = self.files[scope.file]
            scope.param_names = _scan_param_names(fs.source[scope.rec.params[0]:scope.rec.params[1]])
        return scope.param_names

    def _params(self, scope: _Scope) -> list[tuple[_P, ast.arg | None, ast.expr | None]]:
        """Parameters of a function scope (parsed once); registers their sources."""
        if scope.params is not None:
            return scope.params
        scope.params = []
        if scope.kind != "function" or scope.rec.params[0] < 0:
            return scope.params
        fs = self.files[scope.file]
        text = fs.source[scope.rec.params[0]:scope.rec.params[1]].decode("utf-8", "replace")
        args = _quick_params(text) or _parse_params(text)
        if args is None:
            return scope.params
        out: list[tuple[_P, ast.arg | None, ast.expr | None]] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults)):
            kind = "positional_only" if i < len(args.posonlyargs) else "positional"
            out.append((_P(arg.arg, kind), arg, default))
        if args.vararg is not None:
            out.append((_P(args.vararg.arg, "var_positional"), None, None))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            out.append((_P(arg.arg, "keyword_only"), arg, default))
        if args.kwarg is not None:
            out.append((_P(args.kwarg.arg, "var_keyword"), None, None))
        scope.params = out
        scope.param_names = frozenset(p[0].name for p in out)
        implicit_cls = scope.rec.name in ("__new__", "__init_subclass__", "__class_getitem__")
        cls_n = self.scopes[scope.cls].n if scope.cls is not None else 0
        for i, (param, arg, default) in enumerate(out):
            lst = self.sources.setdefault(("v", scope.id, param.name), [])
            if i == 0 and scope.cls is not None and not scope.static and param.kind in (
                "positional", "positional_only"
            ):
                atom = (C, cls_n) if scope.classmethod or implicit_cls else (I, cls_n)
                lst.append(("a", frozenset((atom,))))
                continue
            if arg is not None and arg.annotation is not None:
                lst.append(("ne", arg.annotation, scope.id))
            if default is not None:
                lst.append(("e", default, scope.id, ()))
            if param.kind in ("positional", "positional_only", "keyword_only"):
                lst.append(("p", scope.id, i, param.name, param.kind))
        return out

    # ---- the fixed point -------------------------------------------------------------

    def get(self, key: tuple) -> frozenset:
        reader = self.reader
        if reader is not None:
            readers = self.readers.get(key)
            if readers is None:
                self.readers[key] = {reader: None}
            else:
                readers[reader] = None
        value = self.values.get(key)
        if value is not None:
            return value
        if key in self.active:
            return EMPTY
        if self.depth >= _MAX_DEPTH:
            self.push(key)
            return EMPTY
        self.compute(key)
        return self.values.get(key, EMPTY)

    def push(self, key: tuple) -> None:
        if key not in self.queued:
            self.queued.add(key)
            self.queue.append(key)

    def run(self) -> None:
        queue, queued = self.queue, self.queued
        while queue:
            key = queue.popleft()
            queued.discard(key)
            self.compute(key)

    def compute(self, key: tuple) -> None:
        previous = self.reader
        self.reader = key
        self.active.add(key)
        self.depth += 1
        try:
            new = self.evaluate(key)
        except RecursionError:
            # An expression nested deeper than the interpreter's stack: left unresolved.
            new = EMPTY
        finally:
            self.depth -= 1
            self.active.discard(key)
            self.reader = previous
        old = self.values.get(key)
        if old is not None:
            if new <= old:
                return
            new = self._norm(old | new)
            if new == old:
                return
        else:
            new = self._norm(new)
        self.values[key] = new
        kind = key[0]
        if kind == "s":
            # Only callables can send arguments anywhere.
            callables = [a for a in (new - old if old is not None else new) if a[0] in _CALLABLE_KINDS]
            if callables:
                for index in self.key_sites[key]:
                    self._site_changed(index, callables)
        elif kind == "fl":
            self._flow_changed(key, new)
        if (old is not None or new) and key in self.readers:
            for r in self.readers[key]:
                self.push(r)

    def evaluate(self, key: tuple) -> frozenset:
        kind = key[0]
        if kind == "s":
            if len(key) == 3:
                return self.ev_dotted(key[2], key[1])
            return self._site_func(self.sites[key[1]])
        if kind == "fl":
            return self._flow_value(key[1], key[2], key[4], key[5], key[6])
        if kind == "v":
            scope = self.scopes.get(key[1])
            if scope is not None and scope.kind == "function" and scope.params is None:
                self._params(scope)
        out: frozenset = EMPTY
        for source in self.sources.get(key, ()):
            got = self.eval_source(source)
            if got:
                out = out | got
        return out

    def eval_source(self, src: tuple) -> frozenset:
        kind = src[0]
        if kind == "a":
            return src[1]
        if kind == "t":
            atoms = self.ev_span(src[1], src[2], src[3], src[4], src[5])
            return self._ops(atoms, src[6]) if src[6] and atoms else atoms
        if kind == "imp":
            return self._import_types(src[1], src[2])
        if kind == "p":
            return self._param_flows(src[1], src[2], src[3], src[4])
        if kind == "n":
            text = self.files[src[1]].source[src[2]:src[3]]
            if _DOTTED_BYTES.match(text):
                return self._ann_atoms(self.ev_dotted(text.decode(), src[4]))
            node = self.expr(src[1], src[2], src[3])
            return self.ann(node, src[4]) if node is not None else EMPTY
        if kind == "ne":
            return self.ann(src[1], src[2])
        if kind == "e":
            atoms = self.ev(src[1], src[2])
            return self._ops(atoms, src[3]) if src[3] and atoms else atoms
        if kind == "arg":
            site = self.sites[src[1]]
            call = self._site_call(site)
            if call is None or src[2] >= len(call.args) or isinstance(call.args[src[2]], ast.Starred):
                return EMPTY
            return self._ops(self.ev(call.args[src[2]], site.scope), src[3])
        return EMPTY

    def _ops(self, atoms: frozenset, ops: tuple) -> frozenset:
        for op in ops:
            name = op[0]
            if name == "iter":
                atoms = _elems(atoms)
            elif name == "idx":
                i, n = op[1], op[2]
                out: set = set()
                for a in atoms:
                    if a[0] == TUP:
                        if len(a[1]) == n:
                            out.update(a[1][i])
                    elif a[0] == SEQ:
                        out.update(a[2])
                atoms = frozenset(out)
            elif name == "wrap":
                atoms = frozenset(((op[1], 0, _shallow(atoms)),))
            elif name == "values":
                atoms = _values(atoms)
            elif name == "enter":
                out = set()
                for a in atoms:
                    if a[0] == I or a[0] == W:
                        cid = self.by_n[a[1]].id
                        for f in self._member_funcs(cid, "__enter__"):
                            out.update(self._returns(f, a[1]))
                atoms = frozenset(out)
            else:
                atoms = EMPTY
            if not atoms:
                return EMPTY
        return atoms

    # ---- expressions -----------------------------------------------------------------

    def expr(self, fi: int, start: int, end: int) -> ast.expr | None:
        key = (fi, start, end)
        node = self.exprs.get(key, _MISSING)
        if node is _MISSING:
            node = self._parse(self.files[fi].source[start:end].decode("utf-8", "replace"))
            self.exprs[key] = node
        return node  # type: ignore[return-value]

    @staticmethod
    def _parse(text: str) -> ast.expr | None:
        try:
            return ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
        try:
            return ast.parse(f"(\n{text}\n)", mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None

    def ev_span(self, fi: int, start: int, end: int, scope: str, node_type: str) -> frozenset:
        """The types of the expression at source[start:end], whose tree-sitter node type
        is known: names, dotted names and calls are read without parsing (a call's
        value comes from its call site), the rest through `ast`."""
        if node_type in _NO_VALUE_TYPES:
            return EMPTY
        if node_type == "string" or node_type == "concatenated_string":
            return self.str_atom
        text = self.files[fi].source[start:end]
        if node_type == "identifier":
            return self.name_types(scope, text.decode("utf-8", "replace"))
        if node_type == "attribute" and _DOTTED_BYTES.match(text):
            return self.ev_dotted(text.decode(), scope)
        if node_type == "call":
            site = self.call_at.get((fi, start, end))
            if site is not None:
                return self.site_result(site)
        node = self.expr(fi, start, end)
        return self.ev(node, scope) if node is not None else EMPTY

    def site_result(self, index: int) -> frozenset:
        """What the call at a site returns."""
        site = self.sites[index]
        out: frozenset = EMPTY
        for atom in self.get(self.site_keys[index]):
            if atom[0] == X and self._needs_args(atom[1]):
                got = self._call_result(atom, self._site_call(site), site.scope)
            else:
                got = self._call_result(atom, None, site.scope)
            if got:
                out = out | got
        return out

    def _needs_args(self, n: int) -> bool:
        dotted = self.strs[n]
        return dotted in _NEEDS_ARGS or (dotted.startswith("accelerate.") and dotted.endswith(".prepare"))

    def ev(self, node: ast.expr, scope: str) -> frozenset:
        """The types of an expression evaluated in scope."""
        t = type(node)
        if t is ast.Name:
            return self.name_types(scope, node.id)
        if t is ast.Attribute:
            base = self.ev(node.value, scope)
            return self.attr_all(base, node.attr) if base else EMPTY
        if t is ast.Call:
            func = self.ev(node.func, scope)
            out: frozenset = EMPTY
            for a in func:
                got = self._call_result(a, node, scope)
                if got:
                    out = out | got
            return out
        if t is ast.Subscript:
            base = self.ev(node.value, scope)
            out = EMPTY
            for a in base:
                got = self._item(a, node.slice)
                if got:
                    out = out | got
            return out
        if t is ast.List or t is ast.Set:
            origin = "builtins.list" if t is ast.List else "builtins.set"
            return frozenset(((SEQ, self.intern(origin), _shallow(self._union(node.elts, scope))),))
        if t is ast.Tuple:
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return frozenset(((SEQ, self.intern("builtins.tuple"), _shallow(self._union(node.elts, scope))),))
            return frozenset(((TUP, tuple(_shallow(self.ev(e, scope)) for e in node.elts)),))
        if t is ast.Dict:
            values = self._union([v for v in node.values if v is not None], scope)
            return frozenset(((DICT, self.intern("builtins.dict"), _shallow(values)),))
        if t is ast.ListComp or t is ast.SetComp or t is ast.GeneratorExp:
            return frozenset(((SEQ, self.intern("builtins.list"), _shallow(self.ev(node.elt, scope))),))
        if t is ast.DictComp:
            return frozenset(((DICT, self.intern("builtins.dict"), _shallow(self.ev(node.value, scope))),))
        if t is ast.IfExp:
            return self.ev(node.body, scope) | self.ev(node.orelse, scope)
        if t is ast.BoolOp:
            return self._union(node.values, scope)
        if t is ast.Await or t is ast.NamedExpr:
            return self.ev(node.value, scope)
        if t is ast.Starred:
            return _elems(self.ev(node.value, scope))
        if t is ast.Constant:
            return self.str_atom if isinstance(node.value, str) else EMPTY
        if t is ast.JoinedStr:
            return self.str_atom
        return EMPTY

    def _union(self, nodes: list, scope: str) -> frozenset:
        out: frozenset = EMPTY
        for n in nodes:
            if isinstance(n, ast.Starred):
                got = _elems(self.ev(n.value, scope))
            else:
                got = self.ev(n, scope)
            if got:
                out = out | got
        return out

    def ev_dotted(self, text: str, scope: str) -> frozenset:
        parts = text.split(".")
        atoms = self.name_types(scope, parts[0])
        for part in parts[1:]:
            if not atoms:
                return EMPTY
            atoms = self.attr_all(atoms, part)
        return atoms

    def ann(self, node: ast.expr, scope: str, depth: int = 0) -> frozenset:
        """The instance types an annotation declares (`Model`, `"Model"`,
        `Optional[Model]`, `list[Block]`, `dict[str, Head]`, `tuple[A, B]`, `type[M]`)."""
        if depth > 4:
            return EMPTY
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                inner = self._parse(node.value)
                return self.ann(inner, scope, depth + 1) if inner is not None else EMPTY
            return EMPTY
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.ann(node.left, scope, depth + 1) | self.ann(node.right, scope, depth + 1)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self._ann_atoms(self.ev(node, scope))
        if not isinstance(node, ast.Subscript):
            return EMPTY
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        out: frozenset = EMPTY
        for base in self.ev(node.value, scope):
            if base[0] == C:  # a generic repo class, `Registry[Model]`
                out = out | {(I, base[1])}
                continue
            if base[0] != X:
                continue
            dotted = self.strs[base[1]]
            if not dotted.startswith(_TYPING_MODULES):
                continue
            last = dotted.rsplit(".", 1)[-1]
            if last in ("Optional", "Union"):
                for arg in args:
                    out = out | self.ann(arg, scope, depth + 1)
            elif last in _ANN_SAME:
                out = out | self.ann(args[0], scope, depth + 1)
            elif last in ("Tuple", "tuple"):
                if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args):
                    out = out | {(SEQ, self.intern("builtins.tuple"), self.ann(args[0], scope, depth + 1))}
                else:
                    out = out | {(TUP, tuple(self.ann(a, scope, depth + 1) for a in args))}
            elif last in _ANN_SEQ:
                out = out | {(SEQ, self.intern("builtins.list"), self.ann(args[0], scope, depth + 1))}
            elif last in _ANN_DICT:
                out = out | {(DICT, self.intern("builtins.dict"), self.ann(args[-1], scope, depth + 1))}
            elif last in ("Type", "type"):
                out = out | frozenset((C, a[1]) for a in self.ann(args[0], scope, depth + 1) if a[0] == I)
        return out

    def _ann_atoms(self, atoms: frozenset) -> frozenset:
        """A class named in an annotation stands for its instances."""
        out = set()
        for a in atoms:
            if a[0] == C:
                out.add((I, a[1]))
            elif a[0] == X and a != self.unknown_external:
                if not self.strs[a[1]].startswith(("typing.", "typing_extensions.")):
                    out.add((XR, a[1]))
            elif a[0] == MISS:
                out.add(a)
        return frozenset(out)

    def name_types(self, scope: str, name: str) -> frozenset:
        found = self._lookup(scope, name)
        if found is None:
            return EMPTY
        if type(found) is tuple:
            return self.get(found)  # type: ignore[arg-type]
        return found  # type: ignore[return-value]

    def _lookup(self, scope_id: str, name: str) -> tuple | frozenset | None:
        """The variable a name refers to in scope: a ("v", scope, name) key, fixed types
        (builtins, names from an external star import), or None (defined nowhere)."""
        memo_key = (scope_id, name)
        found = self.lookups.get(memo_key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        scope = self.scopes[scope_id]
        chain = (scope.module,) if name in scope.globals else scope.chain
        found = None
        for sid in chain:
            s = self.scopes[sid]
            if s.kind == "function":
                if name in s.names or name in (s.param_names or self._param_names(s)):
                    found = ("v", sid, name)
                    break
            elif name in s.names:
                found = ("v", sid, name)
                break
        if found is None:
            found = self._star_name(scope.module, name)
        if found is None and name in _BUILTINS:
            found = frozenset((self._x(f"builtins.{name}"),))
        self.lookups[memo_key] = found
        return found

    def _stars_of(self, module: str) -> list[tuple[str | None, str]]:
        """A module's star imports, last first: (repo module id or None, dotted)."""
        found = self.star_targets.get(module)
        if found is None:
            scope = self.scopes[module]
            found = []
            for item in reversed(scope.stars):
                ref = self._resolve_import_module(scope.file, item.level, item.module)
                found.append((self._module_id(ref) if ref is not None else None, item.module))
            self.star_targets[module] = found
        return found

    def _star_name(self, module: str, name: str, depth: int = 0) -> tuple | frozenset | None:
        """A name a module gets from `from x import *` (the last star import that has it)."""
        memo = self.stars_memo.get((module, name), _MISSING)
        if memo is not _MISSING:
            return memo  # type: ignore[return-value]
        self.stars_memo[(module, name)] = None  # cycle guard
        found: tuple | frozenset | None = None
        scope = self.scopes.get(module)
        if scope is not None and scope.stars and depth < 20:
            external: str | None = None
            # The last star import that has the name wins, as in Python; but one that
            # only re-imports it (often from this very package) gives way to one that
            # defines it, so that the name does not resolve through a cycle.
            reimport: tuple | frozenset | None = None
            for target, dotted in self._stars_of(module):
                if target is None:
                    if external is None:
                        external = dotted
                    continue
                if name not in self.exports(target):
                    continue
                tscope = self.scopes.get(target)
                if tscope is not None and name in tscope.names:
                    candidate: tuple | frozenset | None = ("v", target, name)
                    only_imported = all(src[0] == "imp" for src in self.sources.get(candidate, ()))
                else:
                    candidate = self._star_name(target, name, depth + 1)
                    only_imported = False
                if candidate is None:
                    continue
                if not only_imported:
                    found = candidate
                    break
                if reimport is None:
                    reimport = candidate
            if found is None:
                found = reimport
            if found is None and external is not None and name not in _BUILTINS:
                found = frozenset((self._x(f"{external}.{name}"),))
        self.stars_memo[(module, name)] = found
        return found

    def exports(self, module: str) -> frozenset[str]:
        """Names `from module import *` binds: `__all__` when it is a literal, else the
        public names bound in the module (its own star imports included)."""
        memo = self.exports_memo.get(module)
        if memo is not None:
            return memo
        self.exports_memo[module] = frozenset()  # cycle guard
        scope = self.scopes.get(module)
        if scope is None:
            return frozenset()
        names: set[str] = set()
        if scope.all_nodes:
            for fi, start, end in scope.all_nodes:
                node = self.expr(fi, start, end)
                if node is None:
                    continue
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        names.add(sub.value)
                    elif isinstance(sub, ast.Attribute) and sub.attr == "__all__":
                        for a in self.ev(sub.value, module):
                            if a[0] == M:
                                names.update(self.exports(self.strs[a[1]]))
        else:
            names.update(n for n in scope.names if not n.startswith("_"))
            for target, _ in self._stars_of(module):
                if target is not None:
                    names.update(self.exports(target))
        result = frozenset(names)
        self.exports_memo[module] = result
        return result

    # ---- imports -----------------------------------------------------------------------

    def _resolve_import_module(self, fi: int, level: int, dotted: str) -> ModuleRef | None:
        path = self.files[fi].path
        if level:
            return self.index.resolve_relative(level, dotted, path)
        return self.index.resolve_absolute(dotted, path)

    def _module_id(self, ref: ModuleRef) -> str:
        if ref.is_namespace:
            return f"ns:{ref.path}"
        return self.module_of_path.get(ref.path, f"ns:{ref.path}")

    def _module_atom(self, ref: ModuleRef) -> tuple:
        return (M, self.intern(self._module_id(ref)))

    def _repo_rooted(self, fi: int, dotted: str) -> bool:
        """Whether an absolute import that did not resolve names a repo package."""
        top = dotted.split(".", 1)[0]
        return self.index.resolve_absolute(top, self.files[fi].path) is not None

    def _import_types(self, fi: int, item: ImportItem) -> frozenset:
        if item.kind == "module":
            ref = self._resolve_import_module(fi, 0, item.name)
            if ref is not None:
                return frozenset((self._module_atom(ref),))
            if self._repo_rooted(fi, item.name):
                return frozenset(((MISS, self.intern(item.name)),))
            return frozenset((self._x(item.name),))
        ref = self._resolve_import_module(fi, item.level, item.module)
        dotted = f"{item.module}.{item.name}" if item.module else item.name
        if ref is None:
            if item.level or self._repo_rooted(fi, item.module):
                return frozenset(((MISS, self.intern(dotted)),))
            return frozenset((self._x(dotted),))
        module = self._module_id(ref)
        if module == self.file_scopes[fi][0]:
            # `from . import x` in a package's own __init__: x is its submodule.
            sub = self.index.submodule(ref, item.name)
            if sub is not None:
                return frozenset((self._module_atom(sub),))
        return self._module_attr(module, item.name)

    def _module_attr(self, module: str, name: str) -> frozenset:
        if module.startswith("ns:"):
            sub = self.index.find(module[3:], name)
            if sub is not None:
                return frozenset((self._module_atom(sub),))
            return frozenset(((MISS, self.intern(f"{module}.{name}")),))
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        if name in scope.names:
            return self.get(("v", module, name))
        if name == "__dict__":
            return frozenset(((NS, scope.n),))
        path = self.files[scope.file].path
        if path.endswith("__init__.py"):
            sub = self.index.find(dirname(path), name)
            if sub is not None:
                return frozenset((self._module_atom(sub),))
        star = self._star_name(module, name)
        if star is not None:
            return self.get(star) if type(star) is tuple else star  # type: ignore[return-value]
        return frozenset(((MISS, self.intern(f"{module}.{name}")),))

    # ---- classes -----------------------------------------------------------------------

    def solve_bases(self) -> None:
        """Phase 0: the base classes of every class, then MROs (fixed from here on)."""
        class_ids = sorted(sid for sid, s in self.scopes.items() if s.kind == "class")
        for cid in class_ids:
            scope = self.scopes[cid]
            span = scope.rec.bases
            count = 0
            if span[0] >= 0:
                text = self.files[scope.file].source[span[0]:span[1]].decode("utf-8", "replace")
                call = _quick_call(text) or self._parse(f"_{text}")
                if isinstance(call, ast.Call):
                    parent = self.scopes[scope.parent] if scope.parent else self.scopes[scope.module]
                    names = self.scopes[parent.module] if parent.kind == "main" else parent
                    for arg in call.args:
                        if isinstance(arg, ast.Starred):
                            continue
                        self.sources[("b", cid, count)] = [("e", arg, names.id, ())]
                        count += 1
            self.bases[cid] = [EMPTY] * count
        for cid in class_ids:
            for i in range(len(self.bases[cid])):
                self.get(("b", cid, i))
        self.run()
        for cid in class_ids:
            self.bases[cid] = [self.values.get(("b", cid, i), EMPTY) for i in range(len(self.bases[cid]))]
        for cid in class_ids:
            self._linearize(cid, ())

    def _base_entries(self, cid: str) -> list[str]:
        """Direct bases in order: repo class ids, or "x:dotted" for external classes."""
        out: list[str] = []
        for atoms in self.bases.get(cid, []):
            for a in sorted(atoms):
                if a[0] == C and self.by_n[a[1]].id != cid:
                    out.append(self.by_n[a[1]].id)
                elif a[0] == X and a != self.unknown_external:
                    out.append(f"x:{self.strs[a[1]]}")
        return list(dict.fromkeys(out))

    def _linearize(self, cid: str, stack: tuple[str, ...]) -> tuple[str, ...]:
        """C3 linearization over repo classes, with external bases as leaves; a cycle or
        an inconsistent order falls back to depth-first, left to right."""
        done = self.mro.get(cid)
        if done is not None:
            return done
        if cid in stack:
            return (cid,)
        bases = self._base_entries(cid)
        seqs = [list(self._linearize(b, (*stack, cid))) if not b.startswith("x:") else [b] for b in bases]
        seqs.append(list(bases))
        result = [cid]
        work = [s for s in seqs if s]
        consistent = True
        while work:
            for seq in work:
                head = seq[0]
                if not any(head in s[1:] for s in work):
                    break
            else:
                consistent = False
                break
            result.append(head)
            work = [[x for x in s if x != head] for s in work]
            work = [s for s in work if s]
        if not consistent:
            result = [cid]
            for seq in seqs:
                for x in seq:
                    if x not in result:
                        result.append(x)
        mro = tuple(result)
        self.mro[cid] = mro
        self.repo_mro[cid] = tuple(x for x in mro if not x.startswith("x:"))
        self.module_like[cid] = any(
            x.startswith("x:") and (x[2:] in _MODULE_BASES or (x[2:].startswith("torch.nn.")
                                                             and x[2:] != "torch.nn.Parameter"))
            for x in mro
        )
        return mro

    def _repo_mro(self, cid: str) -> tuple[str, ...]:
        return self.repo_mro.get(cid) or (cid,)

    def _external_base(self, cid: str) -> str | None:
        for x in self.mro.get(cid, ()):
            if x.startswith("x:"):
                return x[2:]
        return None

    def _owner(self, cid: str, name: str, skip_first: bool = False) -> str | None:
        """The first repo class in cid's MRO whose body binds name (MROs are fixed
        after phase 0, class bodies are static: memoized)."""
        key = (cid, name, skip_first)
        found = self.owners.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        found = None
        mro = self._repo_mro(cid)
        for c in mro[1:] if skip_first else mro:
            scope = self.scopes.get(c)
            if scope is not None and name in scope.names:
                found = c
                break
        if self.mro:
            self.owners[key] = found
        return found

    def _member_funcs(self, cid: str, name: str) -> list[str]:
        owner = self._owner(cid, name)
        if owner is None:
            return []
        return sorted(self.by_n[a[1]].id for a in self.get(("v", owner, name)) if a[0] == F)

    def _bind_member(self, atoms: frozenset, recv: int, via_instance: bool) -> frozenset:
        out = set()
        for a in atoms:
            if a[0] == F:
                scope = self.by_n.get(a[1])
                if scope is not None and scope.static:
                    out.add((F, a[1], 0, recv))
                elif scope is not None and scope.classmethod:
                    out.add((F, a[1], 1, recv))
                else:
                    out.add((F, a[1], 1 if via_instance else 0, recv))
            else:
                out.add(a)
        return frozenset(out)

    def _instance_attr(self, atom: tuple, name: str) -> frozenset:
        cls = self.by_n[atom[1]]
        cid = cls.id
        owner = self._owner(cid, name)
        members = self.get(("v", owner, name)) if owner is not None else EMPTY
        if members:
            props = [a for a in members if a[0] == F and self.by_n[a[1]].property]
            if props:
                out: frozenset = EMPTY
                for p in props:
                    out = out | self._returns(self.by_n[p[1]].id, atom[1])
                return out
        found = False
        out = EMPTY
        for c in self._repo_mro(cid):
            key = ("ia", c, name)
            if key in self.sources:
                found = True
                out = out | self.get(key)
        if owner is not None:
            return out | self._bind_member(members, atom[1], True)
        if found:
            return out
        ext = self._external_base(cid)
        if ext is not None:
            return frozenset(((XB, self.intern(f"{ext}.{name}"), atom),))
        return EMPTY

    def _class_attr(self, n: int, name: str) -> frozenset:
        cid = self.by_n[n].id
        owner = self._owner(cid, name)
        if owner is not None:
            return self._bind_member(self.get(("v", owner, name)), n, False)
        ext = self._external_base(cid)
        if ext is not None:
            # Bound to the repo class: an inherited `from_*` constructor returns it.
            return frozenset(((XB, self.intern(f"{ext}.{name}"), (C, n)),))
        return EMPTY

    def _super_attr(self, atom: tuple, name: str) -> frozenset:
        n, recv = atom[1], atom[2]
        cid = self.by_n[n].id
        owner = self._owner(cid, name, skip_first=True)
        if owner is not None:
            return self._bind_member(self.get(("v", owner, name)), n, recv == I)
        for x in self.mro.get(cid, ())[1:]:
            if x.startswith("x:"):
                dotted = self.intern(f"{x[2:]}.{name}")
                if recv == I:
                    return frozenset(((XB, dotted, (I, n)),))
                return frozenset(((X, dotted),))
        return EMPTY

    def attr_all(self, atoms: frozenset, name: str) -> frozenset:
        out: frozenset = EMPTY
        for a in atoms:
            got = self.attr(a, name)
            if got:
                out = out | got
        return out

    def attr(self, atom: tuple, name: str) -> frozenset:
        kind = atom[0]
        if kind == X:
            if atom == self.unknown_external:
                return frozenset((atom,))
            key = (atom[1], name)
            n = self.xattrs.get(key)
            if n is None:
                dotted = self.strs[atom[1]]
                n = self.unknown_external[1] if dotted.count(".") >= _MAX_DOTS else self.intern(
                    f"{dotted}.{name}")
                self.xattrs[key] = n
            return frozenset(((X, n),))
        if kind == I:
            if name == "__class__":
                return frozenset(((C, atom[1]),))
            return self._instance_attr(atom, name)
        if kind == M:
            return self._module_attr(self.strs[atom[1]], name)
        if kind == W:
            if name == "module":
                return frozenset(((I, atom[1]),))
            return self._instance_attr(atom, name)
        if kind == C:
            return self._class_attr(atom[1], name)
        if kind == XR:
            dotted = self.strs[atom[1]]
            # An instance of an external class (capitalised, by convention): its method.
            if dotted.rsplit(".", 1)[-1][:1].isupper():
                return self.attr((X, atom[1]), name)
            return EMPTY
        if kind == SEQ or kind == DICT or kind == TUP:
            if name in _CONTAINER_METHODS:
                return frozenset(((CM, atom, self.intern(name)),))
            return EMPTY
        if kind == SUP:
            return self._super_attr(atom, name)
        if kind == MISS:
            if atom == self.unknown_missing or self.strs[atom[1]].count(".") >= _MAX_DOTS:
                return frozenset((self.unknown_missing,))
            return frozenset(((MISS, self.intern(f"{self.strs[atom[1]]}.{name}")),))
        return EMPTY

    def _item(self, atom: tuple, index: ast.expr) -> frozenset:
        kind = atom[0]
        if kind == SEQ:
            return frozenset((atom,)) if isinstance(index, ast.Slice) else atom[2]
        if kind == DICT:
            return atom[2]
        if kind == TUP:
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                i = index.value
                return atom[1][i] if -len(atom[1]) <= i < len(atom[1]) else EMPTY
            if isinstance(index, ast.Slice):
                return EMPTY
            return _elems(frozenset((atom,)))
        if kind == NS:
            return self._public_callables(self.by_n[atom[1]].id)
        if kind == I or kind == W:
            out: frozenset = EMPTY
            for f in self._member_funcs(self.by_n[atom[1]].id, "__getitem__"):
                out = out | self._returns(f, atom[1])
            return out
        return EMPTY

    def _public_callables(self, module: str) -> frozenset:
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        out: set = set()
        names = {n for n in scope.names if not n.startswith("_")}
        names.update(n for n in self.exports(module) if not n.startswith("_"))
        for name in sorted(names):
            for a in self._module_attr(module, name):
                if a[0] == F or a[0] == C:
                    out.add(a)
        return frozenset(out)

    # ---- calls ---------------------------------------------------------------------------

    def _returns(self, fid: str, recv: int) -> frozenset:
        """What calling fid returns; `self`/`cls` of its class read as the receiver's."""
        ret = self.get(("r", fid))
        if not ret or not recv:
            return ret
        func = self.scopes.get(fid)
        owner = func.cls if func is not None else None
        if owner is None:
            return ret
        owner_n = self.scopes[owner].n
        if owner_n == recv or owner not in self._repo_mro(self.by_n[recv].id):
            return ret
        out = set()
        for a in ret:
            if a == (I, owner_n):
                out.add((I, recv))
            elif a == (C, owner_n):
                out.add((C, recv))
            else:
                out.add(a)
        return frozenset(out)

    def _call_funcs(self, atom: tuple) -> list[tuple[str, int, int]]:
        """The repo functions that run when atom is called: (function id, number of
        leading parameters already bound, receiver class)."""
        kind = atom[0]
        if kind == F:
            return [(self.by_n[atom[1]].id, atom[2], atom[3])]
        if kind == I or kind == W:
            cid = self.by_n[atom[1]].id
            funcs = self._member_funcs(cid, "__call__")
            if not funcs and self.module_like.get(cid):
                funcs = self._member_funcs(cid, "forward")
            return [(f, 1, atom[1]) for f in funcs]
        if kind == SEQ and self.strs[atom[1]] in _SEQUENTIAL:
            out = []
            for a in sorted(atom[2]):
                out.extend(self._call_funcs(a))
            return out
        return []

    def _call_result(self, atom: tuple, node: ast.Call | None, scope: str) -> frozenset:
        kind = atom[0]
        if kind == C:
            return frozenset(((I, atom[1]),))
        if kind == F:
            return self._returns(self.by_n[atom[1]].id, atom[3])
        if kind == I or kind == W or kind == SEQ:
            out: frozenset = EMPTY
            for fid, _, recv in self._call_funcs(atom):
                out = out | self._returns(fid, recv)
            return out
        if kind == X:
            if atom == self.unknown_external:
                return frozenset((atom,))
            return self._external_call(atom[1], node, scope)
        if kind == XB:
            method = self.strs[atom[1]].rsplit(".", 1)[-1]
            recv = atom[2]
            if recv[0] == C:
                # `Model.from_pretrained(...)` inherited from a library base class (a
                # classmethod constructor, by the library's convention) builds a Model.
                return frozenset(((I, recv[1]),)) if method.startswith("from_") else frozenset(((XR, atom[1]),))
            return frozenset((recv,)) if method in _SELF_RETURNING else frozenset(((XR, atom[1]),))
        if kind == CM:
            return self._container_call(atom[1], self.strs[atom[2]], node, scope)
        return EMPTY

    def _arg(self, node: ast.Call | None, i: int, scope: str) -> frozenset:
        if node is None or i >= len(node.args) or isinstance(node.args[i], ast.Starred):
            return EMPTY
        return self.ev(node.args[i], scope)

    def _external_call(self, n: int, node: ast.Call | None, scope: str) -> frozenset:
        result = frozenset(((XR, n),))
        if node is None:
            return result
        dotted = self.strs[n]
        if dotted not in _NEEDS_ARGS and not dotted.startswith("accelerate."):
            return result
        if dotted in _IDENTITY:
            return self._arg(node, 0, scope) or result
        if dotted in _DP_WRAPPERS:
            inner = self._arg(node, 0, scope)
            return frozenset((W, a[1]) if a[0] == I else a for a in inner) or result
        if dotted in _MODULE_LIST:
            elems = _elems(self._arg(node, 0, scope))
            return frozenset(((SEQ, self.intern("torch.nn.ModuleList"), _shallow(elems)),))
        if dotted in _SEQUENTIAL:
            elems: frozenset = EMPTY
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    got = _elems(self.ev(arg.value, scope))
                else:
                    got = self.ev(arg, scope)
                    if len(node.args) == 1 and any(a[0] == DICT for a in got):
                        got = _values(got)
                elems = elems | got
            return frozenset(((SEQ, self.intern("torch.nn.Sequential"), _shallow(elems)),))
        if dotted in _DICT_BUILTINS:
            values = _values(self._arg(node, 0, scope))
            for kw in node.keywords:
                if kw.arg is not None:
                    values = values | self.ev(kw.value, scope)
            if dotted == "collections.defaultdict":
                values = EMPTY
            return frozenset(((DICT, n, _shallow(values)),))
        if dotted in _SEQ_BUILTINS:
            return frozenset(((SEQ, n, _shallow(_elems(self._arg(node, 0, scope)))),))
        if dotted == "builtins.enumerate":
            pair = (TUP, (EMPTY, _shallow(_elems(self._arg(node, 0, scope)))))
            return frozenset(((SEQ, n, frozenset((pair,))),))
        if dotted == "builtins.zip":
            parts = tuple(_shallow(_elems(self._arg(node, i, scope))) for i in range(len(node.args)))
            return frozenset(((SEQ, n, frozenset(((TUP, parts),))),))
        if dotted == "builtins.next":
            return _elems(self._arg(node, 0, scope))
        if dotted == "builtins.getattr":
            if len(node.args) < 2:
                return result
            obj = self._arg(node, 0, scope)
            name = node.args[1]
            out: frozenset = self._arg(node, 2, scope)
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                return out | self.attr_all(obj, name.value)
            for a in obj:
                if a[0] == M:
                    out = out | self._public_callables(self.strs[a[1]])
            return out
        if dotted == "builtins.super":
            return self._super(node, scope)
        if dotted == "builtins.type":
            if len(node.args) != 1:
                return result
            return frozenset((C, a[1]) for a in self._arg(node, 0, scope) if a[0] == I or a[0] == W)
        if dotted == "builtins.vars":
            return frozenset((NS, self.scopes[self.strs[a[1]]].n) for a in self._arg(node, 0, scope)
                             if a[0] == M and self.strs[a[1]] in self.scopes)
        if dotted == "builtins.globals":
            return frozenset(((NS, self.scopes[self.scopes[scope].module].n),))
        if dotted == "importlib.import_module":
            name = node.args[0] if node.args else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                ref = self._resolve_import_module(self.scopes[scope].file, 0, name.value)
                if ref is not None:
                    return frozenset((self._module_atom(ref),))
            return result
        if dotted.startswith("accelerate.") and dotted.endswith(".prepare"):
            args = tuple(self.ev(a, scope) for a in node.args if not isinstance(a, ast.Starred))
            if len(args) == 1:
                return args[0]
            return frozenset(((TUP, tuple(_shallow(a) for a in args)),))
        return result

    def _super(self, node: ast.Call, scope: str) -> frozenset:
        if len(node.args) >= 2:
            recv = I if any(a[0] == I for a in self._arg(node, 1, scope)) else C
            return frozenset((SUP, a[1], recv) for a in self._arg(node, 0, scope) if a[0] == C)
        s = self.scopes[scope]
        while s.kind == "function" and s.cls is None and s.parent:
            s = self.scopes[s.parent]
        if s.kind != "function" or s.cls is None:
            return EMPTY
        return frozenset(((SUP, self.scopes[s.cls].n, C if s.classmethod else I),))

    def _container_call(self, cont: tuple, method: str, node: ast.Call | None, scope: str) -> frozenset:
        kind = cont[0]
        if method == "copy":
            return frozenset((cont,))
        if kind == DICT:
            if method in ("get", "pop", "setdefault"):
                return cont[2] | self._arg(node, 1, scope)
            if method == "values":
                return frozenset(((SEQ, self.intern("builtins.list"), cont[2]),))
            if method == "items":
                pair = (TUP, (EMPTY, cont[2]))
                return frozenset(((SEQ, self.intern("builtins.list"), frozenset((pair,))),))
            return EMPTY
        if kind == SEQ and method == "pop":
            return cont[2]
        return EMPTY

    # ---- flows into parameters -------------------------------------------------------------

    def _param_flows(self, fid: str, index: int, name: str, kind: str) -> frozenset:
        """Types of the arguments that repo call sites pass to this parameter.

        Flows run in phase 2, only into functions that at most _MAX_CALLERS call sites
        reached in phase 1 (decorator applications not counted). Each (site, parameter)
        pair is its own key ("fl", ...); their values are accumulated into `flow_acc`
        as they change, so a parameter that many sites reach costs one union per
        change. The first read activates the parameter: flows are computed only for
        parameters whose types are asked for.
        """
        key = ("v", fid, name)
        if not self.flows_on:
            self.param_reads[key] = None
            return EMPTY
        if fid not in self.flow_enabled:
            return EMPTY
        active = self.active_params.setdefault(fid, {})
        if key not in active:
            active[key] = (index, name, kind)
            for site_index, bound in self.incoming.get(fid, ()):
                self.push(("fl", site_index, bound, fid, index, name, kind))
        return self.flow_acc.get(key, EMPTY)

    def _flow_value(self, site_index: int, bound: int, index: int, name: str, kind: str) -> frozenset:
        """The type of the argument one call site passes to one parameter."""
        site = self.sites[site_index]
        if site.decorator:
            return site.const_args if kind != "keyword_only" and index - bound == 0 else EMPTY
        call = self._site_call(site)
        if call is None:
            return EMPTY
        node = None
        if kind != "keyword_only":
            pos = index - bound
            if 0 <= pos:
                for i, arg in enumerate(call.args):
                    if isinstance(arg, ast.Starred):
                        break
                    if i == pos:
                        node = arg
                        break
        if node is None:
            for kw in call.keywords:
                if kw.arg == name:
                    node = kw.value
                    break
        return self.ev(node, site.scope) if node is not None else EMPTY

    def _flow_changed(self, key: tuple, atoms: frozenset) -> None:
        """A flow's value grew: add it to its parameter's accumulated types."""
        param = ("v", key[3], key[5])
        acc = self.flow_acc.get(param, EMPTY)
        grown = acc | atoms
        if grown == acc:
            return
        funcs = [a for a in grown if a[0] == F]
        # A parameter that receives many different functions is a generic callback
        # slot (a dispatcher's): calls through it are not resolved.
        if len(funcs) > _MAX_FLOW_FUNCS or (funcs and _UNKNOWN_CALLABLE in grown):
            grown = frozenset(a for a in grown if a[0] != F) | {_UNKNOWN_CALLABLE}
            if grown == acc:
                return
        self.flow_acc[param] = self._norm(grown)
        self.push(param)

    def enable_flows(self) -> None:
        """Phase 2: flows into the parameters of functions with few callers."""
        self.flows_on = True
        for fid, incoming in self.incoming.items():
            callers = sum(1 for site_index, _ in incoming if not self.sites[site_index].decorator)
            if callers <= _MAX_CALLERS:
                self.flow_enabled.add(fid)
        for key in self.param_reads:
            if key[1] in self.flow_enabled:
                self.push(key)

    # ---- call sites ------------------------------------------------------------------------

    def _site_call(self, site: _Site) -> ast.Call | None:
        """The site's call as an ast.Call (callee replaced by a placeholder name)."""
        if site.args_span[0] < 0:
            return None
        key = (site.file, site.args_span[0], -site.args_span[1])
        node = self.exprs.get(key, _MISSING)
        if node is _MISSING:
            text = self.files[site.file].source[site.args_span[0]:site.args_span[1]].decode("utf-8", "replace")
            node = _quick_call(text)
            if node is None:
                if not text.startswith("("):
                    text = f"({text})"  # a generator argument: f(x for x in y)
                parsed = self._parse(f"_{text}")
                node = parsed if isinstance(parsed, ast.Call) else None
            self.exprs[key] = node
        return node  # type: ignore[return-value]

    def _site_func(self, site: _Site) -> frozenset:
        if (site.func_type == "identifier" or site.func_type == "attribute") and _DOTTED.match(site.text):
            return self.ev_dotted(site.text, site.scope)
        node = self.expr(site.file, site.func_span[0], site.func_span[1])
        return self.ev(node, site.scope) if node is not None else EMPTY

    def _site_changed(self, index: int, atoms: list[tuple]) -> None:
        """New callee types at a site: its arguments flow into the parameters of the
        repo functions it reaches (counted in phase 1, flowing in phase 2)."""
        flowed = self.flowed.setdefault(index, set())
        for atom in atoms:
            for fid, bound, _ in self._flow_targets(atom):
                if (fid, bound) in flowed:
                    continue
                flowed.add((fid, bound))
                self.incoming.setdefault(fid, {})[(index, bound)] = None
                if self.flows_on and fid in self.flow_enabled:
                    for param_index, name, kind in self.active_params.get(fid, {}).values():
                        self.push(("fl", index, bound, fid, param_index, name, kind))

    def _flow_targets(self, atom: tuple) -> list[tuple[str, int, int]]:
        if atom[0] == C:
            return [(f, 1, atom[1]) for f in self._member_funcs(self.by_n[atom[1]].id, "__init__")]
        funcs = self._call_funcs(atom)
        if atom[0] == SEQ:
            return funcs[:1]  # nn.Sequential: the input goes to the first module only
        return funcs

    def targets(self, atoms: frozenset) -> tuple[list[str], str | None]:
        """Repo chunk ids called (classes instantiated) and the external name, if any."""
        out: set[str] = set()
        externals: set[str] = set()
        for a in atoms:
            kind = a[0]
            if kind == C:
                out.add(self.by_n[a[1]].id)
            elif kind == F or kind == I or kind == W or kind == SEQ:
                funcs = self._call_funcs(a)
                out.update(f for f, _, _ in funcs)
                if (kind == I or kind == W) and not funcs:
                    cid = self.by_n[a[1]].id
                    ext = self._external_base(cid) if self.module_like.get(cid) else None
                    if ext is not None:
                        externals.add(f"{ext}.__call__")
                elif kind == SEQ and not funcs and a[1] != 0:
                    # `nn.Sequential(nn.Linear(...), nn.GELU())`: library modules only.
                    externals.add(f"{self.strs[a[1]]}.__call__")
            elif kind == X or kind == XB:
                if a != self.unknown_external:
                    externals.add(self.strs[a[1]])
            elif kind == XR:
                dotted = self.strs[a[1]]
                if dotted.rsplit(".", 1)[-1][:1].isupper():
                    externals.add(f"{dotted}.__call__")
            elif kind == CM:
                cont = a[1]
                if cont[0] == TUP:
                    origin = "builtins.tuple"
                elif cont[1] == 0:
                    origin = "builtins.list" if cont[0] == SEQ else "builtins.dict"
                else:
                    origin = self.strs[cont[1]]
                externals.add(f"{origin}.{self.strs[a[2]]}")
        return sorted(t for t in out if t in self.chunks), (min(externals) if externals else None)

    # ---- results -----------------------------------------------------------------------

    def looks_repo(self, site: _Site, atoms: frozenset) -> bool:
        """Whether an unresolved site looks like a call into the repository: its callee
        has repo types, or is rooted in `self`, in a name defined nowhere, or in a value
        with repo types (a repo module, class, instance)."""
        if any(a[0] in _REPO_KINDS for a in atoms):
            return True
        if site.decorator:
            return False
        if (site.func_type == "identifier" or site.func_type == "attribute") and _DOTTED.match(site.text):
            node: ast.expr | None = _quick_expr(site.text)
        else:
            node = self.expr(site.file, site.func_span[0], site.func_span[1])
        if node is None:
            return False
        if isinstance(node, ast.Name):
            return self._lookup(site.scope, node.id) is None
        if isinstance(node, ast.Subscript):
            # `REGISTRY[key](...)`: a registry that is a repo global or on self.
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                if any(a[0] in _REPO_KINDS for a in self.ev(base, site.scope)):
                    return True
                base = base.value
            if not isinstance(base, ast.Name):
                return False
            found = self._lookup(site.scope, base.id)
            if found is None:
                return True
            return type(found) is tuple and (
                self.scopes[found[1]].kind == "module" or self._is_self(site.scope, base.id)
            )
        if not isinstance(node, ast.Attribute):
            return False
        # `a.b.c(...)`: the attribute is missing on a repo value somewhere down the
        # chain of attributes, or the chain starts at self or at an undefined name. A
        # call or subscript result of unknown type ends the chain: not counted.
        receiver = node.value
        while True:
            if any(a[0] in _REPO_KINDS for a in self.ev(receiver, site.scope)):
                return True
            if isinstance(receiver, ast.Attribute):
                receiver = receiver.value
                continue
            if isinstance(receiver, ast.Name):
                return self._lookup(site.scope, receiver.id) is None or self._is_self(site.scope, receiver.id)
            return False

    def _is_self(self, scope_id: str, name: str) -> bool:
        scope = self.scopes[scope_id]
        return scope.kind == "function" and self._self_class(scope, name) is not None

    def collect(self) -> Graph:
        chunks = self.chunks
        edges: set[Edge] = set()
        rows: dict[str, list[tuple[int, int, CallSite]]] = {}
        unresolved: list[tuple[str, int, int, CallSite]] = []
        per_key: dict[tuple, tuple[tuple[str, ...], str | None, EdgeKind, list[bool]]] = {}
        paths = [f.path for f in self.files]
        values = self.values
        calls_kind, inst_kind = EdgeKind.CALLS, EdgeKind.INSTANTIATES
        for i, site in enumerate(self.sites):
            key = self.site_keys[i]
            resolved = per_key.get(key)
            if resolved is None:
                targets, external = self.targets(values.get(key, EMPTY))
                kinds = [chunks[t].kind is ChunkKind.CLASS for t in targets]
                kind = inst_kind if targets and all(kinds) else calls_kind
                resolved = (tuple(targets), external, kind, kinds)
                per_key[key] = resolved
            targets, external, kind, kinds = resolved
            if site.decorator and not targets and (
                external is not None or not self.looks_repo(site, values.get(key, EMPTY))
            ):
                continue  # applying a library decorator is not a call worth listing
            text = site.text
            if "\n" in text or "  " in text:
                text = " ".join(text.split())
            call = CallSite(site.caller, site.line, text, targets, kind, site.context, external)
            rows.setdefault(site.caller, []).append((site.line, site.pos, call))
            path = paths[site.file]
            if not targets:
                if external is None and self.looks_repo(site, values.get(key, EMPTY)):
                    unresolved.append((path, site.line, site.pos, call))
                continue
            for target, is_class in zip(targets, kinds):
                edges.add(Edge(site.caller, target, inst_kind if is_class else calls_kind, path, site.line))
        for call, path, pos in self._property_calls():
            rows.setdefault(call.caller, []).append((call.line, pos, call))
            for target in call.targets:
                edges.add(Edge(call.caller, target, EdgeKind.CALLS, path, call.line))
        imports, import_names = self._imports(edges)
        self._class_edges(edges)
        self._references(edges)
        calls = {caller: [r[2] for r in sorted(lst, key=lambda r: (r[0], r[1]))]
                 for caller, lst in sorted(rows.items())}
        unresolved.sort(key=lambda r: (r[0], r[1], r[2]))
        ordered = sorted(edges, key=lambda e: (e.source, e.line, e.target, e.kind.value, e.path))
        constructed: dict[str, set[str]] = {}
        for edge in ordered:
            if edge.kind is EdgeKind.INSTANTIATES:
                constructed.setdefault(edge.target, set()).add(edge.source)
        facts = _Facts(self._fact_data(constructed))
        return Graph(chunks=chunks, edges=ordered, calls=calls, unresolved=[r[3] for r in unresolved],
                     imports=imports, import_names=import_names, facts=facts)

    def _property_calls(self) -> Iterator[tuple[CallSite, str, int]]:
        """Reading `self.prop` runs the property's getter: a call."""
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            contexts = None
            for si, ctx, name, pos, line in fs.self_attrs:
                if name not in self.method_names or (fi, pos) in self.write_spans:
                    continue
                scope = self.scopes[ids[si]]
                if scope.kind != "function":
                    continue
                cid = self._self_class(scope, "self")
                owner = self._owner(cid, name) if cid is not None else None
                if owner is None:
                    continue
                props = sorted(self.by_n[a[1]].id for a in self.get(("v", owner, name))
                               if a[0] == F and self.by_n[a[1]].property)
                if not props:
                    continue
                if contexts is None:
                    contexts = _context_texts(fs.contexts)
                yield (CallSite(scope.id, line, f"self.{name}", tuple(props), EdgeKind.CALLS,
                                contexts[ctx] if ctx >= 0 else "", None), fs.path, pos)

    def _module_dotted(self, ref: ModuleRef) -> str:
        if not ref.is_namespace and ref.path in self.module_of_path:
            return self.module_of_path[ref.path]
        folder = ref.path
        if "src" in self.index.roots and folder.startswith("src/"):
            folder = folder[4:]
        return folder.replace("/", ".")

    def _imports(self, edges: set[Edge]) -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
        imports: dict[str, list[str]] = {}
        names: dict[str, dict[str, str]] = {}
        for fi, fs in enumerate(self.files):
            module = self.file_scopes[fi][0]
            dotted_all: set[str] = set()
            local: dict[str, str] = {}
            for si, line, items in sorted(fs.imports, key=lambda r: r[1]):
                for item in items:
                    targets: list[str] = []
                    if item.kind == "module":
                        ref = self._resolve_import_module(fi, 0, item.module)
                        dotted = item.module
                        if ref is not None:
                            targets.append(self._module_id(ref))
                        bound = item.name
                    else:
                        ref = self._resolve_import_module(fi, item.level, item.module)
                        if ref is not None:
                            base = self._module_dotted(ref)
                            targets.append(self._module_id(ref))
                            sub = self.index.submodule(ref, item.name) if item.kind == "from" else None
                            if sub is not None:
                                targets.append(self._module_id(sub))
                        else:
                            base = "." * item.level + item.module
                        dotted = f"{base}.{item.name}" if base else item.name
                        bound = dotted
                    dotted_all.add(dotted)
                    if item.kind != "star":
                        local[item.local] = bound
                    for target in targets:
                        if target != module and target in self.chunks:
                            edges.add(Edge(module, target, EdgeKind.IMPORTS, fs.path, line))
            imports[module] = sorted(dotted_all)
            names[module] = dict(sorted(local.items()))
        return imports, names

    def _class_edges(self, edges: set[Edge]) -> None:
        for cid in sorted(self.mro):
            chunk = self.chunks.get(cid)
            if chunk is None:
                continue
            for base in self._base_entries(cid):
                if not base.startswith("x:") and base in self.chunks:
                    edges.add(Edge(cid, base, EdgeKind.INHERITS, chunk.path, chunk.start))
        for sid, scope in self.scopes.items():
            if scope.cls is None or sid not in self.chunks:
                continue
            name = scope.rec.name
            owner = self._owner(scope.cls, name, skip_first=True)
            if owner is None:
                continue
            for a in sorted(self.get(("v", owner, name))):
                if a[0] != F:
                    continue
                base = self.by_n[a[1]]
                if base.id in self.chunks and base.cls == owner:
                    chunk = self.chunks[sid]
                    edges.add(Edge(sid, base.id, EdgeKind.OVERRIDES, chunk.path, chunk.start))

    def _references(self, edges: set[Edge]) -> None:
        """Repo functions and classes named without being called: stored in a registry,
        aliased, passed as an argument (`partial(f)`, `register(f)`), returned.

        The values of assignments, returns and call arguments are scanned for names
        (string literals removed) that end in a repo function, method or class name;
        each is then resolved in its scope, exactly, like any other name.
        """
        functions = {n.encode() for n in self.def_names}
        methods = {n.encode() for n in self.method_names}
        if not functions and not methods:
            return
        memo: dict[tuple[str, str], list[str]] = {}
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            src = fs.source
            # A call's arguments are scanned once, as the call's; a value that is a call
            # (`x = f(g)`) is covered by them.
            spans: list[tuple[int, int, int]] = []
            spans.extend((r[0], r[5], r[6]) for r in fs.assigns if r[5] >= 0 and r[10] not in _NOT_SCANNED)
            spans.extend((r[0], r[1], r[2]) for r in fs.returns if r[3] not in _NOT_SCANNED)
            spans.extend((r[0], r[5], r[6]) for r in fs.calls if r[6] - r[5] > 2)
            newlines: list[int] | None = None
            for si, start, end in spans:
                text = src[start:end]
                if b"'" in text or b'"' in text:
                    text = _STRINGS.sub(b"''", text)
                for found in _REF_CHAIN.finditer(text):
                    last = found.group(2)
                    # Module-level functions and classes by any name; methods as `self.m`.
                    if last not in functions and not (last in methods and found.group(1).startswith(b"self")):
                        continue
                    chain = found.group(1).decode("utf-8", "replace")
                    scope = self._names_scope(fi, si).id
                    caller = ids[si]
                    chain = "".join(chain.split())
                    targets = memo.get((scope, chain))
                    if targets is None:
                        targets = sorted(
                            self.by_n[a[1]].id for a in self.ev_dotted(chain, scope)
                            if (a[0] == F or a[0] == C) and self.by_n[a[1]].id in self.chunks
                        )
                        memo[(scope, chain)] = targets
                    if not targets:
                        continue
                    if newlines is None:
                        newlines = [m.start() for m in re.finditer(b"\n", src)]
                    line = bisect_left(newlines, start + found.start()) + 1
                    for target in targets:
                        if target != caller:
                            edges.add(Edge(caller, target, EdgeKind.REFERENCES, fs.path, line))

    def _fact_data(self, constructed: dict[str, set[str]]) -> _FactData:
        data = _FactData(sources=[f.source for f in self.files])
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            for si, sid in enumerate(ids):
                rec = fs.scopes[si]
                data.scopes[sid] = (fi, rec.params, rec.returns)
            src = fs.source
            for si, start, end, _ in fs.returns:
                data.returned.setdefault(ids[si], []).append((start, end))
            for si, start, end in fs.raises:
                data.raises.setdefault(ids[si], []).append((start, end))
            written_at: set[int] = set()
            writes: list[tuple[int, str, str]] = []  # (position, chunk, name)
            for si, line, ls, le, ltype, rs, re_, ts, te, op, _ in fs.assigns:
                sid = ids[si]
                if ltype == "attribute":
                    found = _SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
                    if found is not None and found.group(1) == "self":
                        writes.append((ls, sid, found.group(2)))
                        if op == "=":
                            written_at.add(ls)
                elif ltype in _UNPACKED and op == "=":
                    # `self.a, self.b = ...`: each element that is exactly `self.name`.
                    for found in _SELF_TARGET.finditer(src, ls, le):
                        writes.append((found.start(), sid, found.group(1).decode()))
                        written_at.add(found.start())
                elif ltype == "identifier" and ts >= 0 and fs.scopes[si].kind == "class":
                    data.fields.setdefault(sid, []).append(
                        Param(src[ls:le].decode("utf-8", "replace"), _text(src, ts, te),
                              _text(src, rs, re_) if rs >= 0 else None, "positional"))
            for _, sid, name in sorted(writes):
                data.writes.setdefault(sid, {})[name] = None
            for si, ctx, name, pos, line in sorted(fs.self_attrs, key=lambda r: r[3]):
                if pos not in written_at:
                    data.reads.setdefault(ids[si], {})[name] = None
        data.constructed = {k: tuple(sorted(v)) for k, v in constructed.items()}
        data.mro = {cid: self._repo_mro(cid) for cid in self.mro}
        data.decorators = {sid: s.decorators for sid, s in self.scopes.items() if s.kind == "class"}
        return data


_PARAM_NESTED = re.compile(rb"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}|'[^']*'|\"[^\"]*\"")
_PARAM_NAME = re.compile(rb"(?:^|,)\s*\**\s*([A-Za-z_]\w*)")
_SIMPLE_DEFAULT = r"(?:[\w.]+|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")"
_SIMPLE_PARAMS = re.compile(
    rf"\(\s*(?:\**[A-Za-z_]\w*\s*(?:=\s*{_SIMPLE_DEFAULT}\s*)?,\s*)*"
    rf"(?:\**[A-Za-z_]\w*\s*(?:=\s*{_SIMPLE_DEFAULT}\s*)?)?\)\Z"
)


def _scan_param_names(text: bytes) -> frozenset[str]:
    """Parameter names of `(a, b: Dict[str, int] = {}, *c, **d)` without parsing:
    bracketed and quoted parts are removed, then the name after each comma is taken."""
    inner = text[1:-1]
    while True:
        stripped = _PARAM_NESTED.sub(b"", inner)
        if stripped == inner:
            break
        inner = stripped
    return frozenset(m.group(1).decode() for m in _PARAM_NAME.finditer(inner))


def _quick_params(text: str) -> ast.arguments | None:
    """`(self, x, k=1, *args, **kwargs)` as ast.arguments without the parser, when no
    parameter is annotated and every default is a name or a number."""
    if not _SIMPLE_PARAMS.match(text):
        return None
    args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                         kwarg=None, defaults=[])
    keyword_only = False
    for piece in text[1:-1].split(","):
        piece = piece.strip()
        if not piece:
            continue
        name, _, default = piece.partition("=")
        name, default = name.strip(), default.strip()
        value: ast.expr | None = None
        if default:
            if default[0].isdigit() or default[0] == "-":
                value = ast.Constant(0)
            elif default[0] in ("'", '"'):
                value = ast.Constant("")
            else:
                value = _quick_expr(default)
        if name.startswith("**"):
            args.kwarg = ast.arg(name[2:].strip())
        elif name.startswith("*"):
            args.vararg = ast.arg(name[1:].strip())
            keyword_only = True
        elif keyword_only:
            args.kwonlyargs.append(ast.arg(name))
            args.kw_defaults.append(value)
        else:
            args.args.append(ast.arg(name))
            if value is not None:
                args.defaults.append(value)
            elif args.defaults:
                return None  # a default before a non-default: let the parser judge
    return args


def _parse_params(text: str) -> ast.arguments | None:
    """A parameter list `(a, b: int = 1, *c, **d)` as ast.arguments (None if invalid)."""
    return _parse_params_text(f"def _{text}: pass")


def _parse_params_text(text: str) -> ast.arguments | None:
    try:
        fn = ast.parse(text).body[0]
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a default nested too deeply
        return None
    return fn.args if isinstance(fn, ast.FunctionDef) else None


_SUBSCRIPT = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\[(.*)\]\s*\Z", re.DOTALL)


def _quick_expr(text: str) -> ast.expr | None:
    """A dotted name as an ast node, without the parser; None for anything else."""
    text = text.strip()
    if not _DOTTED.match(text):
        return None
    parts = text.split(".")
    node: ast.expr = ast.Name(parts[0])
    for part in parts[1:]:
        node = ast.Attribute(node, part)
    return node


def _quick_call(args: str) -> ast.Call | None:
    """`(a, b.c, k=v, 3, "s")` as an ast.Call of `_`, without the parser, when every
    argument is a dotted name, a number or a simple string; None otherwise."""
    if len(args) > 200 or args[:1] != "(" or args[-1:] != ")":
        return None
    inner = args[1:-1]
    if not _SIMPLE_ARGS.match(inner):
        return None
    call = ast.Call(ast.Name("_"), [], [])
    for piece in inner.split(","):
        piece = piece.strip()
        if not piece:
            continue
        name, eq, value_text = piece.partition("=")
        if not eq:
            name, value_text = "", name
        value_text = value_text.strip()
        first = value_text[:1]
        value: ast.expr | None
        if first.isdigit() or first == "-":
            value = ast.Constant(0)
        elif first in ("'", '"'):
            value = ast.Constant("")
        else:
            value = _quick_expr(value_text)
            if value is None:
                return None
        if name:
            call.keywords.append(ast.keyword(name.strip(), value))
        elif call.keywords:
            return None
        else:
            call.args.append(value)
    return call


_SIMPLE_ARGS = re.compile(
    r"\s*(?:(?:[A-Za-z_]\w*\s*=\s*)?(?:[A-Za-z_][\w.]*|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")\s*"
    r"(?:,\s*(?:[A-Za-z_]\w*\s*=\s*)?(?:[A-Za-z_][\w.]*|-?\d[\w.]*|'[^'\\,=]*'|\"[^\"\\,=]*\")\s*)*,?\s*)?\Z"
)


# A name or dotted chain used as a value: not called, not a keyword, not a prefix.
_REF_CHAIN = re.compile(
    rb"(?<![\w.])((?:[A-Za-z_]\w*\s*\.\s*)*([A-Za-z_]\w*))(?!\s*\(|\w|\s*\.|\s*=(?!=))"
)
_STRINGS = re.compile(
    rb"[rbfuRBFU]{0,2}(?:\'\'\'.*?\'\'\'|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\")",
    re.DOTALL,
)


def _text(source: bytes, start: int, end: int) -> str | None:
    if start < 0:
        return None
    return " ".join(source[start:end].decode("utf-8", "replace").split())


def _param(arg: ast.arg, default: ast.expr | None, kind: str, text: str) -> Param:
    """A parameter with its annotation and default as written in `text` (the source
    the nodes were parsed from)."""

    def written(node: ast.expr | None) -> str | None:
        if node is None:
            return None
        segment = ast.get_source_segment(text, node)
        return " ".join(segment.split()) if segment is not None else ast.unparse(node)

    return Param(arg.arg, written(arg.annotation), written(default), kind)


def _context_texts(contexts: list[tuple[str, int]]) -> list[str]:
    """Each context as its chain of headers, outermost first, joined by "; "."""
    out: list[str] = []
    for header, parent in contexts:
        out.append(f"{out[parent]}; {header}" if parent >= 0 else header)
    return out


@dataclass
class _FactData:
    """Plain data the facts are computed from, grouped by chunk id."""

    sources: list[bytes]
    scopes: dict[str, tuple[int, tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    returned: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    raises: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    reads: dict[str, dict[str, None]] = field(default_factory=dict)  # ordered sets, source order
    writes: dict[str, dict[str, None]] = field(default_factory=dict)
    fields: dict[str, list[Param]] = field(default_factory=dict)
    constructed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mro: dict[str, tuple[str, ...]] = field(default_factory=dict)
    decorators: dict[str, tuple[str, ...]] = field(default_factory=dict)


class _Facts(Mapping[str, ChunkFacts]):
    """ChunkFacts by chunk id, each computed on first access from plain data."""

    def __init__(self, data: _FactData) -> None:
        self._data = data
        self._done: dict[str, ChunkFacts] = {}

    def __getitem__(self, chunk_id: str) -> ChunkFacts:
        done = self._done.get(chunk_id)
        if done is not None:
            return done
        if chunk_id not in self._data.scopes:
            raise KeyError(chunk_id)
        facts = self._compute(chunk_id)
        self._done[chunk_id] = facts
        return facts

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._data.scopes))

    def __len__(self) -> int:
        return len(self._data.scopes)

    def _params(self, chunk_id: str) -> tuple[Param, ...]:
        fi, params, _ = self._data.scopes[chunk_id]
        if params[0] < 0:
            return ()
        text = f"def _{self._data.sources[fi][params[0]:params[1]].decode('utf-8', 'replace')}: pass"
        args = _parse_params_text(text)
        if args is None:
            return ()
        out: list[Param] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults)):
            kind = "positional_only" if i < len(args.posonlyargs) else "positional"
            out.append(_param(arg, default, kind, text))
        if args.vararg is not None:
            out.append(_param(args.vararg, None, "var_positional", text))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            out.append(_param(arg, default, "keyword_only", text))
        if args.kwarg is not None:
            out.append(_param(args.kwarg, None, "var_keyword", text))
        return tuple(out)

    def _compute(self, chunk_id: str) -> ChunkFacts:
        data = self._data
        fi, _, ret = data.scopes[chunk_id]
        src = data.sources[fi]
        params = self._params(chunk_id)
        if chunk_id in data.mro:  # a class: its constructor's parameters
            params = ()
            for cid in data.mro[chunk_id]:
                init = f"{cid}.__init__"
                if init in data.scopes:
                    params = self._params(init)[1:]
                    break
            else:
                if any(d.split("(")[0].endswith("dataclass") for d in data.decorators.get(chunk_id, ())):
                    params = tuple(data.fields.get(chunk_id, ()))
        returned = tuple(dict.fromkeys(_text(src, s, e) or "" for s, e in data.returned.get(chunk_id, ())))
        raises = []
        for s, e in data.raises.get(chunk_id, ()):
            text = _text(src, s, e) or ""
            raises.append(text.split("(", 1)[0].strip())
        return ChunkFacts(
            id=chunk_id,
            params=params,
            returns=_text(src, *ret) if ret[0] >= 0 else None,
            returned=returned,
            raises=tuple(dict.fromkeys(raises)),
            reads=tuple(data.reads.get(chunk_id, ())),
            writes=tuple(data.writes.get(chunk_id, ())),
            constructed_by=data.constructed.get(chunk_id, ()),
        )


def build_graph(scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols]) -> Graph:
    """The repository's symbol graph from every file's symbols (see module docstring).

    Deterministic: files, sites and edges are processed and returned in sorted order.
    """
    # The build allocates millions of small tuples that live until it returns; the
    # cyclic collector would walk them all again and again (it doubled the build
    # time), and the build makes no garbage cycles worth collecting.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(scan, chunks, symbols)
    finally:
        if enabled:
            gc.enable()


def _build(scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols]) -> Graph:
    builder = _Builder(scan, chunks, symbols)
    builder.setup()
    # Phase 0: base classes and MROs.
    builder.solve_bases()
    # Types read while bases were solved saw no MRO yet: start the next phase clean.
    builder.values = {k: v for k, v in builder.values.items() if k[0] == "b"}
    builder.readers = {}
    builder.param_reads = {}
    # Phase 1: every call site, without flows into parameters.
    for key in builder.key_sites:
        builder.push(key)
    builder.run()
    # Phase 2: flows into the parameters of functions with few callers.
    builder.enable_flows()
    builder.run()
    return builder.collect()
