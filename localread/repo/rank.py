"""Rank symbols by how central they are: PageRank over the symbol graph.

The graph is built purely (graph.py); ranking is a separate pass whose weights are
named in `RankWeights`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def load_ranker() -> None:
    """Import networkx and the scipy parts its PageRank runs on (about a third of a
    second), so that a caller can do it while other processes work."""
    import networkx  # noqa: F401
    import scipy.sparse
    import scipy.sparse.linalg  # noqa: F401


def rank_symbols(graph: Graph, weights: RankWeights = WEIGHTS) -> dict[str, float]:
    """PageRank of every chunk, normalised to sum 1. Deterministic: nodes and edges are
    added in sorted order. An empty graph gives {}."""
    chunks = graph.chunks
    if not chunks:
        return {}
    import networkx as nx

    edge_weight = {
        EdgeKind.CALLS: weights.calls,
        EdgeKind.INSTANTIATES: weights.instantiates,
        EdgeKind.REFERENCES: weights.references,
        EdgeKind.INHERITS: weights.inherits,
        EdgeKind.OVERRIDES: weights.overrides,
        EdgeKind.IMPORTS: weights.imports,
    }
    # Parallel edges of any kinds add up to one weighted edge.
    summed: dict[tuple[str, str], float] = {}
    for edge in graph.edges:
        if edge.source != edge.target and edge.source in chunks and edge.target in chunks:
            key = (edge.source, edge.target)
            summed[key] = summed.get(key, 0.0) + edge_weight[edge.kind]
    for chunk_id, chunk in chunks.items():
        if chunk.parent is not None and chunk.parent in chunks:
            key = (chunk_id, chunk.parent)
            summed[key] = summed.get(key, 0.0) + weights.member
    g = nx.DiGraph()
    g.add_nodes_from(sorted(chunks))
    g.add_weighted_edges_from((s, t, summed[s, t]) for s, t in sorted(summed))
    prior = {cid: _prior(cid, chunks[cid].path, chunks[cid].name, weights) for cid in sorted(chunks)}
    total = sum(prior.values())
    personalization = {cid: p / total for cid, p in prior.items()}
    ranks = nx.pagerank(g, alpha=weights.damping, personalization=personalization, weight="weight")
    return {cid: ranks[cid] for cid in sorted(ranks)}


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
