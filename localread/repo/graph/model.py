"""The graph's records: what `extract_file` keeps of a file, and what `build_graph` returns.

Plain values only. The per-file records hold byte offsets into `FileSymbols.source`
(-1 = absent) and `scope`, an index into `FileSymbols.scopes` (entry 0 is the module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple

from localread.data import Chunk, Edge, EdgeKind
from localread.repo.imports import ImportItem

# --------------------------------------------------------------------------------------
# What build_graph returns
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

    keyed: for a call through a registry with literal keys indexed by a computed key
    (`MODELS[args.model](...)`), the targets of each key, in key order; `targets`
    holds them all. () otherwise.

    configured: for a call that builds what a YAML config names
    (`instantiate_from_config(config.model)`), the repo chunks built, each with where
    the config names it ("`target:` at configs/latent.yaml:2"), in file and line
    order; `targets` holds them too. () otherwise.
    """

    caller: str
    line: int
    text: str
    targets: tuple[str, ...]
    kind: EdgeKind
    context: str
    external: str | None
    keyed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    configured: tuple[tuple[str, str], ...] = ()


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


@dataclass
class Graph:
    """The repository's symbol graph.

    edges: deduplicated, sorted by (source, line, target, kind). calls: the call sites
    of each caller id, in source order. unresolved: the sites that look like calls into
    the repository (rooted in a repo module or class instance, in `self`, or a bare
    name defined nowhere) but resolve to nothing, in (path, line) order. imports: for
    each module id, the dotted names its file imports, absolute (relative imports
    resolved), sorted. import_names: for each module id, {local name: dotted name} of
    its module-level imports. shadowed: for each function chunk id, the names of those
    imports that a binding in the function (or a function enclosing it) shadows, sorted
    (`diffusion = create_diffusion(...)` beside `import diffusion`). facts: ChunkFacts
    by chunk id, computed on first access.
    """

    chunks: dict[str, Chunk]
    edges: list[Edge]
    calls: dict[str, list[CallSite]]
    unresolved: list[CallSite]
    imports: dict[str, list[str]] = field(default_factory=dict)
    import_names: dict[str, dict[str, str]] = field(default_factory=dict)
    shadowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
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
# What extract_file keeps of one file
# --------------------------------------------------------------------------------------


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


class CallRec(NamedTuple):
    """A call `func(args)` (a generator argument stands for the argument list)."""

    scope: int
    line: int
    func_start: int
    func_end: int
    func_type: str  # the callee's tree-sitter node type
    args_start: int
    args_end: int
    context: int  # index into `contexts`, -1 at the top of the body


class AssignRec(NamedTuple):
    """`left = right`, `left: type = right`, `left: type` or `left op= right`."""

    scope: int
    line: int
    left_start: int
    left_end: int
    left_type: str
    right_start: int  # the innermost value of a chain `a = b = value`
    right_end: int
    type_start: int
    type_end: int
    op: str  # "=" or the augmented operator ("+=")
    right_type: str


class LoopRec(NamedTuple):
    """`for left in right` (statements and comprehension clauses)."""

    scope: int
    left_start: int
    left_end: int
    right_start: int
    right_end: int
    right_type: str


class WithRec(NamedTuple):
    """`with value as alias`."""

    scope: int
    alias_start: int
    alias_end: int
    value_start: int
    value_end: int
    value_type: str


class WalrusRec(NamedTuple):
    """`(name := value)`."""

    scope: int
    name: str
    value_start: int
    value_end: int
    value_type: str


class ImportRec(NamedTuple):
    """One import statement and the names it binds."""

    scope: int
    line: int
    items: tuple[ImportItem, ...]


class NameRec(NamedTuple):
    """A name: bound without a value (lambda parameters, `except ... as`), or declared
    `global`."""

    scope: int
    name: str


class DecoratorRec(NamedTuple):
    """`@expr` above a definition."""

    scope: int
    line: int
    start: int
    end: int
    decorated: int  # the scope index of the definition, -1 if none follows


class ReturnRec(NamedTuple):
    """`return value`."""

    scope: int
    start: int
    end: int
    value_type: str


class RaiseRec(NamedTuple):
    """`raise value`."""

    scope: int
    start: int
    end: int


class SelfAttrRec(NamedTuple):
    """`self.name`, read or written."""

    scope: int
    context: int
    name: str
    start: int  # where `self` starts
    line: int


class ContextRec(NamedTuple):
    """A loop or branch header (`for block in self.blocks`, `else`) in a call outline."""

    header: str
    parent: int  # the enclosing context, -1 for none


class FileSymbols(NamedTuple):
    """What `extract_file` keeps of one file: plain data, byte spans into `source`."""

    path: str
    module: str
    source: bytes
    scopes: list[ScopeRec]
    calls: list[CallRec]
    assigns: list[AssignRec]
    loops: list[LoopRec]
    withs: list[WithRec]
    walrus: list[WalrusRec]
    imports: list[ImportRec]
    bound: list[NameRec]
    globals: list[NameRec]
    decorators: list[DecoratorRec]
    returns: list[ReturnRec]
    raises: list[RaiseRec]
    self_attrs: list[SelfAttrRec]
    contexts: list[ContextRec]

    def __reduce__(self) -> tuple:
        # The worker processes send these back pickled: each list of records goes as
        # columns of plain values, since NamedTuples pickled one by one cost about five
        # times as much as plain tuples, in the worker and in the parent.
        columns = tuple(list(zip(*records)) for records in self[3:])
        return (_unpickle_symbols, (self.path, self.module, self.source, columns))


# The record type of each list field of FileSymbols, in field order.
_RECORD_TYPES = (
    ScopeRec, CallRec, AssignRec, LoopRec, WithRec, WalrusRec, ImportRec, NameRec, NameRec,
    DecoratorRec, ReturnRec, RaiseRec, SelfAttrRec, ContextRec,
)


def _unpickle_symbols(path: str, module: str, source: bytes, columns: tuple) -> FileSymbols:
    """FileSymbols from what `FileSymbols.__reduce__` pickled."""
    new = tuple.__new__
    lists = [list(map(new, repeat(rec), zip(*cols))) for rec, cols in zip(_RECORD_TYPES, columns)]
    return FileSymbols(path, module, source, *lists)


def context_texts(contexts: list[ContextRec]) -> list[str]:
    """Each context as its chain of headers, outermost first, joined by "; "."""
    out: list[str] = []
    for header, parent in contexts:
        out.append(f"{out[parent]}; {header}" if parent >= 0 else header)
    return out
