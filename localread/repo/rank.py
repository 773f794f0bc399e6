"""Rank symbols by how central they are: PageRank over the symbol graph.

The graph is built purely (graph.py); ranking is a separate pass whose weights are
named in `RankWeights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from localread.data import ChunkKind, EdgeKind
from localread.repo.graph import Graph


@dataclass(frozen=True, slots=True)
class RankWeights:
    """Weight of each kind of edge when rank flows from user to used, and node priors."""

    calls: float = 1.0  # running a function is the strongest sign that it matters
    instantiates: float = 1.0  # building a class is as strong as calling it
    references: float = 0.5  # stored in a registry or passed as a callback: used later
    inherits: float = 0.5  # a base class matters to every subclass
    overrides: float = 0.3  # a base method is the contract for its overrides
    imports: float = 0.1  # importing a module says little about which part matters
    member: float = 0.3  # a method's importance flows to its class (and a class's to its module)
    damping: float = 0.85  # the usual PageRank damping
    private_prior: float = 0.5  # `_helper` names start with less weight than public ones
    test_prior: float = 0.05  # test code is not the core of a repository


WEIGHTS = RankWeights()


def rank_symbols(graph: Graph, weights: RankWeights = WEIGHTS) -> dict[str, float]:
    """PageRank of every chunk, normalised to sum 1. Deterministic: nodes and edges are
    added in sorted order. An empty graph gives {}."""
    chunks = graph.chunks
    if not chunks:
        return {}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(chunks))
    edge_weight = {
        EdgeKind.CALLS: weights.calls,
        EdgeKind.INSTANTIATES: weights.instantiates,
        EdgeKind.REFERENCES: weights.references,
        EdgeKind.INHERITS: weights.inherits,
        EdgeKind.OVERRIDES: weights.overrides,
        EdgeKind.IMPORTS: weights.imports,
    }
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target, e.kind)):
        if edge.source == edge.target or edge.source not in chunks or edge.target not in chunks:
            continue
        _add(g, edge.source, edge.target, edge_weight[edge.kind])
    for chunk_id in sorted(chunks):
        parent = chunks[chunk_id].parent
        if parent is not None and parent in chunks:
            _add(g, chunk_id, parent, weights.member)
    prior = {cid: _prior(cid, chunks[cid].path, chunks[cid].name, weights) for cid in sorted(chunks)}
    total = sum(prior.values())
    personalization = {cid: p / total for cid, p in prior.items()}
    ranks = nx.pagerank(g, alpha=weights.damping, personalization=personalization, weight="weight")
    return {cid: ranks[cid] for cid in sorted(ranks)}


def _add(g: nx.DiGraph, source: str, target: str, weight: float) -> None:
    if g.has_edge(source, target):
        g[source][target]["weight"] += weight
    else:
        g.add_edge(source, target, weight=weight)


def _prior(chunk_id: str, path: str, name: str, weights: RankWeights) -> float:
    top = path.split("/")[0]
    if top in ("tests", "test") or path.rsplit("/", 1)[-1].startswith("test_"):
        return weights.test_prior
    if name.startswith("_") and not name.startswith("__"):
        return weights.private_prior
    return 1.0


def core_symbols(graph: Graph, ranks: dict[str, float], limit: int = 20) -> list[str]:
    """The highest-ranked classes, functions and methods (not modules or main blocks)."""
    code = [
        cid for cid, c in graph.chunks.items() if c.kind in (ChunkKind.CLASS, ChunkKind.FUNCTION, ChunkKind.METHOD)
    ]
    return sorted(code, key=lambda cid: (-ranks.get(cid, 0.0), cid))[:limit]
