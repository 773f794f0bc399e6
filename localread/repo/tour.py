"""The reading path from an entry point to the core, in the order a person reads it.

`build_tour(repo, entry)` takes the whole reading tree of the entry (`reading`: the
entry's code in source order, each call into the repository followed depth-first,
each symbol once, a class with its constructor where it is first built, rare
branches read after the main path) and keeps what a reader should read first.

A budget (steps, and optionally lines) keeps the spine: every step weighs what it
reads plus everything below it (`TourWeights`), and the heaviest steps are kept,
each with the steps above it. A step weighs at least as much as any step below it,
so what is kept is a connected tree (every step's caller is in the tour) and cuts
are made from the leaves up: small helpers that call nothing in the repository go
first, the chains that lead to the model's `forward`s last. A class and its
constructor are read together: one step of the budget, kept or cut together. What
is cut is returned too, heaviest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localread.data import Chunk, ChunkKind, Step
from localread.errors import LocalreadError
from localread.repo.analysis import Repo
from localread.repo.entries import EntryPoint
from localread.repo.reading import Node, Via, reading_tree

if TYPE_CHECKING:
    from localread.config import Settings


@dataclass(frozen=True, slots=True)
class Pruned:
    """A step of the whole tree that the tour leaves out. rank: the symbol's PageRank;
    weight: what the step and everything below it weigh (the tour keeps the heaviest);
    reason: why it would come next, and what cut it; cut: what cut it."""

    id: str
    rank: float
    reason: str
    weight: float = 0.0
    cut: str = ""  # what cut it: "cut by the 40-step budget", "beyond depth 3" (also ending reason)


@dataclass(slots=True)
class Tour:
    """steps: in reading order. pruned: what the limits cut, heaviest first. parents:
    each step's id -> the id of the step it hangs under (None for the entry).
    calls: each step's id -> how many calls below the entry's main code it runs."""

    entry: EntryPoint
    steps: list[Step]
    pruned: list[Pruned] = field(default_factory=list)
    parents: dict[str, str | None] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TourWeights:
    """What a step weighs on its own; its weight in the budget adds all it leads to."""

    step: float = 0.5  # reading any step costs attention: no step is free
    per_line: float = 0.1  # more code read is more to understand...
    max_lines: int = 40  # ...up to a point: a 300-line main() is not 300 helpers
    forward: float = 2.0  # where the code runs a model (a forward called from outside one): the core
    forward_lines: int = 10  # ...in full from this size: a two-line forward that raises is no core
    model: float = 1.5  # factor for the model's computation (methods of a class with a forward)
    wiring: float = 0.5  # factor per level of layers built inside a model part's constructor
    small_leaf: float = 0.5  # factor for a helper of a few lines that calls nothing in the repo
    small_lines: int = 6  # "a few lines"
    repeated_calls: int = 2  # lines repeating one call (`parser.add_argument`) count once past this
    switch: float = 0.5  # factor per configuration branch on the path (`if args.masks:`): a variant
    plumbing: float = 0.5  # factor for plumbing: mostly calls to argparse, os, logging, print, ...,
    # or the methods of a bookkeeping class (`MetricLogger`, `CocoEvaluator`)
    used: float = 0.2  # share of its heaviest method on the path that a class's constructor gets
    unresolved: float = 0.5  # a call into the repo that could not be resolved still leads somewhere
    reexport: float = 0.1  # a package __init__ passed through: context, the first to go


WEIGHTS = TourWeights()
DEFAULT_STEPS = 40


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
    return build_tour(
        repo, repo.entries[0], max_depth=settings.max_depth, max_steps=settings.max_steps, max_lines=settings.max_lines
    )


def build_tour(
    repo: Repo,
    entry: EntryPoint,
    *,
    max_depth: int | None = None,
    max_steps: int | None = DEFAULT_STEPS,
    max_lines: int | None = None,
    everything: bool = False,
    weights: TourWeights = WEIGHTS,
) -> Tour:
    """The tour from entry. max_steps / max_lines: the budget (None: no limit);
    max_depth: drop what runs more than that many calls below the entry's main code
    (None: no limit); everything: the whole tree, no limit at all."""
    # A depth limit counts the shallowest path, so each step is then read there.
    root = reading_tree(repo, entry, shallowest=max_depth is not None and not everything)
    nodes = list(root.walk())
    weight = _weigh(repo, nodes, weights)
    if everything:
        max_depth = max_steps = max_lines = None
    keep, cut_by = _select(nodes, weight, max_depth=max_depth, max_steps=max_steps, max_lines=max_lines)
    steps = [n.step() for n in nodes if n in keep]
    parents = {n.chunk.id: (n.parent.chunk.id if n.parent else None) for n in nodes if n in keep}
    calls = {n.chunk.id: n.calls for n in nodes if n in keep}
    pruned = [
        Pruned(n.chunk.id, repo.ranks.get(n.chunk.id, 0.0), f"{n.reason}; {cut_by[n]}", round(weight.total[n], 4), cut_by[n])
        for n in sorted((n for n in nodes if n not in keep), key=lambda n: (-weight.total[n], n.order))
    ]
    return Tour(entry=entry, steps=steps, pruned=pruned, parents=parents, calls=calls)


# --------------------------------------------------------------------------------------
# Weights and the budget
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Weight:
    """Per node: what it weighs with everything below it, the lines it reads, and the
    nodes that must be kept with it besides its ancestors."""

    total: dict[Node, float] = field(default_factory=dict)
    own: dict[Node, float] = field(default_factory=dict)
    lines: dict[Node, int] = field(default_factory=dict)
    requires: dict[Node, list[Node]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Context:
    repo: Repo
    weights: TourWeights
    placed: dict[str, Node]  # chunk id -> its node
    unresolved: dict[str, int]  # chunk id -> its unresolved calls into the repository
    children_of: dict[str, list[Chunk]]


def _weigh(repo: Repo, nodes: list[Node], weights: TourWeights) -> _Weight:
    children_of: dict[str, list[Chunk]] = {}
    for c in repo.chunks.values():
        if c.parent is not None:
            children_of.setdefault(c.parent, []).append(c)
    unresolved: dict[str, int] = {}
    for site in repo.graph.unresolved:
        unresolved[site.caller] = unresolved.get(site.caller, 0) + 1
    ctx = _Context(repo, weights, {n.chunk.id: n for n in nodes}, unresolved, children_of)
    out = _Weight()
    nesting: dict[Node | None, int] = {}
    for node in nodes:
        out.lines[node] = _own_lines(node.chunk, children_of)
        # A layer built by another part's constructor, and what it builds in turn, is
        # wiring: the model a builder assembles is the overview, its layers' layers less.
        nesting[node] = nesting.get(node.parent, 0) + (node.via is Via.BUILD and _built_by_model(node, repo.chunks))
        out.own[node] = _own_weight(node, ctx, out.lines[node], nesting[node])
    _totals(nodes, out)
    # How the object is built says how what runs later is configured: a class's
    # introduction is worth a share of the heaviest of its methods on the path.
    used: dict[str, float] = {}
    for node in nodes:
        if node.chunk.kind is ChunkKind.METHOD and node.via is not Via.CONSTRUCTOR and node.chunk.parent:
            used[node.chunk.parent] = max(used.get(node.chunk.parent, 0.0), out.total[node])
    for node in nodes:
        intro = _introduction(node)
        if intro is not None and intro.chunk.id in used:
            out.own[node] += weights.used * used[intro.chunk.id]
    _totals(nodes, out)
    # A re-export is read for the name it leads to: it goes with it, never alone.
    for node in nodes:
        if node.via is Via.REEXPORT and node.parent is not None:
            siblings = node.parent.children
            follower = next((c for c in siblings[siblings.index(node) + 1 :] if c.via is not Via.REEXPORT), None)
            out.requires[node] = [follower] if follower is not None else []
    return out


def _own_weight(node: Node, ctx: _Context, lines: int, nesting: int) -> float:
    """What reading node itself is worth (see TourWeights)."""
    weights, chunks, chunk = ctx.weights, ctx.repo.chunks, node.chunk
    if node.via is Via.REEXPORT:
        return weights.reexport
    sites = ctx.repo.graph.calls.get(chunk.id, [])
    read = max(1, lines - _repeated(sites, weights.repeated_calls))
    value = weights.step + weights.per_line * min(read, weights.max_lines)
    value += weights.unresolved * ctx.unresolved.get(chunk.id, 0)
    calls_repo = any(site.targets for site in sites)
    if chunk.kind in (ChunkKind.FUNCTION, ChunkKind.METHOD) and not calls_repo and lines <= weights.small_lines:
        value *= weights.small_leaf
    owner = chunks.get(chunk.parent) if chunk.kind is ChunkKind.METHOD and chunk.parent else None
    if _model_part(owner, chunks) and node.via is not Via.CONSTRUCTOR:
        value *= weights.model
    value *= weights.wiring**nesting
    cls = owner if owner is not None else chunk if chunk.kind is ChunkKind.CLASS else None
    if _plumbing(sites) or (cls is not None and _BOOKKEEPING.search(cls.name)):
        value *= weights.plumbing
    if _runs_model(node, chunks) and node.edge is not None and node.edge.site is not None:
        # Where the code enters the model, not each layer in it; a call that may run
        # one of several models shares it.
        models = sum(_is_forward(chunks.get(t)) for t in node.edge.site.targets)
        value += weights.forward * min(1.0, lines / weights.forward_lines) / max(1, models)
    # A variant's code stays a variant wherever it runs: a method of a class built
    # behind a configuration switch carries that switch.
    built = ctx.placed.get(owner.id) if owner is not None else None
    switches = node.switches + (built.switches if built is not None and built not in _ancestors(node) else 0)
    return value * weights.switch**switches


def _introduction(node: Node) -> Node | None:
    """The class a node introduces: a constructor's class, or a class shown without one."""
    if node.via is Via.CONSTRUCTOR and node.parent is not None and node.parent.chunk.kind is ChunkKind.CLASS:
        return node.parent
    if node.chunk.kind is ChunkKind.CLASS and not any(c.via is Via.CONSTRUCTOR for c in node.children):
        return node
    return None


def _totals(nodes: list[Node], out: _Weight) -> None:
    for node in reversed(nodes):  # children before parents
        out.total[node] = out.own[node] + sum(out.total[c] for c in node.children)


def _repeated(sites: list, allowed: int) -> int:
    """Calls of one callee past the first `allowed`: an argparse block is one idea."""
    seen: dict[str, int] = {}
    for site in sites:
        seen[site.text] = seen.get(site.text, 0) + 1
    return sum(n - allowed for n in seen.values() if n > allowed)


# Where the calls of plumbing go: the command line, files, logs, processes, clocks.
_PLUMBING = (
    "argparse.", "configargparse.", "os.", "sys.", "shutil.", "glob.", "json.", "pickle.", "yaml.",
    "logging.", "warnings.", "builtins.print", "time.", "datetime.", "subprocess.", "socket.",
    "torch.distributed.", "torch.cuda.", "tqdm.", "wandb.", "tensorboard", "torch.utils.tensorboard",
)


# Classes named for bookkeeping: they record, log or score what the program does.
_BOOKKEEPING = re.compile(r"(Logger|Meter|Evaluator|Writer|Timer|Tracker|Recorder|Visualizer|Saver|Checkpointer)$")


def _plumbing(sites: list) -> bool:
    """Whether most of a step's calls (each callee once) go to plumbing libraries."""
    callees = {site.text: site.external for site in sites}
    if not callees:
        return False
    plumbing = sum(1 for ext in callees.values() if ext and ext.startswith(_PLUMBING))
    return plumbing * 2 > len(callees)


def _built_by_model(cls_node: Node | None, chunks: dict[str, Chunk]) -> bool:
    """Whether a class step was built inside a model part's code (a layer of a layer)."""
    if cls_node is None or cls_node.parent is None:
        return False
    builder = cls_node.parent.chunk
    owner = chunks.get(builder.parent) if builder.kind is ChunkKind.METHOD and builder.parent else None
    return _model_part(owner, chunks)


def _ancestors(node: Node) -> set[Node]:
    out = set()
    while node.parent is not None:
        node = node.parent
        out.add(node)
    return out


def _is_forward(chunk: Chunk | None) -> bool:
    return chunk is not None and chunk.kind is ChunkKind.METHOD and chunk.name in ("forward", "__call__")


def _model_part(cls: Chunk | None, chunks: dict[str, Chunk]) -> bool:
    """A class with a forward (or __call__): a part of the model."""
    return cls is not None and cls.kind is ChunkKind.CLASS and any(
        _is_forward(chunks.get(f"{cls.id}.{name}")) for name in ("forward", "__call__")
    )


def _runs_model(node: Node, chunks: dict[str, Chunk]) -> bool:
    """A forward that code outside the model calls: where the program runs a model."""
    if not _is_forward(node.chunk) or node.edge is None or node.edge.site is None or node.parent is None:
        return False
    caller = node.parent.chunk
    owner = chunks.get(caller.parent) if caller.kind is ChunkKind.METHOD and caller.parent else None
    return not _model_part(owner, chunks)


def _own_lines(chunk: Chunk, children_of: dict[str, list[Chunk]]) -> int:
    """Lines a step reads: a function all of itself, a class or module without the
    definitions it holds (those are steps of their own)."""
    if chunk.kind in (ChunkKind.CLASS, ChunkKind.MODULE):
        inner = sum(c.lines for c in children_of.get(chunk.id, []))
        return max(1, chunk.lines - inner)
    return chunk.lines


def _select(
    nodes: list[Node], weight: _Weight, *, max_depth: int | None, max_steps: int | None, max_lines: int | None
) -> tuple[set[Node], dict[Node, str]]:
    """The nodes kept (the root always) and, for the others, what cut them: the
    heaviest first, each with what it needs, while the budget allows."""
    root = nodes[0]
    cut_by: dict[Node, str] = {}
    if max_depth is not None:
        for node in nodes:
            if node.calls > max_depth or (node.parent is not None and node.parent in cut_by):
                cut_by[node] = f"beyond depth {max_depth}"
    keep = {root}
    steps, lines = 1, weight.lines[root]
    for node in sorted((n for n in nodes[1:] if n not in cut_by), key=lambda n: (-weight.total[n], n.order)):
        if node in keep:
            continue
        closure = _closure(node, keep, weight)
        if any(n in cut_by for n in closure):
            continue
        more_lines = sum(weight.lines[n] for n in closure)
        # A class and its constructor are read together: one step of the budget.
        more_steps = sum(1 for n in closure if n.via is not Via.CONSTRUCTOR or n.parent not in closure)
        if max_steps is not None and steps + more_steps > max_steps:
            continue
        if max_lines is not None and lines + more_lines > max_lines:
            continue
        keep.update(closure)
        steps += more_steps
        lines += more_lines
    _mark_cut(nodes, keep, cut_by, max_steps, max_lines)
    return keep, cut_by


def _mark_cut(nodes: list[Node], keep: set[Node], cut_by: dict[Node, str], max_steps: int | None,
              max_lines: int | None) -> None:
    budget = " and ".join(
        ([f"the {max_steps}-step budget"] if max_steps is not None else [])
        + ([f"the {max_lines}-line budget"] if max_lines is not None else [])
    )
    for node in nodes:
        if node not in keep and node not in cut_by:
            cut_by[node] = f"cut by {budget}"


def _closure(node: Node, keep: set[Node], weight: _Weight) -> list[Node]:
    """node and what must be kept with it: its ancestors, and what it requires."""
    out: list[Node] = []
    todo = [node]
    seen: set[Node] = set()
    while todo:
        n = todo.pop()
        if n in keep or n in seen:
            continue
        seen.add(n)
        out.append(n)
        if n.parent is not None:
            todo.append(n.parent)
        todo.extend(weight.requires.get(n, []))
        # A class is introduced with its constructor, never without it.
        todo.extend(c for c in n.children if c.via is Via.CONSTRUCTOR and n.chunk.kind is ChunkKind.CLASS)
    return out
