"""The resolver's shared state: scopes, call sites, and the tables every part reads.

`BuildState` holds the repository's tables for one `build_graph` call. The resolver is
one object composed of parts, one per concern and module (solver, scopes, bind,
modules, expressions, members, calls, flows, results, facts); each part reads and
writes the tables declared here and calls the others' methods by name.
"""

from __future__ import annotations

import ast
from collections import deque
from typing import NamedTuple

from localread.data import Chunk
from localread.repo.configs import ConfigFiles
from localread.repo.graph.atoms import EXTERNAL, EXTERNAL_RESULT, MISSING, normalize
from localread.repo.graph.library import PROPERTY_DECORATORS
from localread.repo.graph.model import FileSymbols, ScopeRec
from localread.repo.imports import ImportItem, ModuleIndex
from localread.repo.scan import Scan

# A memo's "not computed yet" (None is a computed answer there).
UNSET = object()


class ParamName(NamedTuple):
    """A parameter's name and kind (what resolution needs of it)."""

    name: str
    kind: str


class Scope:
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
        self.n = n  # the id interned: how atoms name this scope
        self.kind = kind
        self.file = file
        self.module = module
        self.parent: str | None = None
        self.rec = rec
        self.names: dict[str, None] = {}
        self.globals: set[str] = set()
        self.chain: tuple[str, ...] = ()  # scopes searched for a name used here
        self.cls: str | None = None  # the class of a method
        self.params: list[tuple[ParamName, ast.arg | None, ast.expr | None]] | None = None
        self.param_names: frozenset[str] = frozenset()
        self.decorators = decorators
        short = {d.split("(")[0].rsplit(".", 1)[-1] for d in decorators}
        self.static = "staticmethod" in short
        self.classmethod = "classmethod" in short
        self.property = any(p in short for p in PROPERTY_DECORATORS)
        self.stars: list[ImportItem] = []
        self.all_nodes: list[tuple[int, int, int]] = []  # __all__ assignments (module)


class Site(NamedTuple):
    """A call site (or a decorator application) as the solver sees it."""

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


class BuildState:
    """The tables of one build. Keys and sources are described in `solver`."""

    # Every table is declared here, and the parts add none of their own (each has
    # `__slots__ = ()`): the shared state is all in one place, and slots are quicker
    # to read than a dict of fifty attributes.
    __slots__ = (
        "active",
        "active_params",
        "bases",
        "built",
        "built_subclasses",
        "by_n",
        "call_at",
        "chunks",
        "config_args",
        "config_targets",
        "configs",
        "configs_on",
        "def_names",
        "depth",
        "exports_memo",
        "exprs",
        "file_scopes",
        "files",
        "flow_acc",
        "flow_enabled",
        "flowed",
        "flows_on",
        "incoming",
        "index",
        "key_sites",
        "lookups",
        "method_names",
        "module_like",
        "module_of_path",
        "mro",
        "owners",
        "param_reads",
        "queue",
        "queued",
        "reader",
        "readers",
        "receivers",
        "repo_mro",
        "scopes",
        "self_fallback",
        "site_keys",
        "sites",
        "sources",
        "star_targets",
        "stars_memo",
        "str_atom",
        "str_ids",
        "strs",
        "unknown_external",
        "unknown_missing",
        "values",
        "write_spans",
        "xattrs",
    )

    def __init__(self, scan: Scan, chunks: dict[str, Chunk], symbols: dict[str, FileSymbols],
                 configs: ConfigFiles | None = None) -> None:
        self.chunks = chunks
        self.files: list[FileSymbols] = [symbols[p] for p in sorted(symbols)]
        self.index = ModuleIndex([f.path for f in self.files], scan.layout.src_layout, scan.root.name)
        # Interned strings: atoms hold ints, `strs[n]` is the text.
        self.strs: list[str] = [""]
        self.str_ids: dict[str, int] = {"": 0}
        self.unknown_external = (EXTERNAL, self.intern("?"))
        self.unknown_missing = (MISSING, self.intern("?"))
        self.str_atom = frozenset(((EXTERNAL_RESULT, self.intern("builtins.str")),))
        # Scopes, by id and by interned id; per file, scope index -> scope id.
        self.scopes: dict[str, Scope] = {}
        self.by_n: dict[int, Scope] = {}
        self.file_scopes: list[list[str]] = []
        self.module_of_path: dict[str, str] = {}
        # The fixed point (solver): each key's sources, its value so far, the keys that
        # read it; the keys being computed, the one computing now, the nesting depth.
        self.sources: dict[tuple, list[tuple]] = {}
        self.values: dict[tuple, frozenset] = {}
        self.readers: dict[tuple, dict[tuple, None]] = {}
        self.active: set[tuple] = set()
        self.reader: tuple | None = None
        self.depth = 0
        self.queue: deque[tuple] = deque()
        self.queued: set[tuple] = set()
        # Call sites; per site its solver key, shared by equal callees in one scope.
        self.sites: list[Site] = []
        self.site_keys: list[tuple] = []
        self.key_sites: dict[tuple, list[int]] = {}
        self.call_at: dict[tuple[int, int, int], int] = {}  # (file, call start, call end) -> site
        # Flows into parameters (flows): the sites that reach each function with how
        # many parameters bound, per site the functions it reached, the phase switch,
        # the functions flows run into, parameters read before phase 2, the parameters
        # asked for, and their accumulated types.
        self.incoming: dict[str, dict[tuple[int, int], None]] = {}
        self.flowed: dict[int, set[tuple[str, int]]] = {}
        self.flows_on = False
        self.flow_enabled: set[str] = set()
        self.param_reads: dict[tuple, None] = {}
        self.active_params: dict[str, dict[tuple, tuple[int, str, str]]] = {}
        self.flow_acc: dict[tuple, frozenset] = {}
        # Dispatch through `self` (scopes.self_types): per method, the classes of the
        # receivers it is called on; the phase switch after which a method no call
        # reaches with a receiver takes its own class and the subclasses built.
        self.receivers: dict[str, set[int]] = {}
        self.self_fallback = False
        self.built: set[int] = set()  # classes called at some site
        self.built_subclasses: dict[str, set[int]] = {}  # class id -> subclasses built
        # Memos: parsed expressions by (file, start, end), name lookups, star imports,
        # attribute owners, external attributes, exports.
        self.exprs: dict[tuple[int, int, int], ast.expr | None] = {}
        self.lookups: dict[tuple[str, str], object] = {}
        self.stars_memo: dict[tuple[str, str], object] = {}
        self.star_targets: dict[str, list[tuple[str | None, str]]] = {}
        self.owners: dict[tuple[str, str, bool], str | None] = {}
        self.xattrs: dict[tuple[int, str], int] = {}
        self.exports_memo: dict[str, frozenset[str]] = {}
        # Classes (members), fixed after phase 0: MROs (external bases as "x:dotted"),
        # the repo classes in them, which are nn.Modules, the types of each base.
        self.mro: dict[str, tuple[str, ...]] = {}
        self.repo_mro: dict[str, tuple[str, ...]] = {}
        self.module_like: dict[str, bool] = {}
        self.bases: dict[str, list[frozenset]] = {}
        # For results: names of module-level defs and of methods, attribute write spans.
        self.def_names: set[str] = set()
        self.method_names: set[str] = set()
        self.write_spans: set[tuple[int, int]] = set()
        # YAML configs (configured): the files, whether there are any, each config
        # mapping's target by (atom, file), and per function the argument mappings
        # that configs building it give: (path n, mapping node, hydra style, file).
        self.configs = configs if configs is not None else ConfigFiles(scan.root, scan.layout.configs)
        self.configs_on = bool(self.configs)
        self.config_targets: dict[tuple, object] = {}
        self.config_args: dict[str, set[tuple[int, int, bool, int]]] = {}

    def intern(self, text: str) -> int:
        n = self.str_ids.get(text)
        if n is None:
            n = len(self.strs)
            self.strs.append(text)
            self.str_ids[text] = n
        return n

    def external(self, dotted: str) -> tuple:
        """The atom of an external object by dotted name."""
        return (EXTERNAL, self.intern(dotted))

    def normalized(self, atoms: frozenset) -> frozenset:
        return normalize(atoms, self.unknown_external, self.unknown_missing)
