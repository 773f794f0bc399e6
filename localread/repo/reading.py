"""The whole reading tree of an entry point: every repository symbol its code leads
to, once, under the step from which a reader meets it.

`reading_tree(repo, entry)` returns the root `Node`. The entry's code is read in
source order and each call into the repository followed depth-first in call-site
order, each symbol once; library calls are not steps. A class is introduced where it
is first built (with its constructor; a class a YAML config names, where the call that
reads the config builds it, after the helper called there), or, when nothing before
built it, just before the first of its methods that runs. The package `__init__.py` a name is imported
through is shown where the import passes through it.

A function or method is read where it is first met, unless another path reaches it
through fewer conditional branches and no more calls: a function first met on a rare
branch (`if args.render_only: render_path(...)`) that the main path also calls
directly is read on the main path. With `shallowest` (a depth limit), the path with
the fewest calls wins instead. Calls are counted below the entry's main code: the
module, its `__main__` block, the functions that block hands control to, and what
pytest or torch.hub run of an entry (`entries.entry_runs`) cost none.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from localread.data import Chunk, ChunkKind, EdgeKind, Step
from localread.repo.analysis import Repo
from localread.repo.choices import registry_choice
from localread.repo.entries import EntryPoint, conftests, entry_runs, pytest_fixtures
from localread.repo.graph import CallSite


class Via(StrEnum):
    """How a step is reached from the step above it."""

    ENTRY = "entry"
    MAIN = "main"  # a module's `if __name__ == "__main__":` block
    RUNNER = "runner"  # a test function pytest runs, a function torch.hub calls
    FIXTURE = "fixture"  # a pytest fixture set up for a test
    CALL = "call"
    BUILD = "build"  # a class instantiated
    CONSTRUCTOR = "constructor"
    DEFINES = "defines"  # a class introduced before the first of its methods that runs
    REEXPORT = "reexport"  # a package __init__ the import passes through


@dataclass(frozen=True, slots=True)
class Edge:
    """target is reached from a chunk at site (None for edges no call makes); cost: the
    calls it adds below the main code (0 for scaffolding and constructors); note: words
    added to the reason."""

    target: Chunk
    via: Via
    cost: int
    site: CallSite | None = None
    note: str = ""
    named: str = ""  # where a config names the target: "`target:` at configs/x.yaml:2"


@dataclass(eq=False, slots=True)
class Node:
    """A step of the tree. calls / branches: calls below the main code and conditional
    branches passed on its path; rank: its place among its parent's children (the
    index of the call that reaches it); order: its place in reading order."""

    chunk: Chunk
    parent: Node | None
    via: Via
    reason: str
    edge: Edge | None = None
    rank: tuple[int, int] = (0, 0)
    calls: int = 0
    branches: int = 0
    switches: int = 0  # of those branches, how many test a configuration (`if args.masks:`)
    depth: int = 0
    order: int = 0
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        """Pre-order: the reading order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def step(self) -> Step:
        c = self.chunk
        return Step(c.id, c.kind, c.path, c.start, c.end, self.depth, self.reason)


def reading_tree(repo: Repo, entry: EntryPoint, *, shallowest: bool = False) -> Node:
    """The root of entry's reading tree (see the module docstring); its nodes are in
    reading order under `Node.walk`."""
    return _Builder(repo, entry, shallowest).build()


class _Builder:
    def __init__(self, repo: Repo, entry: EntryPoint, shallowest: bool) -> None:
        self.repo = repo
        self.entry = entry
        self.shallowest = shallowest
        self.chunks = repo.chunks
        self.graph = repo.graph
        self.start = repo.chunks[entry.chunk]
        self.runners = entry_runs(self.start, self.chunks)
        self.runner_ids = {c.id for c, _ in self.runners}
        self.conftests = conftests(self.chunks) if self.runners else {}
        self.placed: dict[str, Node] = {}
        self._edges: dict[str, list[Edge]] = {}
        self.imports: dict[str, list[str]] = {}
        for edge in self.graph.edges:
            if edge.kind is EdgeKind.IMPORTS:
                self.imports.setdefault(edge.source, []).append(edge.target)

    def build(self) -> Node:
        # A step placed on a rare branch while a better path reaches it is placed
        # again with that call deferred; the reading order changes with it, so the
        # tree is grown again until no step has a better path (each round defers
        # calls for good, so this ends).
        deferred: set[tuple[str, int]] = set()
        while True:
            root = self._grow(deferred)
            worse = self._worse_placements(root) - deferred
            if not worse:
                break
            deferred |= worse
        self._reexports(root)
        self._number(root)
        self._constructor_reasons(root)
        return root

    def _grow(self, deferred: set[tuple[str, int]]) -> Node:
        """The tree placed depth-first in reading order, deferred calls left out; what
        only deferred calls reach is placed after that, at its first call."""
        self.placed = {}
        how = f"`{self.entry.command}`" if self.entry.command else f"`{self.entry.path}`"
        root = Node(self.start, None, Via.ENTRY, f"entry point: {how} ({_evidence(self.entry)})")
        self.placed[self.start.id] = root
        self._dfs(self._children(root, deferred), deferred)
        for node in list(root.walk()):
            self._dfs(self._children(node, set(), placed_too=False), set())
        self._number(root)
        return root

    def _dfs(self, children: Iterator[Node], deferred: set[tuple[str, int]]) -> None:
        # Each child is placed when the subtree of the one before it is complete.
        stack = [children]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
            else:
                stack.append(self._children(child, deferred))

    # ---- what a chunk leads to

    def edges(self, chunk: Chunk) -> list[Edge]:
        """What reading chunk leads to, in reading order."""
        if chunk.id not in self._edges:
            self._edges[chunk.id] = self._compute_edges(chunk)
        return self._edges[chunk.id]

    def _compute_edges(self, chunk: Chunk) -> list[Edge]:
        out: list[Edge] = []
        if chunk.kind is ChunkKind.CLASS:
            return []  # a class leads to its constructor, placed with it
        if chunk.id in self.runner_ids:
            out += [Edge(f, Via.FIXTURE, 1, note=chunk.name) for f in pytest_fixtures(chunk, self.chunks, self.graph, self.conftests)]
        scaffold = chunk.kind is ChunkKind.MAIN
        for site in self.graph.calls.get(chunk.id, []):
            chosen, note = self._registry_entry(chunk, site)
            named = dict(site.configured)
            targets = self._site_targets(site, chosen)
            if named:
                # The helper that reads the config first, then what the config names.
                order = {cid: n for n, cid in enumerate(named)}
                targets.sort(key=lambda t: (t.id in order, order.get(t.id, 0)))
            for target in targets:
                where = named.get(target.id, "")
                if target.kind is ChunkKind.CLASS:
                    out.append(Edge(target, Via.BUILD, 1, site, note, where))
                else:
                    # The functions a __main__ block hands control to are the main code.
                    free = scaffold and target.kind is ChunkKind.FUNCTION
                    out.append(Edge(target, Via.CALL, 0 if free else 1, site, note, where))
        if chunk.kind is ChunkKind.MODULE:
            out += [Edge(b, Via.MAIN, 0) for b in self.chunks.values() if b.parent == chunk.id and b.kind is ChunkKind.MAIN]
            if chunk.id == self.start.id:
                out += [Edge(c, Via.RUNNER, 0, note=why) for c, why in self.runners]
        return out

    def _registry_entry(self, chunk: Chunk, site: CallSite) -> tuple[tuple[str, ...] | None, str]:
        """For `REGISTRY[args.flag](...)`: the targets of the entry the run takes (the
        README command's value, else the argparse default) and the words that say so;
        (None, "") when the site is no such call or no value is known."""
        if not site.keyed:
            return None, ""
        choice = registry_choice(self.repo, self.entry.command, [self.entry.path, chunk.path], site)
        if choice is None:
            return None, ""
        key, how = choice
        others = len(site.keyed) - 1
        chosen = dict(site.keyed)[key]
        return chosen, f"entry `{key}` ({how}); or one of {others} other{'s' if others != 1 else ''}"

    def _site_targets(self, site: CallSite, chosen: tuple[str, ...] | None = None) -> list[Chunk]:
        """The repo chunks a site reaches (chosen: only these of its targets). When one
        target calls another (`model(x)` resolving to both `forward_with_cfg` and the
        `forward` it calls), the callee is left to its caller: a union of types is no
        reason to read it twice as deep."""
        targets = [self.chunks[t] for t in (site.targets if chosen is None else chosen) if t in self.chunks]
        if len(targets) < 2:
            return targets
        calls = {t.id: {x for s in self.graph.calls.get(t.id, []) for x in s.targets} for t in targets}
        return [
            t for t in targets
            if not any(t.id in calls[u.id] and u.id not in calls[t.id] for u in targets if u is not t)
        ]

    # ---- first met, in reading order

    def _children(self, node: Node, deferred: set[tuple[str, int]], *, placed_too: bool = True) -> Iterator[Node]:
        """Place node's children one at a time, in reading order (placed_too: first
        the children placed with it, a class's constructor)."""
        if node.via is Via.REEXPORT:
            return
        if placed_too:
            yield from list(node.children)
        if node.chunk.kind is ChunkKind.CLASS:
            init = self._constructor(node.chunk)
            if init is not None and init.id not in self.placed:
                yield self._add(node, init, Via.CONSTRUCTOR, None, (0, 0))
            return
        for index, edge in enumerate(self.edges(node.chunk)):
            target = edge.target
            if target.id in self.placed or (node.chunk.id, index) in deferred:
                continue
            if edge.via is Via.BUILD:
                yield self._add(node, target, Via.BUILD, edge, (index, 1))
                continue
            owner = self._owner_class(target) if edge.via is Via.CALL else None
            if owner is not None and owner.id not in self.placed:
                cls = self._add(node, owner, Via.DEFINES, edge, (index, 0))
                if self._constructor(owner) is target:
                    # `super().__init__(...)`: the constructor is what runs.
                    self._add(cls, target, Via.CONSTRUCTOR, edge, (0, 0))
                    yield cls
                    continue
                yield cls
                if target.id in self.placed:
                    continue
            yield self._add(node, target, edge.via, edge, (index, 1))

    def _add(self, parent: Node, chunk: Chunk, via: Via, edge: Edge | None, rank: tuple[int, int]) -> Node:
        node = Node(chunk, parent, via, "", edge, rank)
        _attach(parent, node)
        node.reason = self._reason(node)
        self.placed[chunk.id] = node
        return node

    # ---- rare branches read last

    def _worse_placements(self, root: Node) -> set[tuple[str, int]]:
        """The calls that placed a step while another step of the tree reaches it by
        a better path: fewer conditional branches and no more calls (shallowest:
        fewer calls, then fewer branches)."""
        incoming: dict[str, list[tuple[Node, Edge]]] = {}
        for node in root.walk():
            for edge in self.edges(node.chunk):
                if edge.via is Via.CALL:
                    incoming.setdefault(edge.target.id, []).append((node, edge))
        worse = set()
        for node in root.walk():
            if node.via is not Via.CALL or node.parent is None:
                continue
            for source, edge in incoming.get(node.chunk.id, []):
                if edge is node.edge or _inside(source, node):
                    continue
                if self._better(source.branches + _rare(edge), source.calls + edge.cost, node):
                    worse.add((node.parent.chunk.id, node.rank[0]))
                    break
        return worse

    def _better(self, branches: int, calls: int, node: Node) -> bool:
        if self.shallowest:
            return calls < node.calls or (calls == node.calls and branches < node.branches)
        return branches < node.branches and calls <= node.calls

    def _number(self, root: Node) -> None:
        """Reading order, nesting depth and the path's calls and branches."""
        for n, node in enumerate(root.walk()):
            node.order = n
            parent = node.parent
            if parent is None:
                continue
            node.depth = parent.depth + 1
            edge = node.edge
            if node.via is Via.CONSTRUCTOR or node.via is Via.REEXPORT or edge is None:
                node.calls, node.branches, node.switches = parent.calls, parent.branches, parent.switches
            else:
                node.calls = parent.calls + edge.cost
                node.branches = parent.branches + _rare(edge)
                node.switches = parent.switches + _switch(edge)

    # ---- words

    def _reason(self, node: Node) -> str:
        parent, edge = node.parent, node.edge
        assert parent is not None
        if node.via is Via.MAIN:
            return f"runs when `{parent.chunk.path}` is executed as a script"
        if node.via is Via.RUNNER:
            return edge.note if edge is not None else ""
        if node.via is Via.FIXTURE:
            return f"pytest fixture, set up for `{edge.note if edge is not None else ''}`"
        site = edge.site if edge is not None else None
        named = f"named by {edge.named}, " if edge is not None and edge.named else ""
        if node.via is Via.BUILD:
            note = f"; {edge.note}" if edge is not None and edge.note else ""
            return f"{named}instantiated by {_at(parent, site)}{note}"
        if node.via is Via.DEFINES and edge is not None:
            return f"defines `{edge.target.qualname}`, used by {_at(parent, site)}"
        if node.via is Via.CONSTRUCTOR:
            cls = parent.chunk
            if site is not None and parent.parent is not None:  # a base class, by super().__init__(...)
                return f"constructor of `{cls.qualname}`, runs when `{site.text}(...)` is called in {_at(parent.parent, site)}"
            if parent.via is Via.BUILD and parent.edge is not None and parent.parent is not None:
                return f"constructor of `{cls.qualname}`, runs when it is built at {_where(parent.parent, parent.edge.site)}"
            return f"constructor of `{cls.qualname}`"
        target = node.chunk
        assert site is not None
        if target.name in ("forward", "__call__") and site.text.split(".")[-1] != target.name:
            reason = f"runs when `{site.text}(...)` is called in `{_display(parent.chunk)}` at {_where(parent, site)}"
        else:
            reason = f"{named}called by {_at(parent, site)}"
        note = f"; {edge.note}" if edge is not None and edge.note else ""
        return reason + (f" ({site.context})" if site.context else "") + note

    def _constructor_reasons(self, root: Node) -> None:
        """The constructor of a class introduced by its method: say where this path
        builds it, if it does (the site on the path, never one elsewhere)."""
        built: dict[str, str] = {}
        for node in root.walk():
            for site in self.graph.calls.get(node.chunk.id, []):
                for t in site.targets:
                    built.setdefault(t, f"`{_display(node.chunk)}` builds it at {_where(node, site)}")
        for node in root.walk():
            cls = node.parent
            if node.via is Via.CONSTRUCTOR and node.edge is None and cls is not None and cls.via is Via.DEFINES:
                where = built.get(cls.chunk.id)
                node.reason += f"; {where}" if where else "; this path does not build it"

    # ---- re-exports

    def _reexports(self, root: Node) -> None:
        """Before the first step that imports a name through a package `__init__`,
        that `__init__` (and the ones after it in the re-export chain), once each.
        Only names the caller's module imports: a method called on an object passes
        through no import."""
        shown: set[str] = set()
        for node in list(root.walk()):
            edge, parent = node.edge, node.parent
            if parent is None or edge is None or edge.site is None or node.via not in (Via.CALL, Via.BUILD, Via.DEFINES):
                continue
            if edge.named:
                continue  # named by a config, not imported through the helper's package
            for package in self._chain(parent.chunk, node.chunk, edge.site):
                if package in shown or package in self.placed:
                    continue
                shown.add(package)
                reason = f"re-exports `{node.chunk.name}` from `{node.chunk.module}` (used at {_where(parent, edge.site)})"
                reexport = Node(self.chunks[package], parent, Via.REEXPORT, reason, edge, (node.rank[0], -1))
                _attach(parent, reexport)

    def _chain(self, caller: Chunk, target: Chunk, site: CallSite) -> list[str]:
        """The package modules between the module a name is imported from and the
        target's module, outermost first ([] when the name is not imported)."""
        root_name = site.text.split(".")[0].split("(")[0].split("[")[0]
        if root_name in self.graph.shadowed.get(caller.id, ()):
            return []  # a local value named like the import: `diffusion = create_diffusion()`
        dotted = self.graph.import_names.get(caller.module, {}).get(root_name)
        start = _module_prefix(dotted, self.chunks) if dotted else None
        goal = target.module
        if start is None or start == goal or not self.chunks[start].path.endswith("__init__.py"):
            return []
        parents: dict[str, str] = {}
        queue, visited = deque([start]), {start}
        while queue:
            current = queue.popleft()
            for nxt in sorted(self.imports.get(current, [])):
                if nxt in visited:
                    continue
                visited.add(nxt)
                parents[nxt] = current
                if nxt == goal:
                    queue.clear()
                    break
                module = self.chunks.get(nxt)
                if module is not None and module.path.endswith("__init__.py"):
                    queue.append(nxt)
        if goal not in parents:
            return []
        chain = [parents[goal]]
        while chain[-1] != start:
            chain.append(parents[chain[-1]])
        return list(reversed(chain))

    # ---- classes

    def _constructor(self, cls: Chunk) -> Chunk | None:
        """`__init__` of the class or of its nearest repo base class."""
        queue, visited = deque([cls.id]), set()
        while queue:
            current = queue.popleft()
            if current in visited:
                continue
            visited.add(current)
            init = self.chunks.get(f"{current}.__init__")
            if init is not None:
                return init
            queue.extend(
                e.target for e in sorted(self.graph.callees(current), key=lambda e: e.line)
                if e.kind is EdgeKind.INHERITS
            )
        return None

    def _owner_class(self, chunk: Chunk) -> Chunk | None:
        if chunk.kind is not ChunkKind.METHOD or chunk.parent is None:
            return None
        owner = self.chunks.get(chunk.parent)
        return owner if owner is not None and owner.kind is ChunkKind.CLASS else None


def _attach(parent: Node, node: Node) -> None:
    """node among parent's children, in the order of the calls that reach them."""
    children = parent.children
    at = len(children)
    while at > 0 and children[at - 1].rank > node.rank:
        at -= 1
    children.insert(at, node)


def _inside(node: Node, root: Node) -> bool:
    """Whether node is root or below it."""
    current: Node | None = node
    while current is not None:
        if current is root:
            return True
        current = current.parent
    return False


_BRANCHES = ("if ", "elif ", "else", "except")


def _rare(edge: Edge) -> int:
    """1 when the call sits in a branch (`if args.render_only`, `else`, `except`): a
    path the code takes on some runs. Loops and `with` are the main path."""
    if edge.site is None:
        return 0
    return int(any(part.strip().startswith(_BRANCHES) for part in edge.site.context.split(";")))


_CONFIG = re.compile(r"\b(args|opts?|cfg|conf|config|hparams|flags|FLAGS|options)\.\w+")


def _switch(edge: Edge) -> int:
    """1 when the call sits in a branch on a configuration (`if args.masks:`,
    `elif cfg.model.name == ...`): a variant of the program, not its default path."""
    if edge.site is None:
        return 0
    return int(any(
        part.strip().startswith(_BRANCHES) and _CONFIG.search(part) for part in edge.site.context.split(";")
    ))


def _module_prefix(dotted: str, chunks: dict[str, Chunk]) -> str | None:
    """The longest prefix of a dotted name that is a module of the repository."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        chunk = chunks.get(".".join(parts[:n]))
        if chunk is not None and chunk.kind is ChunkKind.MODULE:
            return chunk.id
    return None


def _evidence(entry: EntryPoint) -> str:
    return {
        "readme": "the README runs it",
        "readme_python": "the README's Python usage",
        "console_script": "installed command",
        "__main__": "run with python -m",
        "main_guard": "has a __main__ block",
        "torch_hub": "torch.hub entry points",
        "script_dir": "a script",
        "top_level_script": "a top-level script",
        "notebook": "a notebook",
        "chosen": "chosen with --entry",
    }.get(entry.kind, entry.kind)


def _where(node: Node, site: CallSite | None) -> str:
    return f"{node.chunk.path}:{site.line}" if site is not None else node.chunk.path


def _at(node: Node, site: CallSite | None) -> str:
    return f"`{_display(node.chunk)}` at {_where(node, site)}"


def _display(chunk: Chunk) -> str:
    if chunk.kind is ChunkKind.MODULE:
        return chunk.path
    if chunk.kind is ChunkKind.MAIN:
        return f"{chunk.path} __main__ block"
    return chunk.qualname
