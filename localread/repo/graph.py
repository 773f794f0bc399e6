"""The symbol graph: who imports, calls, builds, references, inherits and overrides whom.

Two functions, called by `analysis.analyze`:

- `extract_file(tree, source, file, chunks)` reads one parsed file with a single
  tree-sitter query (python-symbols.scm) and returns `FileSymbols`: plain data (byte
  spans into the source, names, small tuples), no tree nodes, so the tree can be
  dropped at once.
- `build_graph(scan, chunks, symbols)` resolves names across the repository and
  returns a `Graph`: edges, every call site with its resolved targets, the calls it
  could not resolve, the names each module imports, and per-chunk facts.

Resolution is static and exact, never a guess. A light type inference runs as a
worklist fixed point over plain data: a variable's types are the union of the types
of every value bound to it (assignments, loop targets, parameters' annotations and
defaults, arguments at the repo call sites that reach the parameter, `return`
values). Expressions are read with Python's own `ast` from the byte spans tree-sitter
found, lazily, only when a type is asked for. What the engine cannot resolve stays
unresolved and is counted (`Graph.unresolved`).

Types are small tuples ("atoms"):

    ("m", module)            a repo module (a module chunk id, or "ns:folder")
    ("c", class)             a repo class object
    ("i", class)             an instance of a repo class
    ("w", class)             a repo nn.Module wrapped by DataParallel/DDP/FSDP
    ("f", func, bound, recv) a repo function or method; bound=1 skips the first
                             parameter; recv is the class it was looked up on ("")
    ("x", dotted)            an external object (module, class, function)
    ("xr", dotted)           what calling the external `dotted` returned
    ("xb", dotted, atom)     external method `dotted` bound to a repo instance
    ("seq", origin, elems)   list/tuple/set/ModuleList/Sequential of elems
    ("dict", origin, elems)  dict/ModuleDict whose values are elems
    ("tup", (elems, ...))    a tuple of known length
    ("ns", module)           a module's namespace (`mod.__dict__`, `vars(mod)`)
    ("sup", class, recv)     `super()` inside class; recv "i" (instance) or "c"
    ("cm", container, name)  a method of a container (`d.get`, `xs.append`)
"""

from __future__ import annotations

import ast
import builtins
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
    writes: attributes of `self` read / assigned, sorted. constructed_by: for a class,
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
    query, tags = _query_tags()
    by_key: dict[tuple[str, int], Chunk] = {}
    mains: dict[int, Chunk] = {}
    module_chunk = chunks[0] if chunks else None
    for chunk in chunks:
        if chunk.kind is ChunkKind.MAIN:
            mains[chunk.start] = chunk
        elif chunk.kind is not ChunkKind.MODULE:
            by_key[(chunk.name, chunk.end)] = chunk
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
            chunk = by_key.get((name, node.end_point[0] + 1))
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

EMPTY: frozenset = frozenset()
_BUILTINS = frozenset(dir(builtins))
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_SELF_ATTR = re.compile(r"([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)\Z")
_MUTATORS = {
    # method -> (argument index, ops): how `x.method(...)` adds to what x holds
    "append": (0, (("wrap", "seq"),)),
    "add": (0, (("wrap", "seq"),)),
    "extend": (0, (("iter",), ("wrap", "seq"))),
    "insert": (1, (("wrap", "seq"),)),
    "update": (0, (("values",), ("wrap", "dict"))),
    "setdefault": (1, (("wrap", "dict"),)),
}
_MAX_DEPTH = 60  # nested on-demand evaluations before deferring to the worklist
_MAX_NEST = 3  # containers of containers deeper than this are dropped
_MAX_OUTSIDE = 8  # more external/missing names than this in one value widen to "unknown"
_MAX_DOTS = 8  # longer external dotted names widen to "unknown"
_UNKNOWN_EXTERNAL = ("x", "?")
_UNKNOWN_MISSING = ("miss", "?")

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
    "builtins.classmethod", "functools.lru_cache", "functools.cache", "functools.wraps",
    "typing.cast",
})
_SEQ_BUILTINS = frozenset({
    "builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset", "builtins.sorted",
    "builtins.reversed", "builtins.iter", "collections.deque",
})
_DICT_BUILTINS = frozenset({
    "builtins.dict", "collections.OrderedDict", "collections.defaultdict", "torch.nn.ModuleDict",
})
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
_STR = frozenset((("xr", "builtins.str"),))
_DOTTED_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Node types whose value has no type the resolver uses (numbers, arithmetic, tests).
_NO_VALUE_TYPES = frozenset({
    "integer", "float", "true", "false", "none", "binary_operator", "comparison_operator",
    "not_operator", "unary_operator", "lambda", "ellipsis",
})
# External callables whose result depends on their arguments (see _external_call).
_NEEDS_ARGS = frozenset({
    "torch.nn.ModuleList", "torch.nn.modules.container.ModuleList", "torch.nn.Sequential",
    "torch.nn.modules.container.Sequential", "builtins.enumerate", "builtins.zip", "builtins.next",
    "builtins.getattr", "builtins.super", "builtins.type", "builtins.vars", "builtins.globals",
    "importlib.import_module",
})
_NEEDS_ARGS = _NEEDS_ARGS | _IDENTITY | _DP_WRAPPERS | _DICT_BUILTINS | _SEQ_BUILTINS
_REPO_KINDS = frozenset({"m", "c", "i", "w", "f", "ns", "sup", "miss"})


def _norm(atoms: frozenset) -> frozenset:
    """Merge containers of one kind and origin, and widen many external (or missing)
    names into one unknown, so that unions stay small and loops like
    `while ...: f = f.__wrapped__` reach a fixed point."""
    if len(atoms) < 2:
        return atoms
    containers = 0
    outside = 0
    for a in atoms:
        kind = a[0]
        if kind in ("seq", "dict", "tup"):
            containers += 1
        elif kind in ("x", "xr", "miss", "cm"):
            outside += 1
    # Once widened, a value stays widened: the unknown absorbs every later name, so
    # that values only grow and the fixed point is reached.
    if outside > _MAX_OUTSIDE or (
        outside > 1 and (_UNKNOWN_EXTERNAL in atoms or _UNKNOWN_MISSING in atoms)
    ):
        widened = {a for a in atoms if a[0] not in ("x", "xr", "miss", "cm")}
        if any(a[0] in ("x", "xr", "cm") for a in atoms):
            widened.add(_UNKNOWN_EXTERNAL)
        if any(a[0] == "miss" for a in atoms):
            widened.add(_UNKNOWN_MISSING)
        atoms = frozenset(widened)
    if containers < 2:
        return atoms
    merged: dict[tuple, frozenset] = {}
    tups: dict[int, list[frozenset]] = {}
    for a in atoms:
        if a[0] == "tup":
            n = len(a[1])
            if n in tups:
                tups[n] = [x | y for x, y in zip(tups[n], a[1])]
            else:
                tups[n] = list(a[1])
        elif a[0] in ("seq", "dict"):
            key = (a[0], a[1])
            merged[key] = merged.get(key, EMPTY) | a[2]
    # Elements added by mutation ("*") join whatever concrete container holds them.
    for kind in ("seq", "dict"):
        star = merged.get((kind, "*"))
        others = [k for k in merged if k[0] == kind and k[1] != "*"]
        if star is not None and others:
            del merged[(kind, "*")]
            for k in others:
                merged[k] = merged[k] | star
    out = {a for a in atoms if a[0] not in ("seq", "dict", "tup")}
    out.update((k[0], k[1], _norm(v)) for k, v in merged.items())
    out.update(("tup", tuple(_norm(x) for x in v)) for v in tups.values())
    return frozenset(out)


def _depth(atom: tuple) -> int:
    if atom[0] == "cm":
        return _depth(atom[1])
    if atom[0] in ("seq", "dict"):
        return 1 + max((_depth(a) for a in atom[2]), default=0)
    if atom[0] == "tup":
        return 1 + max((_depth(a) for elems in atom[1] for a in elems), default=0)
    return 0


def _seq(origin: str, elems: frozenset) -> tuple:
    return ("seq", origin, frozenset(a for a in elems if _depth(a) < _MAX_NEST))


def _dict(origin: str, elems: frozenset) -> tuple:
    return ("dict", origin, frozenset(a for a in elems if _depth(a) < _MAX_NEST))


def _elems(atoms: frozenset) -> frozenset:
    """What iterating over a value gives."""
    out: set = set()
    for a in atoms:
        if a[0] == "seq":
            out.update(a[2])
        elif a[0] == "tup":
            for elems in a[1]:
                out.update(elems)
    return frozenset(out)


def _values(atoms: frozenset) -> frozenset:
    """The values of a mapping (or of a list of (key, value) pairs)."""
    out: set = set()
    for a in atoms:
        if a[0] == "dict":
            out.update(a[2])
        elif a[0] == "seq":
            for pair in a[2]:
                if pair[0] == "tup" and len(pair[1]) == 2:
                    out.update(pair[1][1])
    return frozenset(out)


class _Scope:
    """A name scope during the build (a chunk: module, class, function, main block)."""

    __slots__ = (
        "id", "kind", "file", "module", "parent", "rec", "names", "globals", "chain", "cls",
        "params", "param_names", "decorators", "stars", "all_nodes",
    )

    def __init__(self, sid: str, kind: str, file: int, module: str, rec: ScopeRec,
                 decorators: tuple[str, ...]) -> None:
        self.id = sid
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
        self.stars: list[ImportItem] = []
        self.all_nodes: list[tuple[str, int, int]] = []  # __all__ assignments (module)


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


_MISSING = object()


class _Builder:
    """Holds the repository's tables and solves types to a fixed point."""

    def __init__(self, scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols]) -> None:
        self.chunks = chunks
        self.files: list[FileSymbols] = [symbols[p] for p in sorted(symbols)]
        self.index = ModuleIndex([f.path for f in self.files], scan.layout.src_layout, scan.root.name)
        self.scopes: dict[str, _Scope] = {}
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
        self.incoming: dict[str, dict[tuple[int, int], None]] = {}
        self.flowed: dict[int, set[tuple[str, int]]] = {}
        self.exprs: dict[tuple[int, int, int], ast.expr | None] = {}
        self.lookups: dict[tuple[str, str], object] = {}
        self.mro: dict[str, tuple[str, ...]] = {}
        self.repo_mro: dict[str, tuple[str, ...]] = {}
        self.module_like: dict[str, bool] = {}
        self.bases: dict[str, list[frozenset]] = {}
        self.exports_memo: dict[str, frozenset[str]] = {}
        self.def_names: set[str] = set()
        self.method_names: set[str] = set()
        self.write_spans: set[tuple[int, int]] = set()
        self.call_at: dict[tuple[int, int, int], int] = {}  # (file, call start, call end) -> site

    # ---- setup ------------------------------------------------------------------

    def setup(self) -> None:
        final: dict[tuple[str, str, str, int, int], str] = {}
        for chunk in self.chunks.values():
            final[(chunk.path, chunk.kind.value, chunk.name, chunk.start, chunk.end)] = chunk.id
        kinds = {"module": "module", "class": "class", "function": "function", "main": "main"}
        for fi, fs in enumerate(self.files):
            ids: list[str] = []
            for si, rec in enumerate(fs.scopes):
                if si == 0:
                    kind_value = "module"
                    sid = final.get((fs.path, "module", rec.name, rec.start_line, rec.end_line))
                    if sid is None:
                        sid = next((c.id for c in self.chunks.values()
                                    if c.path == fs.path and c.kind is ChunkKind.MODULE), rec.chunk)
                else:
                    kind_value = kinds[rec.kind]
                    sid = None
                    for ck in ((ChunkKind.MAIN.value,) if rec.kind == "main" else
                               (ChunkKind.CLASS.value,) if rec.kind == "class" else
                               (ChunkKind.FUNCTION.value, ChunkKind.METHOD.value)):
                        sid = final.get((fs.path, ck, rec.name, rec.start_line, rec.end_line))
                        if sid is not None:
                            break
                    if sid is None:
                        sid = rec.chunk
                ids.append(sid)
                chunk = self.chunks.get(sid)
                scope = _Scope(sid, kind_value, fi, ids[0], rec, chunk.decorators if chunk else ())
                self.scopes[sid] = scope
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
        sid = scope.parent
        while sid is not None and sid != scope.module:
            s = self.scopes[sid]
            if s.kind == "function":
                chain.append(sid)
            sid = s.parent
        chain.append(scope.module)
        return tuple(chain)

    def _names_scope(self, fi: int, si: int) -> _Scope:
        sid = self.file_scopes[fi][si]
        scope = self.scopes[sid]
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
            parent = self._names_scope(fi, rec.parent if rec.parent >= 0 else 0)
            if any(d.endswith((".setter", ".deleter")) for d in scope.decorators):
                continue
            if rec.kind == "class":
                self.def_names.add(rec.name)
                atom = ("c", scope.id)
            else:
                if parent.kind == "class":
                    self.method_names.add(rec.name)
                elif parent.kind == "module":
                    self.def_names.add(rec.name)
                atom = ("f", scope.id, 0, "")
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
                if scope.kind == "class" and value is None:
                    # A field declaration (`x: Model`): instances have it, the class not.
                    if ann is not None:
                        self.sources.setdefault(("ia", scope.id, name), []).append(ann)
                    continue
                if scope.kind == "class" and ann is not None:
                    self.sources.setdefault(("ia", scope.id, name), []).append(ann)
                    ann = None
                if name == "__all__" and scope.kind == "module" and value is not None:
                    scope.all_nodes.append((fi, rs, re_))
                self._bind(scope, name, value)
                if ann is not None:
                    self._bind(scope, name, ann)
            elif ltype == "attribute":
                self.write_spans.add((fi, ls))
                m = _SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
                if m is None:
                    continue
                owner = self._self_class(scope, m.group(1))
                if owner is None:
                    continue
                key = ("ia", owner, m.group(2))
                lst = self.sources.setdefault(key, [])
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
                sub = source[:-1] + (source[-1] + (op,),)
                self._bind_target(fi, scope, 0, 0, elt, sub)
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
        kind = "seq" if found.group(2).strip().lstrip("-").isdigit() else "dict"
        self.sources.setdefault(key, []).append(value[:-1] + (value[-1] + (("wrap", kind),),))

    def _container_key(self, scope: _Scope, node: ast.expr) -> tuple | None:
        """The variable a mutated container lives in: a name or `self.attr`."""
        if isinstance(node, ast.Name):
            found = self._lookup(scope.id, node.id)
            return found if isinstance(found, tuple) else None
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
                if params and params[0][0].name == name and params[0][0].kind in (
                    "positional", "positional_only"
                ) and not self._is_static(s) and not self._is_classmethod(s):
                    return s.cls
                return None
            if name in s.names or name in s.param_names:
                return None
            s = self.scopes.get(s.parent) if s.parent else None
        return None

    def _sites_of_file(self, fi: int, fs: FileSymbols) -> None:
        ids = self.file_scopes[fi]
        src = fs.source
        contexts = _context_texts(fs.contexts)
        for si, line, fs_, fe, ftype, as_, ae, ctx in fs.calls:
            text = src[fs_:fe].decode("utf-8", "replace")
            caller = ids[si]
            names = self._names_scope(fi, si)
            site_index = len(self.sites)
            self.call_at[(fi, fs_, ae)] = site_index
            self.sites.append(_Site(fi, names.id, caller, line, fs_, text, ftype, (fs_, fe), (as_, ae),
                                    EMPTY, contexts[ctx] if ctx >= 0 else "", False))
            if ftype == "attribute":
                base, _, method = text.rpartition(".")
                spec = _MUTATORS.get(method.strip())
                if spec is not None and base:
                    node = _quick_expr(base)
                    key = self._container_key(names, node) if node is not None else None
                    if key is not None:
                        self.sources.setdefault(key, []).append(("arg", site_index, spec[0], spec[1]))
                    if method.strip() in ("extend", "append") and base.strip() == "__all__":
                        self.scopes[names.module].all_nodes.append((fi, as_, ae))
        for si, line, start, end, decorated in fs.decorators:
            if decorated < 0:
                continue
            target = self.scopes[ids[decorated]]
            atom = ("c", target.id) if target.kind == "class" else ("f", target.id, 0, "")
            names = self._names_scope(fi, si)
            text = src[start:end].decode("utf-8", "replace")
            self.sites.append(_Site(fi, names.id, ids[si], line, start, text, "decorator",
                                    (start, end), (-1, -1), frozenset((atom,)), "", True))

    # ---- parameters and decorators ------------------------------------------------

    def _params(self, scope: _Scope) -> list[tuple[_P, ast.arg | None, ast.expr | None]]:
        """Parameters of a function scope (parsed once); registers their sources."""
        if scope.params is not None:
            return scope.params
        scope.params = []
        if scope.kind != "function" or scope.rec.params[0] < 0:
            return scope.params
        fs = self.files[scope.file]
        text = fs.source[scope.rec.params[0]:scope.rec.params[1]].decode("utf-8", "replace")
        try:
            fn = ast.parse(f"def _{text}: pass").body[0]
        except (SyntaxError, ValueError):
            return scope.params
        assert isinstance(fn, ast.FunctionDef)
        args = fn.args
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
        static, classmethod_ = self._is_static(scope), self._is_classmethod(scope)
        implicit_cls = scope.rec.name in ("__new__", "__init_subclass__", "__class_getitem__")
        for i, (param, arg, default) in enumerate(out):
            key = ("v", scope.id, param.name)
            lst = self.sources.setdefault(key, [])
            if i == 0 and scope.cls is not None and not static and param.kind in (
                "positional", "positional_only"
            ):
                atom = ("c", scope.cls) if classmethod_ or implicit_cls else ("i", scope.cls)
                lst.append(("a", frozenset((atom,))))
                continue
            if arg is not None and arg.annotation is not None:
                lst.append(("ne", arg.annotation, scope.id))
            if default is not None:
                lst.append(("e", default, scope.id, ()))
            if param.kind in ("positional", "positional_only", "keyword_only"):
                lst.append(("p", scope.id, i, param.name, param.kind))
        return out

    def _decorated(self, scope: _Scope, names: tuple[str, ...]) -> bool:
        return any(d.split("(")[0].rsplit(".", 1)[-1] in names for d in scope.decorators)

    def _is_static(self, scope: _Scope) -> bool:
        return self._decorated(scope, ("staticmethod",))

    def _is_classmethod(self, scope: _Scope) -> bool:
        return self._decorated(scope, ("classmethod",))

    def _is_property(self, fid: str) -> bool:
        scope = self.scopes.get(fid)
        return scope is not None and self._decorated(scope, ("property", "cached_property"))

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
        finally:
            self.depth -= 1
            self.active.discard(key)
            self.reader = previous
        old = self.values.get(key)
        if old is not None:
            if new <= old:
                return
            new = _norm(old | new)
            if new == old:
                return
        else:
            new = _norm(new)
        self.values[key] = new
        if key[0] == "s":
            self._site_changed(key[1], new)
        if (old is not None or new) and key in self.readers:
            for r in self.readers[key]:
                self.push(r)

    def evaluate(self, key: tuple) -> frozenset:
        kind = key[0]
        if kind == "s":
            return self._site_func(self.sites[key[1]])
        if kind == "v" and key[1] in self.scopes:
            scope = self.scopes[key[1]]
            if scope.kind == "function":
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
            return self._ops(atoms, src[6], src[4]) if src[6] and atoms else atoms
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
            return self._ops(atoms, src[3], src[2]) if src[3] else atoms
        if kind == "arg":
            site = self.sites[src[1]]
            call = self._site_call(site)
            if call is None or src[2] >= len(call.args) or isinstance(call.args[src[2]], ast.Starred):
                return EMPTY
            return self._ops(self.ev(call.args[src[2]], site.scope), src[3], site.scope)
        return EMPTY

    def _ops(self, atoms: frozenset, ops: tuple, scope: str) -> frozenset:
        for op in ops:
            name = op[0]
            if name == "iter":
                atoms = _elems(atoms)
            elif name == "idx":
                i, n = op[1], op[2]
                out: set = set()
                for a in atoms:
                    if a[0] == "tup":
                        if len(a[1]) == n:
                            out.update(a[1][i])
                    elif a[0] == "seq":
                        out.update(a[2])
                atoms = frozenset(out)
            elif name == "wrap":
                atoms = frozenset((_seq("*", atoms) if op[1] == "seq" else _dict("*", atoms),)) if atoms else (
                    EMPTY
                )
            elif name == "values":
                atoms = _values(atoms)
            elif name == "enter":
                out = set()
                for a in atoms:
                    if a[0] in ("i", "w"):
                        for f in self._member_funcs(a[1], "__enter__"):
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
        except (SyntaxError, ValueError):
            pass
        try:
            return ast.parse(f"(\n{text}\n)", mode="eval").body
        except (SyntaxError, ValueError):
            return None

    def ev(self, node: ast.expr, scope: str) -> frozenset:
        """The types of an expression evaluated in scope."""
        t = type(node)
        if t is ast.Name:
            return self.name_types(scope, node.id)
        if t is ast.Attribute:
            base = self.ev(node.value, scope)
            return self.attr_all(base, node.attr) if base else EMPTY
        if t is ast.Call:
            return self._call_expr(node, scope)
        if t is ast.Subscript:
            base = self.ev(node.value, scope)
            if not base:
                return EMPTY
            out: frozenset = EMPTY
            for a in base:
                got = self._item(a, node.slice, scope)
                if got:
                    out = out | got
            return out
        if t is ast.List or t is ast.Set:
            return frozenset((_seq("builtins.list" if t is ast.List else "builtins.set",
                                   self._union(node.elts, scope)),))
        if t is ast.Tuple:
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return frozenset((_seq("builtins.tuple", self._union(node.elts, scope)),))
            elts = tuple(frozenset(a for a in self.ev(e, scope) if _depth(a) < _MAX_NEST) for e in node.elts)
            return frozenset((("tup", elts),))
        if t is ast.Dict:
            return frozenset((_dict("builtins.dict", self._union([v for v in node.values if v is not None],
                                                                  scope)),))
        if t is ast.ListComp or t is ast.SetComp or t is ast.GeneratorExp:
            return frozenset((_seq("builtins.list", self.ev(node.elt, scope)),))
        if t is ast.DictComp:
            return frozenset((_dict("builtins.dict", self.ev(node.value, scope)),))
        if t is ast.IfExp:
            return self.ev(node.body, scope) | self.ev(node.orelse, scope)
        if t is ast.BoolOp:
            return self._union(node.values, scope)
        if t is ast.Await or t is ast.NamedExpr:
            return self.ev(node.value, scope)
        if t is ast.Starred:
            return _elems(self.ev(node.value, scope))
        if t is ast.Constant:
            return _STR if isinstance(node.value, str) else EMPTY
        if t is ast.JoinedStr:
            return _STR
        return EMPTY

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
        out_atoms: frozenset = EMPTY
        for base in self.ev(node.value, scope):
            if base[0] == "c":  # a generic repo class, `Registry[Model]`
                out_atoms = out_atoms | {("i", base[1])}
                continue
            if base[0] != "x" or not base[1].startswith(_TYPING_MODULES):
                continue
            last = base[1].rsplit(".", 1)[-1]
            if last in ("Optional", "Union"):
                for arg in args:
                    out_atoms = out_atoms | self.ann(arg, scope, depth + 1)
            elif last in _ANN_SAME:
                out_atoms = out_atoms | self.ann(args[0], scope, depth + 1)
            elif last in ("Tuple", "tuple"):
                if any(isinstance(a, ast.Constant) and a.value is Ellipsis for a in args):
                    out_atoms = out_atoms | {_seq("builtins.tuple", self.ann(args[0], scope, depth + 1))}
                else:
                    out_atoms = out_atoms | {("tup", tuple(self.ann(a, scope, depth + 1) for a in args))}
            elif last in _ANN_SEQ:
                out_atoms = out_atoms | {_seq("builtins.list", self.ann(args[0], scope, depth + 1))}
            elif last in _ANN_DICT:
                out_atoms = out_atoms | {_dict("builtins.dict", self.ann(args[-1], scope, depth + 1))}
            elif last in ("Type", "type"):
                out_atoms = out_atoms | frozenset(
                    ("c", a[1]) for a in self.ann(args[0], scope, depth + 1) if a[0] == "i"
                )
        return out_atoms

    @staticmethod
    def _ann_atoms(atoms: frozenset) -> frozenset:
        """A class named in an annotation stands for its instances."""
        out = set()
        for a in atoms:
            if a[0] == "c":
                out.add(("i", a[1]))
            elif a[0] == "x" and a[1] != "?" and not a[1].startswith(("typing.", "typing_extensions.")):
                out.add(("xr", a[1]))
            elif a[0] == "miss":
                out.add(a)
        return frozenset(out)

    def ev_span(self, fi: int, start: int, end: int, scope: str, node_type: str) -> frozenset:
        """The types of the expression at source[start:end], whose tree-sitter node type
        is known: names, dotted names and calls are read without parsing (a call's
        value comes from its call site), the rest through `ast`."""
        if node_type in _NO_VALUE_TYPES:
            return EMPTY
        if node_type in ("string", "concatenated_string"):
            return _STR
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
        func = self.get(("s", index))
        out: frozenset = EMPTY
        for atom in func:
            if atom[0] == "x" and (atom[1] in _NEEDS_ARGS or atom[1].startswith("accelerate.")):
                got = self._call_result(atom, self._site_call(site), site.scope)
            else:
                got = self._call_result(atom, None, site.scope)
            if got:
                out = out | got
        return out

    def _union(self, nodes: list, scope: str) -> frozenset:
        out: frozenset = EMPTY
        for n in nodes:
            got = self.ev(n.value, scope) if isinstance(n, ast.Starred) else self.ev(n, scope)
            if isinstance(n, ast.Starred):
                got = _elems(got)
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
                if s.params is None:
                    self._params(s)
                if name in s.names or name in s.param_names:
                    found = ("v", sid, name)
                    break
            elif name in s.names:
                found = ("v", sid, name)
                break
        if found is None:
            found = self._star_name(scope.module, name, set())
        if found is None and name in _BUILTINS:
            found = frozenset((("x", f"builtins.{name}"),))
        self.lookups[memo_key] = found
        return found

    def _star_name(self, module: str, name: str, seen: set[str]) -> tuple | frozenset | None:
        """A name a module gets from `from x import *` (the last star import that has it)."""
        scope = self.scopes.get(module)
        if scope is None or module in seen:
            return None
        seen.add(module)
        external: str | None = None
        for item in reversed(scope.stars):
            ref = self._resolve_import_module(scope.file, item.level, item.module)
            if ref is None:
                if item.level == 0 and external is None:
                    external = item.module
                continue
            target = self._module_id(ref)
            if name not in self.exports(target):
                continue
            tscope = self.scopes.get(target)
            if tscope is not None and name in tscope.names:
                return ("v", target, name)
            inner = self._star_name(target, name, seen)
            if inner is not None:
                return inner
        if external is not None and name not in _BUILTINS:
            return frozenset((("x", f"{external}.{name}"),))
        return None

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
                            if a[0] == "m":
                                names.update(self.exports(a[1]))
        else:
            names.update(n for n in scope.names if not n.startswith("_"))
            for item in scope.stars:
                ref = self._resolve_import_module(scope.file, item.level, item.module)
                if ref is not None:
                    names.update(self.exports(self._module_id(ref)))
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

    def _repo_rooted(self, fi: int, dotted: str) -> bool:
        """Whether an absolute import that did not resolve names a repo package."""
        top = dotted.split(".", 1)[0]
        return self.index.resolve_absolute(top, self.files[fi].path) is not None

    def _import_types(self, fi: int, item: ImportItem) -> frozenset:
        if item.kind == "module":
            ref = self._resolve_import_module(fi, 0, item.name)
            if ref is not None:
                return frozenset((("m", self._module_id(ref)),))
            if self._repo_rooted(fi, item.name):
                return frozenset((("miss", item.name),))
            return frozenset((("x", item.name),))
        ref = self._resolve_import_module(fi, item.level, item.module)
        if ref is None:
            if item.level or self._repo_rooted(fi, item.module):
                return frozenset((("miss", f"{item.module}.{item.name}"),))
            return frozenset((("x", f"{item.module}.{item.name}" if item.module else item.name),))
        return self._module_attr(self._module_id(ref), item.name)

    def _module_attr(self, module: str, name: str) -> frozenset:
        if module.startswith("ns:"):
            sub = self.index.find(module[3:], name)
            if sub is not None:
                return frozenset((("m", self._module_id(sub)),))
            return frozenset((("miss", f"{module}.{name}"),))
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        if name in scope.names:
            return self.get(("v", module, name))
        if name == "__dict__":
            return frozenset((("ns", module),))
        path = self.files[scope.file].path
        if path.endswith("__init__.py"):
            sub = self.index.find(dirname(path), name)
            if sub is not None:
                return frozenset((("m", self._module_id(sub)),))
        star = self._star_name(module, name, set())
        if star is not None:
            return self.get(star) if type(star) is tuple else star  # type: ignore[return-value]
        return frozenset((("miss", f"{module}.{name}"),))

    # ---- classes -----------------------------------------------------------------------

    def solve_bases(self) -> None:
        """Phase 1: the base classes of every class, then MROs (fixed from here on)."""
        class_ids = sorted(sid for sid, s in self.scopes.items() if s.kind == "class")
        for cid in class_ids:
            scope = self.scopes[cid]
            span = scope.rec.bases
            bases: list[frozenset] = []
            if span[0] >= 0:
                text = self.files[scope.file].source[span[0]:span[1]].decode("utf-8", "replace")
                call = _quick_call(text) or self._parse(f"_{text}")
                if isinstance(call, ast.Call):
                    parent = self.scopes[scope.parent] if scope.parent else self.scopes[scope.module]
                    names = self.scopes[parent.module] if parent.kind == "main" else parent
                    for arg in call.args:
                        if isinstance(arg, ast.Starred):
                            continue
                        key = ("b", cid, len(bases))
                        self.sources[key] = [("e", arg, names.id, ())]
                        bases.append(EMPTY)
            self.bases[cid] = bases
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
            for a in sorted(atoms, key=repr):
                if a[0] == "c" and a[1] != cid:
                    out.append(a[1])
                elif a[0] in ("x", "xr") and a[0] == "x":
                    out.append(f"x:{a[1]}")
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
        ok = True
        while work:
            for seq in work:
                head = seq[0]
                if not any(head in s[1:] for s in work):
                    break
            else:
                ok = False
                break
            result.append(head)
            work = [[x for x in s if x != head] for s in work]
            work = [s for s in work if s]
        if not ok:
            result = [cid]
            for seq in seqs:
                for x in seq:
                    if x not in result:
                        result.append(x)
        mro = tuple(result)
        self.mro[cid] = mro
        self.module_like[cid] = any(
            x.startswith("x:") and (x[2:] in _MODULE_BASES or x[2:].startswith("torch.nn.")
                                    and x[2:] != "torch.nn.Parameter")
            for x in mro
        )
        return mro

    def _repo_mro(self, cid: str) -> tuple[str, ...]:
        found = self.repo_mro.get(cid)
        if found is None:
            found = tuple(x for x in self.mro.get(cid, (cid,)) if not x.startswith("x:"))
            if cid in self.mro:
                self.repo_mro[cid] = found
        return found

    def _external_base(self, cid: str) -> str | None:
        for x in self.mro.get(cid, ()):
            if x.startswith("x:"):
                return x[2:]
        return None

    def _owner(self, cid: str, name: str, skip_first: bool = False) -> str | None:
        """The first repo class in cid's MRO whose body binds name."""
        mro = self._repo_mro(cid)
        for c in mro[1:] if skip_first else mro:
            scope = self.scopes.get(c)
            if scope is not None and name in scope.names:
                return c
        return None

    def _member_funcs(self, cid: str, name: str) -> list[str]:
        owner = self._owner(cid, name)
        if owner is None:
            return []
        return sorted(a[1] for a in self.get(("v", owner, name)) if a[0] == "f")

    def _bind_member(self, atoms: frozenset, recv: str, via_instance: bool) -> frozenset:
        out = set()
        for a in atoms:
            if a[0] == "f":
                scope = self.scopes.get(a[1])
                if scope is not None and self._is_static(scope):
                    out.add(("f", a[1], 0, recv))
                elif scope is not None and self._is_classmethod(scope):
                    out.add(("f", a[1], 1, recv))
                else:
                    out.add(("f", a[1], 1 if via_instance else 0, recv))
            else:
                out.add(a)
        return frozenset(out)

    def _instance_attr(self, atom: tuple, name: str) -> frozenset:
        cid = atom[1]
        owner = self._owner(cid, name)
        if owner is not None:
            members = self.get(("v", owner, name))
            props = [a for a in members if a[0] == "f" and self._is_property(a[1])]
            if props:
                out: frozenset = EMPTY
                for p in props:
                    out = out | self._returns(p[1], cid)
                return out
        found = False
        out = EMPTY
        for c in self._repo_mro(cid):
            key = ("ia", c, name)
            if key in self.sources:
                found = True
                out = out | self.get(key)
        if owner is not None:
            return out | self._bind_member(self.get(("v", owner, name)), cid, True)
        if found:
            return out
        ext = self._external_base(cid)
        if ext is not None:
            return frozenset((("xb", f"{ext}.{name}", atom),))
        return EMPTY

    def _class_attr(self, cid: str, name: str) -> frozenset:
        owner = self._owner(cid, name)
        if owner is not None:
            return self._bind_member(self.get(("v", owner, name)), cid, False)
        ext = self._external_base(cid)
        if ext is not None:
            return frozenset((("x", f"{ext}.{name}"),))
        return EMPTY

    def _super_attr(self, atom: tuple, name: str) -> frozenset:
        cid, recv = atom[1], atom[2]
        owner = self._owner(cid, name, skip_first=True)
        if owner is not None:
            return self._bind_member(self.get(("v", owner, name)), cid, recv == "i")
        mro = self.mro.get(cid, ())
        for x in mro[1:]:
            if x.startswith("x:"):
                if recv == "i":
                    return frozenset((("xb", f"{x[2:]}.{name}", ("i", cid)),))
                return frozenset((("x", f"{x[2:]}.{name}"),))
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
        if kind == "m":
            return self._module_attr(atom[1], name)
        if kind == "i":
            return self._instance_attr(atom, name)
        if kind == "w":
            if name == "module":
                return frozenset((("i", atom[1]),))
            return self._instance_attr(atom, name)
        if kind == "c":
            return self._class_attr(atom[1], name)
        if kind == "x":
            if atom[1] == "?" or atom[1].count(".") >= _MAX_DOTS:
                return frozenset((_UNKNOWN_EXTERNAL,))
            return frozenset((("x", f"{atom[1]}.{name}"),))
        if kind == "xr":
            last = atom[1].rsplit(".", 1)[-1]
            # An instance of an external class (capitalised, by convention): its method.
            return frozenset((("x", f"{atom[1]}.{name}"),)) if last[:1].isupper() else EMPTY
        if kind in ("seq", "dict", "tup"):
            if name in _CONTAINER_METHODS:
                return frozenset((("cm", atom, name),))
            return EMPTY
        if kind == "sup":
            return self._super_attr(atom, name)
        if kind == "miss":
            if atom[1] == "?" or atom[1].count(".") >= _MAX_DOTS:
                return frozenset((_UNKNOWN_MISSING,))
            return frozenset((("miss", f"{atom[1]}.{name}"),))
        return EMPTY

    def _item(self, atom: tuple, index: ast.expr, scope: str) -> frozenset:
        kind = atom[0]
        if kind == "seq":
            return frozenset((atom,)) if isinstance(index, ast.Slice) else atom[2]
        if kind == "dict":
            return atom[2]
        if kind == "tup":
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                i = index.value
                if -len(atom[1]) <= i < len(atom[1]):
                    return atom[1][i]
                return EMPTY
            if isinstance(index, ast.Slice):
                return EMPTY
            return _elems(frozenset((atom,)))
        if kind == "ns":
            return self._public_callables(atom[1])
        if kind in ("i", "w"):
            out: frozenset = EMPTY
            for f in self._member_funcs(atom[1], "__getitem__"):
                out = out | self._returns(f, atom[1])
            return out
        return EMPTY

    def _public_callables(self, module: str) -> frozenset:
        scope = self.scopes.get(module)
        if scope is None:
            return EMPTY
        out: set = set()
        names = set(n for n in scope.names if not n.startswith("_"))
        names.update(n for n in self.exports(module) if not n.startswith("_"))
        for name in sorted(names):
            for a in self._module_attr(module, name):
                if a[0] in ("f", "c"):
                    out.add(a)
        return frozenset(out)

    # ---- calls ---------------------------------------------------------------------------

    def _returns(self, fid: str, recv: str) -> frozenset:
        """What calling fid returns; `self`/`cls` of its class read as the receiver's."""
        ret = self.get(("r", fid))
        if not ret or not recv:
            return ret
        owner = self.scopes[fid].cls if fid in self.scopes else None
        if owner is None or owner == recv or owner not in self._repo_mro(recv):
            return ret
        out = set()
        for a in ret:
            if a == ("i", owner):
                out.add(("i", recv))
            elif a == ("c", owner):
                out.add(("c", recv))
            else:
                out.add(a)
        return frozenset(out)

    def _call_funcs(self, atom: tuple) -> list[tuple[str, int, str]]:
        """The repo functions that run when atom is called: (function id, number of
        leading parameters already bound, receiver class)."""
        kind = atom[0]
        if kind == "f":
            return [(atom[1], atom[2], atom[3])]
        if kind in ("i", "w"):
            cid = atom[1]
            funcs = self._member_funcs(cid, "__call__")
            if not funcs and self.module_like.get(cid):
                funcs = self._member_funcs(cid, "forward")
            return [(f, 1, cid) for f in funcs]
        if kind == "seq" and atom[1] == "torch.nn.Sequential":
            out = []
            for a in sorted(atom[2], key=repr):
                out.extend(self._call_funcs(a))
            return out
        return []

    def _call_expr(self, node: ast.Call, scope: str) -> frozenset:
        func = self.ev(node.func, scope)
        if not func:
            return EMPTY
        out: frozenset = EMPTY
        for a in func:
            got = self._call_result(a, node, scope)
            if got:
                out = out | got
        return out

    def _call_result(self, atom: tuple, node: ast.Call | None, scope: str) -> frozenset:
        kind = atom[0]
        if kind == "c":
            return frozenset((("i", atom[1]),))
        if kind == "f":
            return self._returns(atom[1], atom[3])
        if kind in ("i", "w") or kind == "seq":
            out: frozenset = EMPTY
            for fid, _, recv in self._call_funcs(atom):
                out = out | self._returns(fid, recv)
            return out
        if kind == "x":
            if atom[1] == "?":
                return frozenset((atom,))
            return self._external_call(atom[1], node, scope)
        if kind == "xb":
            method = atom[1].rsplit(".", 1)[-1]
            recv = atom[2]
            return frozenset((recv,)) if method in _SELF_RETURNING else frozenset((("xr", atom[1]),))
        if kind == "cm":
            return self._container_call(atom[1], atom[2], node, scope)
        return EMPTY

    def _arg(self, node: ast.Call | None, i: int, scope: str) -> frozenset:
        if node is None or i >= len(node.args) or isinstance(node.args[i], ast.Starred):
            return EMPTY
        return self.ev(node.args[i], scope)

    def _external_call(self, dotted: str, node: ast.Call | None, scope: str) -> frozenset:
        result = frozenset((("xr", dotted),))
        if node is None:
            return result
        if dotted in _IDENTITY:
            return self._arg(node, 0, scope) or result
        if dotted in _DP_WRAPPERS:
            inner = self._arg(node, 0, scope)
            return frozenset(("w", a[1]) if a[0] == "i" else a for a in inner) or result
        if dotted in ("torch.nn.ModuleList", "torch.nn.modules.container.ModuleList"):
            return frozenset((_seq("torch.nn.ModuleList", _elems(self._arg(node, 0, scope))),))
        if dotted in ("torch.nn.Sequential", "torch.nn.modules.container.Sequential"):
            elems: frozenset = EMPTY
            for arg in node.args:
                got = self.ev(arg.value if isinstance(arg, ast.Starred) else arg, scope)
                if isinstance(arg, ast.Starred):
                    got = _elems(got)
                elif len(node.args) == 1 and any(a[0] == "dict" for a in got):
                    got = _values(got)
                elems = elems | got
            return frozenset((_seq("torch.nn.Sequential", elems),))
        if dotted in _DICT_BUILTINS:
            values = _values(self._arg(node, 0, scope))
            for kw in node.keywords:
                if kw.arg is not None:
                    values = values | self.ev(kw.value, scope)
            if dotted == "collections.defaultdict":
                values = EMPTY
            return frozenset((_dict(dotted, values),))
        if dotted in _SEQ_BUILTINS:
            return frozenset((_seq(dotted, _elems(self._arg(node, 0, scope))),))
        if dotted == "builtins.enumerate":
            return frozenset((_seq(dotted, frozenset((("tup", (EMPTY, _elems(self._arg(node, 0, scope)))),))),))
        if dotted == "builtins.zip":
            parts = tuple(_elems(self._arg(node, i, scope)) for i in range(len(node.args)))
            return frozenset((_seq(dotted, frozenset((("tup", parts),))),))
        if dotted == "builtins.next":
            return _elems(self._arg(node, 0, scope))
        if dotted == "builtins.getattr" and len(node.args) >= 2:
            obj = self._arg(node, 0, scope)
            name = node.args[1]
            out: frozenset = self._arg(node, 2, scope)
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                return out | self.attr_all(obj, name.value)
            for a in obj:
                if a[0] == "m":
                    out = out | self._public_callables(a[1])
            return out
        if dotted == "builtins.super":
            return self._super(node, scope)
        if dotted == "builtins.type" and len(node.args) == 1:
            return frozenset(("c", a[1]) for a in self._arg(node, 0, scope) if a[0] in ("i", "w"))
        if dotted == "builtins.vars":
            return frozenset(("ns", a[1]) for a in self._arg(node, 0, scope) if a[0] == "m")
        if dotted == "builtins.globals":
            return frozenset((("ns", self.scopes[scope].module),))
        if dotted == "importlib.import_module" and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                ref = self._resolve_import_module(self.scopes[scope].file, 0, name.value)
                if ref is not None:
                    return frozenset((("m", self._module_id(ref)),))
            return result
        if dotted.startswith("accelerate.") and dotted.endswith(".prepare"):
            args = tuple(self.ev(a, scope) for a in node.args if not isinstance(a, ast.Starred))
            if len(args) == 1:
                return args[0]
            return frozenset((("tup", args),))
        return result

    def _super(self, node: ast.Call, scope: str) -> frozenset:
        if len(node.args) >= 2:
            recv = "i" if any(a[0] == "i" for a in self._arg(node, 1, scope)) else "c"
            return frozenset(("sup", a[1], recv) for a in self._arg(node, 0, scope) if a[0] == "c")
        s = self.scopes[scope]
        while s.kind == "function" and s.cls is None and s.parent:
            s = self.scopes[s.parent]
        if s.kind != "function" or s.cls is None:
            return EMPTY
        recv = "c" if self._is_classmethod(s) else "i"
        return frozenset((("sup", s.cls, recv),))

    def _container_call(self, cont: tuple, method: str, node: ast.Call | None, scope: str) -> frozenset:
        kind = cont[0]
        if method == "copy":
            return frozenset((cont,))
        if kind == "dict":
            if method in ("get", "pop"):
                return cont[2] | self._arg(node, 1, scope)
            if method == "setdefault":
                return cont[2] | self._arg(node, 1, scope)
            if method == "values":
                return frozenset((_seq("builtins.list", cont[2]),))
            if method == "items":
                return frozenset((_seq("builtins.list", frozenset((("tup", (EMPTY, cont[2])),))),))
            return EMPTY
        if kind == "seq" and method == "pop":
            return cont[2]
        return EMPTY

    def _param_flows(self, fid: str, index: int, name: str, kind: str) -> frozenset:
        """Types of the arguments that repo call sites pass to this parameter."""
        incoming = self.incoming.get(fid)
        # Read the incoming list as a dependency, so new call sites re-evaluate us.
        self.get(("in", fid))
        if not incoming:
            return EMPTY
        out: frozenset = EMPTY
        for site_index, bound in list(incoming):
            site = self.sites[site_index]
            if site.decorator:
                if kind != "keyword_only" and index - bound == 0:
                    out = out | site.const_args
                continue
            call = self._site_call(site)
            if call is None:
                continue
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
            if node is not None:
                got = self.ev(node, site.scope)
                if got:
                    out = out | got
        return out

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
        text = site.text
        if site.func_type in ("identifier", "attribute") and _DOTTED.match(text):
            return self.ev_dotted(text, site.scope)
        node = self.expr(site.file, site.func_span[0], site.func_span[1])
        return self.ev(node, site.scope) if node is not None else EMPTY

    def _site_changed(self, index: int, atoms: frozenset) -> None:
        """New callee types at a site: its arguments now flow into the parameters of
        the repo functions it reaches."""
        site = self.sites[index]
        flowed = self.flowed.setdefault(index, set())
        for atom in atoms:
            for fid, bound, _recv in self._flow_targets(atom, site.decorator):
                if (fid, bound) in flowed:
                    continue
                flowed.add((fid, bound))
                self.incoming.setdefault(fid, {})[(index, bound)] = None
                key = ("in", fid)
                if key in self.readers:
                    for r in self.readers[key]:
                        self.push(r)

    def _flow_targets(self, atom: tuple, decorator: bool) -> list[tuple[str, int, str]]:
        if atom[0] == "c":
            return [(f, 1, atom[1]) for f in self._member_funcs(atom[1], "__init__")]
        funcs = self._call_funcs(atom)
        if atom[0] == "seq":
            return funcs[:1]  # nn.Sequential: the input goes to the first module only
        return funcs

    def targets(self, atoms: frozenset) -> tuple[list[str], str | None]:
        """Repo chunk ids called (classes instantiated) and the external name, if any."""
        out: set[str] = set()
        externals: set[str] = set()
        for a in atoms:
            kind = a[0]
            if kind == "c":
                out.add(a[1])
            elif kind in ("f", "i", "w", "seq"):
                funcs = self._call_funcs(a)
                out.update(f for f, _, _ in funcs)
                if kind in ("i", "w") and not funcs and self.module_like.get(a[1]):
                    ext = self._external_base(a[1])
                    if ext is not None:
                        externals.add(f"{ext}.__call__")
            elif kind == "x" or kind == "xb":
                if a[1] != "?":
                    externals.add(a[1])
            elif kind == "xr":
                if a[1].rsplit(".", 1)[-1][:1].isupper():
                    externals.add(f"{a[1]}.__call__")
            elif kind == "cm":
                origin = a[1][1] if a[1][0] in ("seq", "dict") else "builtins.tuple"
                if origin == "*":
                    origin = "builtins.list" if a[1][0] == "seq" else "builtins.dict"
                externals.add(f"{origin}.{a[2]}")
        return sorted(t for t in out if t in self.chunks), (min(externals) if externals else None)

    # ---- results -----------------------------------------------------------------------

    def _root_name(self, node: ast.expr) -> str | None:
        while True:
            if isinstance(node, ast.Name):
                return node.id
            if isinstance(node, (ast.Attribute, ast.Subscript)):
                node = node.value
            elif isinstance(node, ast.Call):
                node = node.func
            else:
                return None

    def looks_repo(self, site: _Site, atoms: frozenset) -> bool:
        """Whether an unresolved site looks like a call into the repository: its callee
        has repo types, or is rooted in `self`, in a name defined nowhere, or in a value
        with repo types (a repo module, class, instance)."""
        if any(a[0] in _REPO_KINDS for a in atoms):
            return True
        if site.decorator:
            return False
        if site.func_type in ("identifier", "attribute") and _DOTTED.match(site.text):
            node: ast.expr | None = _quick_expr(site.text)
        else:
            node = self.expr(site.file, site.func_span[0], site.func_span[1])
        if node is None:
            return False
        root = self._root_name(node)
        if root is None:
            return False
        if self._lookup(site.scope, root) is None:
            return True
        scope = self.scopes[site.scope]
        if scope.kind == "function" and self._self_class(scope, root) is not None:
            return True
        # Any prefix of the callee chain with repo types.
        inner = node
        while True:
            if isinstance(inner, (ast.Attribute, ast.Subscript)):
                inner = inner.value
            elif isinstance(inner, ast.Call):
                inner = inner.func
            else:
                break
            if any(a[0] in _REPO_KINDS for a in self.ev(inner, site.scope)):
                return True
        return False

    def collect(self) -> Graph:
        chunks = self.chunks
        edges: set[Edge] = set()
        rows: dict[str, list[tuple[int, int, CallSite]]] = {}
        unresolved: list[tuple[str, int, int, CallSite]] = []
        for i, site in enumerate(self.sites):
            atoms = self.values.get(("s", i), EMPTY)
            targets, external = self.targets(atoms)
            if site.decorator and not targets and (external is not None or not self.looks_repo(site, atoms)):
                continue  # applying a library decorator is not a call worth listing
            kinds = [chunks[t].kind is ChunkKind.CLASS for t in targets]
            kind = EdgeKind.INSTANTIATES if targets and all(kinds) else EdgeKind.CALLS
            text = " ".join(site.text.split())
            call = CallSite(site.caller, site.line, text, tuple(targets), kind, site.context, external)
            rows.setdefault(site.caller, []).append((site.line, site.pos, call))
            path = self.files[site.file].path
            if not targets and external is None and self.looks_repo(site, atoms):
                unresolved.append((path, site.line, site.pos, call))
            for target, is_class in zip(targets, kinds):
                edges.add(Edge(site.caller, target, EdgeKind.INSTANTIATES if is_class else EdgeKind.CALLS,
                               path, site.line))
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
                if (fi, pos) in self.write_spans:
                    continue
                scope = self.scopes[ids[si]]
                if scope.kind != "function" or name not in self.method_names:
                    continue
                cid = self._self_class(scope, "self")
                owner = self._owner(cid, name) if cid is not None else None
                if owner is None:
                    continue
                props = sorted(a[1] for a in self.get(("v", owner, name))
                               if a[0] == "f" and self._is_property(a[1]))
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
        if self.index.roots and "src" in self.index.roots and folder.startswith("src/"):
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
                if a[0] == "f" and a[1] in self.chunks and self.scopes[a[1]].cls == owner:
                    chunk = self.chunks[sid]
                    edges.add(Edge(sid, a[1], EdgeKind.OVERRIDES, chunk.path, chunk.start))

    def _references(self, edges: set[Edge]) -> None:
        """Repo functions and classes named without being called: stored in a registry,
        aliased, passed as an argument (`partial(f)`, `register(f)`), returned.

        The values of assignments, returns and call arguments are scanned for names
        (string literals removed) that end in a repo function, method or class name;
        each is then resolved in its scope, exactly, like any other name.
        """
        wanted = self.def_names | self.method_names
        if not wanted:
            return
        for fi, fs in enumerate(self.files):
            ids = self.file_scopes[fi]
            src = fs.source
            spans: list[tuple[int, int, int]] = []
            spans.extend((r[0], r[5], r[6]) for r in fs.assigns if r[5] >= 0)
            spans.extend((r[0], r[1], r[2]) for r in fs.returns)
            spans.extend((r[0], r[5], r[6]) for r in fs.calls)
            newlines: list[int] | None = None
            for si, start, end in spans:
                text = src[start:end]
                if b"'" in text or b'"' in text:
                    text = _STRINGS.sub(b"''", text)
                for found in _REF_CHAIN.finditer(text):
                    chain = found.group(1).decode("utf-8", "replace")
                    if chain.rsplit(".", 1)[-1].strip() not in wanted:
                        continue
                    scope = self._names_scope(fi, si).id
                    caller = ids[si]
                    targets = sorted(a[1] for a in self.ev_dotted("".join(chain.split()), scope)
                                     if a[0] in ("f", "c") and a[1] in self.chunks and a[1] != caller)
                    if not targets:
                        continue
                    if newlines is None:
                        newlines = [m.start() for m in re.finditer(b"\n", src)]
                    line = bisect_left(newlines, start + found.start()) + 1
                    for target in targets:
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
            for si, line, ls, le, ltype, rs, re_, ts, te, op, _ in fs.assigns:
                sid = ids[si]
                if ltype == "attribute":
                    m = _SELF_ATTR.match(src[ls:le].decode("utf-8", "replace"))
                    if m is not None and m.group(1) == "self":
                        data.writes.setdefault(sid, set()).add(m.group(2))
                        if op == "=":
                            written_at.add(ls)
                elif ltype == "identifier" and ts >= 0 and fs.scopes[si].kind == "class":
                    data.fields.setdefault(sid, []).append(
                        Param(src[ls:le].decode("utf-8", "replace"), _text(src, ts, te),
                              _text(src, rs, re_) if rs >= 0 else None, "positional"))
            for si, ctx, name, pos, line in fs.self_attrs:
                if pos not in written_at:
                    data.reads.setdefault(ids[si], set()).add(name)
        data.constructed = {k: tuple(sorted(v)) for k, v in constructed.items()}
        data.mro = {cid: self._repo_mro(cid) for cid in self.mro}
        data.decorators = {sid: s.decorators for sid, s in self.scopes.items() if s.kind == "class"}
        return data


_SUBSCRIPT = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\[(.*)\]\s*\Z", re.S)
_SIMPLE_ARG = re.compile(r"\s*(?:([A-Za-z_]\w*)\s*=(?!=))?\s*([A-Za-z_][\w.]*|-?\d[\w.]*)\s*\Z")


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
    """`(a, b.c, k=v, 3)` as an ast.Call of `_`, without the parser, when every
    argument is a dotted name or a number; None otherwise."""
    if not args.startswith("(") or not args.endswith(")"):
        return None
    inner = args[1:-1]
    if any(c in inner for c in "([{'\"*#:\\"):
        return None
    call = ast.Call(ast.Name("_"), [], [])
    if not inner.strip():
        return call
    pieces = inner.split(",")
    if not pieces[-1].strip():
        pieces.pop()
    for piece in pieces:
        found = _SIMPLE_ARG.match(piece)
        if found is None:
            return None
        value_text = found.group(2)
        value: ast.expr | None
        if value_text[0].isdigit() or value_text[0] == "-":
            value = ast.Constant(0)
        else:
            value = _quick_expr(value_text)
            if value is None:
                return None
        if found.group(1):
            call.keywords.append(ast.keyword(found.group(1), value))
        elif call.keywords:
            return None
        else:
            call.args.append(value)
    return call


# A name or dotted chain used as a value: not called, not a keyword, not a prefix.
_REF_CHAIN = re.compile(
    rb"(?<![\w.])([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)(?!\s*\(|\w|\s*\.|\s*=(?!=))"
)
_STRINGS = re.compile(
    rb"[rbfuRBFU]{0,2}(?:\'\'\'.*?\'\'\'|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\")",
    re.S,
)


def _text(source: bytes, start: int, end: int) -> str | None:
    if start < 0:
        return None
    return " ".join(source[start:end].decode("utf-8", "replace").split())


def _param(arg: ast.arg, default: ast.expr | None, kind: str) -> Param:
    annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
    return Param(arg.arg, annotation, ast.unparse(default) if default is not None else None, kind)


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
    reads: dict[str, set[str]] = field(default_factory=dict)
    writes: dict[str, set[str]] = field(default_factory=dict)
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
        text = self._data.sources[fi][params[0]:params[1]].decode("utf-8", "replace")
        try:
            fn = ast.parse(f"def _{text}: pass").body[0]
        except (SyntaxError, ValueError):
            return ()
        assert isinstance(fn, ast.FunctionDef)
        args = fn.args
        out: list[Param] = []
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        for i, (arg, default) in enumerate(zip(positional, defaults)):
            out.append(_param(arg, default, "positional_only" if i < len(args.posonlyargs) else "positional"))
        if args.vararg is not None:
            out.append(_param(args.vararg, None, "var_positional"))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            out.append(_param(arg, default, "keyword_only"))
        if args.kwarg is not None:
            out.append(_param(args.kwarg, None, "var_keyword"))
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
            reads=tuple(sorted(data.reads.get(chunk_id, ()))),
            writes=tuple(sorted(data.writes.get(chunk_id, ()))),
            constructed_by=data.constructed.get(chunk_id, ()),
        )


def build_graph(scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols]) -> Graph:
    """The repository's symbol graph from every file's symbols (see module docstring).

    Deterministic: files, sites and edges are processed and returned in sorted order.
    """
    builder = _Builder(scan, chunks, symbols)
    builder.setup()
    builder.solve_bases()
    # Types read while bases were solved saw no MRO yet: start the main phase clean.
    builder.values = {k: v for k, v in builder.values.items() if k[0] == "b"}
    builder.readers = {}
    for i in range(len(builder.sites)):
        builder.push(("s", i))
    builder.run()
    return builder.collect()
