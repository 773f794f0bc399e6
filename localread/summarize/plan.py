"""The plan of a run (pure): what to summarize, with which inputs, in which order.

- one *unit* per chunk (function, method, main block, class, module), one per package
  and one for the repository overview;
- a unit's prompt carries the one-line summaries of its *inputs*: for code, the repo
  functions and classes it calls; for a class, its methods and repo base classes; for
  a module, what it defines (and calls at top level); for a package, its modules and
  sub-packages; for the overview, the top-level packages and modules;
- call cycles are broken deterministically, inside each strongly connected component
  only, by a depth-first post-order from its smallest id: an input that would come
  later in that order is left out of the prompt. The order of the rest of the
  repository never changes which edges are cut;
- priority: the top entry point's reading tour first (with everything it needs),
  then the other tours and the highest-ranked symbols, then the rest by rank; among
  units that are ready, those of the previous prompt's module come first, so
  consecutive prompts share the longest prefix (instructions, then module header).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import networkx as nx

from localread.data import ChunkKind, EdgeKind
from localread.repo.analysis import Repo
from localread.repo.rank import core_symbols
from localread.repo.tour import Tour, build_tour
from localread.summarize.model import OVERVIEW_ID, PACKAGE_PREFIX, Options, Plan, Unit, UnitKind

# The highest-ranked symbols summarized right after the top tour.
CORE = 20

_CODE_KINDS = (ChunkKind.FUNCTION, ChunkKind.METHOD, ChunkKind.MAIN)
_CALLABLE = (ChunkKind.FUNCTION, ChunkKind.METHOD, ChunkKind.CLASS)


def packages_of(repo: Repo) -> dict[str, str]:
    """Package name -> folder, for every `__init__.py` chunk."""
    return {
        c.id: c.path.rsplit("/", 1)[0] if "/" in c.path else ""
        for c in repo.chunks.values()
        if c.kind is ChunkKind.MODULE and c.path.rsplit("/", 1)[-1] == "__init__.py"
    }


def parent_package(module_id: str, packages: dict[str, str]) -> str | None:
    """The package directly holding a module or package, or None at the top."""
    if "." not in module_id:
        return None
    parent = module_id.rsplit(".", 1)[0]
    return parent if parent in packages else None


def _callees(repo: Repo, chunk_id: str) -> list[str]:
    out: dict[str, None] = {}
    for site in repo.graph.calls.get(chunk_id, []):
        for target in site.targets:
            chunk = repo.chunks.get(target)
            if chunk is not None and target != chunk_id and chunk.kind in _CALLABLE:
                out[target] = None
    return list(out)


def _units(repo: Repo, packages: dict[str, str]) -> dict[str, Unit]:
    children: dict[str, list[str]] = {}
    for cid, chunk in repo.chunks.items():
        if chunk.parent is not None and chunk.parent in repo.chunks:
            children.setdefault(chunk.parent, []).append(cid)
    units: dict[str, Unit] = {}
    for cid, chunk in repo.chunks.items():
        calls = _callees(repo, cid)
        if chunk.kind in _CODE_KINDS:
            units[cid] = Unit(cid, UnitKind.CODE, cid, chunk.module, tuple(calls))
        elif chunk.kind is ChunkKind.CLASS:
            members = [c for c in children.get(cid, []) if repo.chunks[c].kind in (ChunkKind.METHOD, ChunkKind.CLASS)]
            bases = [
                e.target
                for e in sorted(repo.graph.callees(cid), key=lambda e: (e.line, e.target))
                if e.kind is EdgeKind.INHERITS and e.target in repo.chunks and e.target != cid
            ]
            deps = list(dict.fromkeys([*bases, *members, *calls]))
            units[cid] = Unit(cid, UnitKind.CLASS, cid, chunk.module, tuple(deps))
        else:
            deps = list(dict.fromkeys([*children.get(cid, []), *calls]))
            units[cid] = Unit(cid, UnitKind.MODULE, cid, chunk.module, tuple(deps))
    modules = sorted((c for c in repo.chunks.values() if c.kind is ChunkKind.MODULE), key=lambda c: c.path)
    members: dict[str, list[str]] = {name: [name] for name in packages}  # its __init__ first
    top: list[str] = []
    for module in modules:
        if module.id in packages:
            holder = parent_package(module.id, packages)
            (members[holder] if holder else top).append(PACKAGE_PREFIX + module.id)
            continue
        holder = parent_package(module.id, packages)
        (members[holder] if holder else top).append(module.id)
    for name in sorted(packages):
        uid = PACKAGE_PREFIX + name
        units[uid] = Unit(uid, UnitKind.PACKAGE, None, uid, tuple(members[name]))
    units[OVERVIEW_ID] = Unit(OVERVIEW_ID, UnitKind.OVERVIEW, None, OVERVIEW_ID, tuple(top))
    return units


def _break_cycles(units: dict[str, Unit]) -> dict[str, tuple[str, ...]]:
    """Each unit's deps minus the edges that close a cycle (see the module docstring)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(units)
    for uid, unit in units.items():
        graph.add_edges_from((uid, d) for d in unit.deps)
    position: dict[str, int] = {}
    component: dict[str, int] = {}
    for n, members in enumerate(nx.strongly_connected_components(graph)):
        for member in members:
            component[member] = n
        if len(members) == 1:
            continue
        order = _post_order(sorted(members), units, members)
        position.update({uid: i for i, uid in enumerate(order)})
    inputs: dict[str, tuple[str, ...]] = {}
    for uid, unit in units.items():
        kept = []
        for dep in unit.deps:
            if dep == uid:
                continue
            if component[dep] == component[uid] and position[dep] > position[uid]:
                continue
            kept.append(dep)
        inputs[uid] = tuple(kept)
    return inputs


def _post_order(members: list[str], units: dict[str, Unit], inside: set[str]) -> list[str]:
    """Depth-first post-order of one component, from its smallest id, deps in prompt
    order; iterative, so a long recursive chain cannot exhaust Python's stack."""
    order: list[str] = []
    seen: set[str] = set()
    for root in members:
        if root in seen:
            continue
        seen.add(root)
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(units[root].deps))]
        while stack:
            node, deps = stack[-1]
            for dep in deps:
                if dep in inside and dep not in seen:
                    seen.add(dep)
                    stack.append((dep, iter(units[dep].deps)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def build_plan(repo: Repo, tours: list[Tour], *, core: int = CORE) -> Plan:
    """The units of the repository, their inputs and the order of work (pure)."""
    packages = packages_of(repo)
    units = _units(repo, packages)
    inputs = _break_cycles(units)
    roots: list[tuple[tuple[int, int], str]] = []
    if tours:
        roots += [((0, i), step.id) for i, step in enumerate(tours[0].steps)]
    later = [step.id for tour in tours[1:] for step in tour.steps]
    later += core_symbols(repo.graph, repo.ranks, limit=core)
    roots += [((1, i), uid) for i, uid in enumerate(later)]
    rest = sorted(units, key=lambda u: (-repo.ranks.get(u, 0.0), u))
    roots += [((2, i), uid) for i, uid in enumerate(rest)]
    # Priority: the depth-first post-order of the roots' inputs, root by root, so that
    # a unit runs no later than the most urgent unit that needs it, and the units a
    # reader meets first are finished first.
    priority: dict[str, tuple[int, int]] = {}
    for (tier, _), root in roots:
        if root not in units or root in priority:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(inputs[root]))]
        visiting = {root}
        while stack:
            node, deps = stack[-1]
            for dep in deps:
                if dep not in priority and dep not in visiting:
                    visiting.add(dep)
                    stack.append((dep, iter(inputs[dep])))
                    break
            else:
                stack.pop()
                priority[node] = (tier, len(priority))
    return Plan(units, _schedule(units, inputs, priority), inputs, priority, packages)


def _schedule(
    units: dict[str, Unit], inputs: dict[str, tuple[str, ...]], priority: dict[str, tuple[int, int]]
) -> list[str]:
    """Kahn's algorithm over the inputs. Among ready units of the most urgent tier, one
    in the previous unit's group comes first (shared prompt prefix), else the most
    urgent; ties by id."""
    waiting = {uid: len(set(deps)) for uid, deps in inputs.items()}
    needed_by: dict[str, list[str]] = {}
    for uid, deps in inputs.items():
        for dep in set(deps):
            needed_by.setdefault(dep, []).append(uid)
    ready: list[tuple[tuple[int, int], str]] = []
    by_group: dict[str, list[tuple[tuple[int, int], str]]] = {}

    def push(uid: str) -> None:
        item = (priority[uid], uid)
        heapq.heappush(ready, item)
        heapq.heappush(by_group.setdefault(units[uid].group, []), item)

    for uid in sorted(units):
        if waiting[uid] == 0:
            push(uid)
    order: list[str] = []
    done: set[str] = set()
    group = ""
    while ready:
        while ready and ready[0][1] in done:
            heapq.heappop(ready)
        if not ready:
            break
        best = ready[0]
        same = by_group.get(group, [])
        while same and same[0][1] in done:
            heapq.heappop(same)
        if same and same[0][0][0] == best[0][0]:
            chosen = heapq.heappop(same)[1]
        else:
            chosen = heapq.heappop(ready)[1]
        done.add(chosen)
        order.append(chosen)
        group = units[chosen].group
        for uid in sorted(needed_by.get(chosen, [])):
            waiting[uid] -= 1
            if waiting[uid] == 0:
                push(uid)
    if len(order) != len(units):  # cannot happen: _break_cycles leaves a DAG
        raise RuntimeError("summarize plan: dependency cycle left after breaking cycles")
    return order


def known_tours(repo: Repo, options: Options) -> list[Tour]:
    """Reading tours of the top entry points (distinct starting chunks), best first."""
    tours: list[Tour] = []
    seen: set[str] = set()
    for entry in repo.entries:
        if len(tours) >= options.tours:
            break
        if entry.chunk in seen or entry.chunk not in repo.chunks:
            continue
        seen.add(entry.chunk)
        tours.append(build_tour(repo, entry, max_depth=options.max_depth, max_steps=options.max_steps))
    return tours
