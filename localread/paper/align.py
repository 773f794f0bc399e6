"""Section <-> code alignment, in both directions.

`code_view(repo, summaries)` gathers what alignment needs from an analysed repository
(plain values: chunks, documents, edges, ranks, the core symbols). `align(paper,
view)` ranks, for every section, the classes, functions and methods that implement
it:

1. lexical: BM25 over the code documents with a query made of the section's title
   (weighted), prose, equations and algorithms (notation mapped to identifier words);
   the code's own abbreviations of the paper's words (`freq`, `blk`) count as those
   words; the score is divided by the query's upper bound, so it lies in 0..1 and can
   be compared across sections;
2. graph: the best lexical candidates pass part of their score along the call,
   instantiation and containment edges (a matched class reaches its `forward` and
   the helpers `forward` calls; a matched method lifts its class), up to two hops.

The reverse direction: core symbols (highest rank on the reading path from the entry
points) that no section's convincing match covers, and sections whose best match is
not convincing. Everything is deterministic: ties sort by id.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localread.data import Chunk, ChunkKind, Edge, EdgeKind
from localread.paper.index import CANDIDATE_KINDS, LexicalIndex, folded_into, index_code
from localread.paper.text import BlockKind, Paper, Section
from localread.paper.tokens import (
    abbreviation_aliases,
    math_terms,
    prose_terms,
    split_identifier,
    stem,
)

if TYPE_CHECKING:
    from localread.repo.analysis import Repo


@dataclass(frozen=True, slots=True)
class AlignWeights:
    """Every number the alignment uses, named. Tuned on tests/fixtures/paper_protomem
    and checked on tests/fixtures/paper_trajdiff, a paraphrasing paper
    (benchmarks/paper_recall.py prints what a change does)."""

    title: int = 3  # a title term counts as this many body occurrences
    max_term_count: int = 3  # a term repeated more often in the body says no more
    max_query_terms: int = 48  # the section's most salient terms, which form the query
    # A section word no code uses counts against every match, as this share of a rare
    # word: a section mostly about things the code never names is not "found".
    unknown: float = 0.6
    # A convincing match reaches min_score, and `relative` times the best score a
    # typical section of this paper gets (the 75th percentile of the sections' best
    # scores): papers differ in how much prose surrounds the method.
    min_score: float = 0.12
    relative: float = 0.5
    seeds: int = 8  # lexical candidates that spread score along the graph
    hops: int = 2
    spread: float = 0.5  # share of the spread score added to a symbol's own score
    # Edge weights of the spread, by what the edge means to a reader of the paper:
    runs: float = 0.8  # class -> its forward/__call__: what calling the module does
    member: float = 0.5  # class -> its other methods
    owner: float = 0.6  # method -> its class: the class is the component the paper names
    calls: float = 0.6  # caller -> callee: a helper of the matched code
    instantiates: float = 0.5  # builder -> class it builds
    called_by: float = 0.25  # callee -> caller: weaker, callers are often generic drivers
    inherits: float = 0.3  # subclass -> base
    references: float = 0.2  # any other use


DEFAULT_WEIGHTS = AlignWeights()
_RUN_METHODS = ("forward", "__call__")


@dataclass(frozen=True, slots=True)
class Match:
    """A symbol that implements a section. score: lexical plus graph share; lexical:
    the words alone; evidence: the shared words, strongest first; via: how the graph
    reached it ("called by X"); why: the model's sentence, if any. why_source: with
    the model, where `why` comes from ("model", "retry", or "static" when every
    sentence failed the quality gate and the static reason stands); None without it.
    rejected: why the quality gate rejected each sentence, in order."""

    id: str
    score: float
    lexical: float = 0.0
    evidence: tuple[str, ...] = ()
    via: str | None = None
    why: str | None = None
    why_source: str | None = None
    rejected: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "score": self.score, "why": self.why}
        if self.why_source is not None:
            out |= {"why_source": self.why_source, "rejected": list(self.rejected)}
        return out


@dataclass(frozen=True, slots=True)
class SectionAlignment:
    title: str
    level: int
    matches: tuple[Match, ...]
    matched: bool  # the section's best lexical evidence reaches the alignment's threshold


@dataclass(frozen=True, slots=True)
class Alignment:
    paper: str
    sections: tuple[SectionAlignment, ...]
    uncovered_symbols: tuple[str, ...]
    unmatched_sections: tuple[str, ...]
    threshold: float = 0.0  # the score a convincing match reaches
    model: str | None = None  # the model that re-ranked and wrote the reasons, if any

    def to_json(self) -> dict:
        """The `paper --json` shape of DESIGN.md."""
        return {
            "paper": self.paper,
            "sections": [
                {
                    "title": s.title,
                    "matches": [m.to_json() for m in s.matches],
                }
                for s in self.sections
            ],
            "uncovered_symbols": list(self.uncovered_symbols),
            "unmatched_sections": list(self.unmatched_sections),
        }


@dataclass(frozen=True, slots=True)
class CodeView:
    """What alignment needs to know about a repository, as plain values.

    docs: index terms by candidate chunk id (classes, functions, methods). core: the
    symbols a paper is expected to describe, most important first. names: the terms
    of the names the repository binds, where its abbreviations are (none: the code's
    abbreviations are not read as the paper's words).
    """

    chunks: Mapping[str, Chunk]
    docs: Mapping[str, Sequence[str]]
    edges: Sequence[Edge] = ()
    ranks: Mapping[str, float] = field(default_factory=dict)
    core: Sequence[str] = ()
    names: frozenset[str] = frozenset()


def code_view(repo: Repo, summaries: Mapping[str, str] | None = None, core_limit: int = 10) -> CodeView:
    """The CodeView of an analysed repository; summaries (chunk id -> text, e.g. from
    the batch store) join the documents when given. The core is taken from the tour of
    the best entry point (the main reading path); without an entry point, from the
    whole repository."""
    from localread.repo.tour import build_tour

    chunks = repo.chunks
    edges = [e for e in repo.graph.edges if e.source in chunks and e.target in chunks]
    path = [step.id for step in build_tour(repo, repo.entries[0]).steps] if repo.entries else []
    documents = index_code(repo.root, chunks, summaries)
    return CodeView(
        chunks=chunks,
        docs=documents.docs,
        edges=edges,
        ranks=repo.ranks,
        core=core_symbols(chunks, repo.ranks, path, core_limit),
        names=documents.names,
    )


def core_symbols(
    chunks: Mapping[str, Chunk], ranks: Mapping[str, float], path: Sequence[str], limit: int = 10
) -> list[str]:
    """The highest-ranked classes, functions and methods among `path` (the reading
    path), or among all chunks when path has none. Constructors count as their class;
    other dunder methods and the entry script's own functions are left out."""
    entry_file = chunks[path[0]].path if path and path[0] in chunks else None

    def eligible(cid: str) -> bool:
        c = chunks[cid]
        dunder = c.name.startswith("__") and c.name.endswith("__")
        return c.kind in CANDIDATE_KINDS and not dunder and c.path != entry_file

    on_path = [folded_into(chunks[cid], chunks) for cid in path if cid in chunks]
    pool = sorted({cid for cid in on_path if eligible(cid)})
    if not pool:
        pool = sorted(cid for cid in chunks if eligible(cid))
    pool.sort(key=lambda cid: (-ranks.get(cid, 0.0), cid))
    return pool[:limit]


def align(
    paper: Paper,
    view: CodeView,
    *,
    top: int = 3,
    graph: bool = True,
    weights: AlignWeights = DEFAULT_WEIGHTS,
    paper_name: str | None = None,
) -> Alignment:
    """Rank code symbols for every section and find what is on one side only.

    top: matches kept per section. graph: False gives the lexical ranking alone.
    paper_name: how the paper is named in the result (default: paper.path).
    """
    vocabulary = {t for section in paper.sections for t in section_query(section, weights)}
    index = LexicalIndex(with_aliases(view.docs, vocabulary, view.names))
    adjacency = _adjacency(view, weights) if graph else {}
    ranked = [rank_section(section, index, adjacency, weights) for section in paper.sections]
    # Whether a section is found rests on direct evidence, the words it shares with
    # the code; the graph only reorders and extends what that evidence found.
    best = [max((m.lexical for m in r), default=0.0) for r in ranked]
    threshold = convincing_score(best, weights)
    sections = [
        SectionAlignment(section.title, section.level, tuple(r[:top]), b >= threshold and b > 0)
        for section, r, b in zip(paper.sections, ranked, best)
    ]
    return finish(paper_name or paper.path, sections, view, threshold)


def with_aliases(
    docs: Mapping[str, Sequence[str]], paper_terms: Iterable[str], names: Iterable[str]
) -> dict[str, list[str]]:
    """Documents in which the code's abbreviations (among `names`, the terms of the
    names it binds) of the paper's words also count as those words, bigrams included
    (tokens.abbreviation_aliases: `freq` for frequency, `blk` for block); each
    document keeps its own terms."""
    aliases = abbreviation_aliases(names, paper_terms)
    out: dict[str, list[str]] = {}
    for cid, terms in docs.items():
        extra: list[str] = []
        for term in terms:
            if term in aliases:
                extra.append(aliases[term])
            elif "_" in term:
                first, _, second = term.partition("_")
                if first in aliases or second in aliases:
                    extra.append(f"{aliases.get(first, first)}_{aliases.get(second, second)}")
        out[cid] = [*terms, *extra]
    return out


def convincing_score(best: Sequence[float], weights: AlignWeights = DEFAULT_WEIGHTS) -> float:
    """The score a convincing match reaches, given each section's best score."""
    if not best:
        return weights.min_score
    ordered = sorted(best)
    typical = ordered[round(0.75 * (len(ordered) - 1))]
    return round(max(weights.min_score, weights.relative * typical), 4)


def finish(
    paper: str,
    sections: Sequence[SectionAlignment],
    view: CodeView,
    threshold: float,
    model: str | None = None,
) -> Alignment:
    """Both reverse lists, from sections whose matches are final (also after a
    re-ranking). A core symbol is covered when it, its class, or one of its methods
    is a convincing match (score >= threshold) of some section."""
    def owner(cid: str) -> str | None:
        chunk = view.chunks.get(cid)
        parent = view.chunks.get(chunk.parent) if chunk is not None and chunk.parent else None
        return parent.id if parent is not None and parent.kind is ChunkKind.CLASS else None

    covered: set[str] = set()
    for s in sections:
        for m in s.matches if s.matched else ():
            if m.score >= threshold:
                covered.update(x for x in (m.id, owner(m.id)) if x is not None)
    uncovered = tuple(cid for cid in view.core if cid not in covered and owner(cid) not in covered)
    unmatched = tuple(s.title for s in sections if not s.matched)
    return Alignment(paper, tuple(sections), uncovered, unmatched, threshold, model)


def section_query(section: Section, weights: AlignWeights = DEFAULT_WEIGHTS) -> Counter[str]:
    """Term counts of a section: body terms (capped), title terms weighted."""
    body: Counter[str] = Counter()
    for block in section.blocks:
        if block.kind is BlockKind.EQUATION:
            body.update(math_terms(block.text))
        elif block.kind in (BlockKind.PARAGRAPH, BlockKind.ALGORITHM):
            # Algorithm steps mix words and inline math ($\hat{y}_0 \gets ...$) like prose.
            inline = re.findall(r"\$([^$]+)\$", block.text)
            body.update(prose_terms(re.sub(r"\$[^$]+\$", " ", block.text)))
            for tex in inline:
                body.update(math_terms(tex))
        else:
            body.update(prose_terms(block.text))
    query = Counter({t: min(n, weights.max_term_count) for t, n in body.items()})
    for term in prose_terms(_bare_title(section.title)):
        query[term] += weights.title
    return query


def rank_section(
    section: Section,
    index: LexicalIndex,
    adjacency: Mapping[str, Sequence[tuple[str, float, str]]],
    weights: AlignWeights = DEFAULT_WEIGHTS,
) -> list[Match]:
    """All candidates with a positive score, best first (ties by id)."""
    counts = section_query(section, weights)
    # The section's most salient terms, known to the code or not: a word no code uses
    # weighs like a rare one, scaled by `unknown` (bigrams unknown to the code are
    # just word pairs and do not count).
    def weight(term: str) -> float:
        idf = index.idf(term)
        return counts[term] * (idf if idf > 0 else weights.unknown * index.max_idf)

    salient = [t for t in counts if index.idf(t) > 0 or "_" not in t]
    salient.sort(key=lambda t: (-weight(t), t))
    salient = salient[: weights.max_query_terms]
    query = [t for t in salient if index.idf(t) > 0 for _ in range(counts[t])]
    upper = sum(weight(t) for t in salient)
    if not query or upper <= 0:
        return []
    raw = index.scores(query)
    lexical = {cid: float(s) / upper for cid, s in zip(index.ids, raw) if s > 0}
    seeds = sorted(lexical, key=lambda c: (-lexical[c], c))[: weights.seeds]
    spread, via = _spread(seeds, lexical, adjacency, weights.hops)
    scores = {cid: lexical.get(cid, 0.0) + weights.spread * spread.get(cid, 0.0) for cid in lexical.keys() | spread.keys()}
    surface = _surface_words(section)
    ranked = sorted((c for c in scores if scores[c] > 0), key=lambda c: (-scores[c], c))
    matches = []
    for cid in ranked:
        shared = [t for t in dict.fromkeys(query) if t in index.docs.get(cid, ())]
        shared.sort(key=lambda t: (-counts[t] * index.idf(t), t))
        evidence = tuple(_in_section_words(t, surface) for t in shared[:4])
        graph_part = weights.spread * spread.get(cid, 0.0)
        matches.append(
            Match(
                id=cid,
                score=round(scores[cid], 4),
                lexical=round(lexical.get(cid, 0.0), 4),
                evidence=evidence,
                via=via.get(cid) if graph_part > lexical.get(cid, 0.0) else None,
            )
        )
    return matches


def _spread(
    seeds: Sequence[str],
    lexical: Mapping[str, float],
    adjacency: Mapping[str, Sequence[tuple[str, float, str]]],
    hops: int,
) -> tuple[dict[str, float], dict[str, str]]:
    """Score each symbol gets from the best seed path of at most `hops` edges (the
    product of edge weights times the seed's score), and that path's last step."""
    best: dict[str, float] = {}
    via: dict[str, str] = {}
    frontier = {s: lexical[s] for s in seeds}
    for _ in range(hops):
        nxt: dict[str, float] = {}
        for source in sorted(frontier):
            for target, weight, how in adjacency.get(source, ()):
                value = frontier[source] * weight
                if value > nxt.get(target, 0.0):
                    nxt[target] = value
                    if value > best.get(target, 0.0):
                        via[target] = how
        for target, value in nxt.items():
            best[target] = max(best.get(target, 0.0), value)
        frontier = nxt
    return best, via


def _adjacency(view: CodeView, w: AlignWeights) -> dict[str, list[tuple[str, float, str]]]:
    """Spread edges between candidates: (target, weight, how a reader would say it)."""
    chunks = view.chunks
    adj: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)

    def add(source: str, target: str, weight: float, how: str) -> None:
        source = folded_into(chunks[source], chunks)
        target = folded_into(chunks[target], chunks)
        if source == target or target not in view.docs or source not in view.docs:
            return
        if weight > adj[source].get(target, (0.0, ""))[0]:
            adj[source][target] = (weight, how)

    for c in chunks.values():
        if c.kind is ChunkKind.METHOD and c.parent in chunks and folded_into(c, chunks) == c.id:
            parent = chunks[c.parent]
            run = c.name in _RUN_METHODS
            add(parent.id, c.id, w.runs if run else w.member, f"method of {_short(parent)}")
            add(c.id, parent.id, w.owner, f"class of {_short(c)}")
    edge_weights = {
        EdgeKind.CALLS: (w.calls, "called by"),
        EdgeKind.INSTANTIATES: (w.instantiates, "built by"),
        EdgeKind.INHERITS: (w.inherits, "base of"),
        EdgeKind.OVERRIDES: (w.inherits, "overridden by"),
        EdgeKind.REFERENCES: (w.references, "used by"),
    }
    for e in sorted(view.edges, key=lambda e: (e.source, e.target, e.kind, e.path, e.line)):
        if e.source not in chunks or e.target not in chunks or e.kind not in edge_weights:
            continue
        weight, how = edge_weights[e.kind]
        add(e.source, e.target, weight, f"{how} {_short(chunks[e.source])}")
        if e.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES):
            add(e.target, e.source, w.called_by, f"calls {_short(chunks[e.target])}")
    return {s: sorted(((t, wt, how) for t, (wt, how) in ts.items())) for s, ts in sorted(adj.items())}


def _short(chunk: Chunk) -> str:
    return chunk.qualname


def _bare_title(title: str) -> str:
    """'2.1 Mask decoder' -> 'Mask decoder'."""
    return re.sub(r"^([0-9]+(\.[0-9]+)*\.?|[IVX]+\.|[A-H](\.[0-9]+)+\.?)\s+", "", title)


def _surface_words(section: Section) -> dict[str, str]:
    """Index term -> a word of the section that gives it, for showing evidence."""
    surface: dict[str, str] = {}
    for raw in re.findall(r"[A-Za-z][A-Za-z0-9_]*", f"{section.title} {section.text}"):
        for part in split_identifier(raw):
            surface.setdefault(stem(part), part)
    return surface


def _in_section_words(term: str, surface: Mapping[str, str]) -> str:
    """'mask_decod' -> 'mask decoder' in the section's own words."""
    return " ".join(surface.get(part, part) for part in term.split("_"))
