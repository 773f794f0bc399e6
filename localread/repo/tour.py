"""The reading path from an entry point to the core, in the order a person reads it.

`build_tour(repo, entry)` walks from the entry's code in source order. Each call into
the repository is followed depth-first in call-site order before moving on; each
symbol appears once; a class is introduced before its methods (constructor first);
library calls are not steps. When a call reaches a name re-exported by a package's
`__init__.py`, that `__init__` is shown first, the way a reader follows the import.
Depth and step limits prune by rank; what they prune is returned, best first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localread.data import Chunk, ChunkKind, EdgeKind, Step
from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.repo.entries import EntryPoint

if TYPE_CHECKING:
    from localread.config import Settings


@dataclass(frozen=True, slots=True)
class Pruned:
    id: str
    rank: float
    reason: str  # why it would have come next, and what cut it


@dataclass(slots=True)
class Tour:
    entry: EntryPoint
    steps: list[Step]
    pruned: list[Pruned] = field(default_factory=list)


def pick_entry(repo: Repo, entry: str | None) -> EntryPoint:
    """The entry named by `--entry PATH` (a repo-relative or absolute path, or a module
    name), else the top-ranked one. Raises LocalreadError when it does not exist."""
    if entry is None:
        if not repo.entries:
            raise LocalreadError(
                "no entry point found (no script, `__main__` guard or README command); "
                "pass one with --entry PATH"
            )
        return repo.entries[0]
    rel = repo.relative(entry)
    for candidate in repo.entries:
        if candidate.path == rel or candidate.chunk == entry:
            return candidate
    module = next(
        (c for c in repo.chunks.values() if c.kind is ChunkKind.MODULE and (c.path == rel or c.id == entry)),
        None,
    )
    if module is None:
        target = repo.chunks.get(entry)
        if target is not None:
            return EntryPoint(path=target.path, chunk=target.id, command=None, score=0.0, kinds=["chosen"])
        raise LocalreadError(f"--entry {entry}: no such Python file or module in {repo.root}")
    return EntryPoint(path=module.path, chunk=module.id, command=None, score=0.0, kinds=["chosen"])


def default_tour(repo: Repo, settings: Settings) -> Tour | None:
    """The tour from the top entry point, or None when the repository has none."""
    if not repo.entries:
        return None
    return build_tour(repo, repo.entries[0], max_depth=settings.max_depth, max_steps=settings.max_steps)


def build_tour(repo: Repo, entry: EntryPoint, *, max_depth: int = 6, max_steps: int = 40) -> Tour:
    walker = _Walker(repo, max_depth)
    start = repo.chunks[entry.chunk]
    how = f"`{entry.command}`" if entry.command else f"`{entry.path}`"
    evidence = {
        "readme": "the README runs it",
        "console_script": "installed command",
        "__main__": "run with python -m",
        "main_guard": "has a __main__ block",
        "script_dir": "a script",
        "top_level_script": "a top-level script",
        "notebook": "a notebook",
        "chosen": "chosen with --entry",
    }.get(entry.kind, entry.kind)
    walker.visit(start, 0, f"entry point: {how} ({evidence})")
    steps = walker.steps
    pruned = walker.pruned
    if len(steps) > max_steps:
        steps, cut = _keep_best(steps, repo.ranks, max_steps)
        pruned.extend(Pruned(s.id, repo.ranks.get(s.id, 0.0), f"{s.reason}; beyond the {max_steps}-step limit") for s in cut)
    seen = {s.id for s in steps}
    unique: dict[str, Pruned] = {}
    for p in pruned:
        if p.id not in seen and p.id not in unique:
            unique[p.id] = p
    ordered = sorted(unique.values(), key=lambda p: (-p.rank, p.id))
    return Tour(entry=entry, steps=steps, pruned=ordered)


def _keep_best(steps: list[Step], ranks: dict[str, float], limit: int) -> tuple[list[Step], list[Step]]:
    """Keep the entry and the best-ranked steps, in reading order; a kept method keeps
    its class step so that classes are still introduced first."""
    by_rank = sorted(steps[1:], key=lambda s: (-ranks.get(s.id, 0.0), s.id))
    keep = {steps[0].id}
    for step in by_rank:
        if len(keep) >= limit:
            break
        keep.add(step.id)
    parents = {s.id: s for s in steps}
    for step in list(steps):
        if step.id in keep and step.kind is ChunkKind.METHOD:
            owner = step.id.rsplit(".", 1)[0]
            if owner in parents:
                keep.add(owner)
    kept = [s for s in steps if s.id in keep]
    cut = [s for s in steps if s.id not in keep]
    return kept, cut


class _Walker:
    def __init__(self, repo: Repo, max_depth: int) -> None:
        self.repo = repo
        self.graph = repo.graph
        self.chunks = repo.chunks
        self.max_depth = max_depth
        self.steps: list[Step] = []
        self.pruned: list[Pruned] = []
        self.seen: set[str] = set()
        self.imports: dict[str, list[tuple[str, int]]] = {}
        for edge in self.graph.edges:
            if edge.kind is EdgeKind.IMPORTS:
                self.imports.setdefault(edge.source, []).append((edge.target, edge.line))

    def _add(self, chunk: Chunk, depth: int, reason: str) -> bool:
        if chunk.id in self.seen:
            return False
        self.seen.add(chunk.id)
        self.steps.append(Step(chunk.id, chunk.kind, chunk.path, chunk.start, chunk.end, depth, reason))
        return True

    def visit(self, chunk: Chunk, depth: int, reason: str) -> None:
        """Add chunk as a step and follow its calls, depth-first in call-site order."""
        if not self._add(chunk, depth, reason):
            return
        self._follow(chunk, depth)
        if chunk.kind is ChunkKind.MODULE:
            # A script's `if __name__ == "__main__":` block runs after its top-level code.
            for block in self._main_blocks(chunk):
                self.visit(block, depth + 1, f"runs when `{chunk.path}` is executed as a script")

    def _main_blocks(self, module: Chunk) -> list[Chunk]:
        return [c for c in self.chunks.values() if c.parent == module.id and c.kind is ChunkKind.MAIN]

    def _follow(self, chunk: Chunk, depth: int) -> None:
        for site in self.graph.calls.get(chunk.id, []):
            for target_id in site.targets:
                target = self.chunks.get(target_id)
                if target is None or target_id in self.seen:
                    continue
                where = f"{chunk.path}:{site.line}"
                who = _display(chunk)
                if depth + 1 > self.max_depth:
                    self.pruned.append(
                        Pruned(target_id, self.repo.ranks.get(target_id, 0.0),
                               f"called by `{who}` at {where}; beyond depth {self.max_depth}")
                    )
                    continue
                self._reexports(chunk, target, depth + 1, where)
                if target.kind is ChunkKind.CLASS:
                    self._introduce_class(target, depth + 1, f"instantiated by `{who}` at {where}", where)
                    continue
                owner = self._owner_class(target)
                if owner is not None and owner.id not in self.seen:
                    self._introduce_class(owner, depth + 1, f"defines `{_display(target)}`, used by `{who}` at {where}", where)
                    if target_id in self.seen:
                        continue
                verb = "runs" if target.name == "forward" and site.text.split(".")[-1] != "forward" else "called by"
                if verb == "runs":
                    reason = f"runs when `{site.text}(...)` is called in `{who}` at {where}"
                else:
                    reason = f"called by `{who}` at {where}"
                if site.context:
                    reason += f" ({site.context})"
                self.visit(target, depth + 1, reason)

    def _introduce_class(self, cls: Chunk, depth: int, reason: str, where: str) -> None:
        """A class step, then its constructor, whose calls are followed."""
        if not self._add(cls, depth, reason):
            return
        init = self._constructor(cls)
        if init is not None and init.id not in self.seen:
            built = self._built_at(cls) or where
            self.visit(init, depth + 1, f"constructor of `{_display(cls)}`, runs when it is built at {built}")

    def _built_at(self, cls: Chunk) -> str | None:
        """Where the class is first instantiated in the repository (path:line)."""
        sites = sorted(
            (e.path, e.line) for e in self.graph.callers(cls.id) if e.kind is EdgeKind.INSTANTIATES
        )
        return f"{sites[0][0]}:{sites[0][1]}" if sites else None

    def _constructor(self, cls: Chunk) -> Chunk | None:
        """`__init__` of the class or of its nearest repo base class."""
        queue, visited = [cls.id], set()
        while queue:
            current = queue.pop(0)
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

    def _reexports(self, caller: Chunk, target: Chunk, depth: int, where: str) -> None:
        """Show the package `__init__` modules a name passes through on its way from the
        caller's imports to the target's module (the re-export chain), once each."""
        start, goal = caller.module, target.module
        if start == goal:
            return
        # Breadth-first over imports, stepping only through package __init__ modules.
        parents: dict[str, str] = {}
        queue, visited = [start], {start}
        while queue:
            current = queue.pop(0)
            for nxt, _line in sorted(self.imports.get(current, [])):
                if nxt in visited:
                    continue
                visited.add(nxt)
                parents[nxt] = current
                if nxt == goal:
                    queue = []
                    break
                module = self.chunks.get(nxt)
                if module is not None and module.path.endswith("__init__.py"):
                    queue.append(nxt)
        if goal not in parents:
            return
        chain = []
        node = parents[goal]
        while node != start:
            chain.append(node)
            node = parents[node]
        for package in reversed(chain):
            module = self.chunks[package]
            if module.id in self.seen:
                continue
            self._add(module, depth, f"re-exports `{target.name}` from `{goal}` (used at {where})")


def _display(chunk: Chunk) -> str:
    if chunk.kind is ChunkKind.MODULE:
        return chunk.path
    if chunk.kind is ChunkKind.MAIN:
        return f"{chunk.path} __main__ block"
    return chunk.qualname
