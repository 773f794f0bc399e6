"""A lexical index over a repository's classes, functions and methods.

`code_documents(root, chunks, summaries)` reads each Python file once more with
tree-sitter (never importing it) and gives every class, function and method chunk a
bag of index terms: its name (weighted), its class and module names, the identifiers
its own lines use, its docstring, comments and string literals, and its cached
summary if one is given. Lines of a nested definition belong to that definition only.
`index_code` gives the same documents and, beside them, the terms of the names the
repository itself binds (definitions, parameters, assignment targets): the author's
own vocabulary, where the abbreviations of the paper's words are (`freq`, `blk`), as
opposed to names of the libraries it calls (`torch.cat`, `math.log`).
`LexicalIndex` ranks those documents against a query with BM25 (bm25s, Lucene
variant) and knows each term's IDF, so scores can be put on a 0..1 scale.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
from tree_sitter import Node

from localread.data import Chunk, ChunkKind
from localread.paper.tokens import identifier_terms, prose_terms
from localread.repo.chunks import node_text, parse

CANDIDATE_KINDS = frozenset({ChunkKind.CLASS, ChunkKind.FUNCTION, ChunkKind.METHOD})
MAX_STRING_CHARS = 2000  # a longer literal is data (a prompt, a table), not a description


@dataclass(frozen=True, slots=True)
class DocWeights:
    """How many times each field's terms enter a chunk's document (BM25 saturates)."""

    name: int = 3  # the chunk's own name says most about it
    parent: int = 1  # the class a method belongs to
    module: int = 1  # the file it lives in (mask_decoder.py)
    identifier: int = 1  # each distinct identifier its own lines use, once
    prose: int = 1  # docstrings, comments, string literals
    summary: int = 1  # a cached model summary


DEFAULT_DOC_WEIGHTS = DocWeights()


@dataclass(frozen=True, slots=True)
class CodeDocuments:
    """docs: index terms by candidate chunk id. names: the unigram index terms of the
    names the repository binds (see `binds`)."""

    docs: dict[str, list[str]]
    names: frozenset[str]


def code_documents(
    root: Path,
    chunks: Mapping[str, Chunk],
    summaries: Mapping[str, str] | None = None,
    weights: DocWeights = DEFAULT_DOC_WEIGHTS,
) -> dict[str, list[str]]:
    """Index terms for every class, function and method chunk, by chunk id (the docs
    of `index_code`)."""
    return index_code(root, chunks, summaries, weights).docs


def index_code(
    root: Path,
    chunks: Mapping[str, Chunk],
    summaries: Mapping[str, str] | None = None,
    weights: DocWeights = DEFAULT_DOC_WEIGHTS,
) -> CodeDocuments:
    """Index terms for every class, function and method chunk, and the terms of the
    names the repository binds, from one parse of each file.

    A constructor is part of its class: `__init__` gets no document of its own, its
    terms join the class's (what a module holds is what a paper says it consists
    of). Files that cannot be read any more still get name-based documents.
    """
    by_path: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks.values():
        by_path[chunk.path].append(chunk)
    docs: dict[str, list[str]] = {}
    names: set[str] = set()
    for path in sorted(by_path):
        file_chunks = by_path[path]
        idents, prose, bound = _file_words(root / path, file_chunks)
        for name in bound:
            names.update(identifier_terms(name, bigrams=False))
        for chunk in file_chunks:
            if chunk.kind not in CANDIDATE_KINDS:
                continue
            target = folded_into(chunk, chunks)
            if target != chunk.id:
                docs.setdefault(target, [])
                for ident in sorted(idents.get(chunk.id, ())):
                    docs[target] += identifier_terms(ident) * weights.identifier
                for text in prose.get(chunk.id, ()):
                    docs[target] += prose_terms(text) * weights.prose
                continue
            terms = identifier_terms(chunk.name) * weights.name
            parent = chunks.get(chunk.parent) if chunk.parent else None
            if parent is not None and parent.kind is ChunkKind.CLASS:
                terms += identifier_terms(parent.name) * weights.parent
            terms += identifier_terms(chunk.module.rsplit(".", 1)[-1]) * weights.module
            for ident in sorted(idents.get(chunk.id, ())):
                terms += identifier_terms(ident) * weights.identifier
            for text in prose.get(chunk.id, ()):
                terms += prose_terms(text) * weights.prose
            if chunk.docstring and chunk.id not in prose:
                terms += prose_terms(chunk.docstring) * weights.prose
            if summaries and summaries.get(chunk.id):
                terms += prose_terms(summaries[chunk.id]) * weights.summary
            docs[chunk.id] = terms + docs.get(chunk.id, [])
    return CodeDocuments(docs=docs, names=frozenset(names))


def folded_into(chunk: Chunk, chunks: Mapping[str, Chunk]) -> str:
    """The id a chunk is aligned as: its class for a constructor, else its own."""
    if chunk.kind is ChunkKind.METHOD and chunk.name == "__init__" and chunk.parent in chunks:
        return chunk.parent
    return chunk.id


def _file_words(
    file: Path, chunks: Sequence[Chunk]
) -> tuple[dict[str, set[str]], dict[str, list[str]], set[str]]:
    """Identifiers (distinct) and prose (comments, strings) of a file, by the innermost
    chunk whose lines hold them, and the names the file binds."""
    try:
        source = file.read_bytes()
    except OSError:
        return {}, {}, set()
    lines = source.count(b"\n") + 2
    owner: list[str | None] = [None] * (lines + 1)
    for chunk in sorted(chunks, key=lambda c: (-(c.end - c.start), c.start, c.id)):
        if chunk.kind is ChunkKind.MODULE:
            continue
        for line in range(chunk.start, min(chunk.end, lines) + 1):
            owner[line] = chunk.id
    idents: dict[str, set[str]] = defaultdict(set)
    prose: dict[str, list[str]] = defaultdict(list)
    bound: set[str] = set()
    stack = [parse(source).root_node]
    while stack:
        node = stack.pop()
        kind = node.type
        if kind == "identifier" and binds(node):
            bound.add(node_text(node))
        if kind in ("identifier", "comment", "string_content"):
            chunk_id = owner[node.start_point.row + 1]
            if chunk_id is not None:
                text = node_text(node)
                if kind == "identifier":
                    idents[chunk_id].add(text)
                elif len(text) <= MAX_STRING_CHARS:
                    prose[chunk_id].append(text.lstrip("#").strip())
            continue
        stack.extend(node.children)
    return idents, prose, bound


# Nodes whose identifier children all bind a name: `def f(a, *b, **c)`, `x, y = ...`.
_BINDING_PARENTS = frozenset(
    {"parameters", "lambda_parameters", "pattern_list", "tuple_pattern", "list_pattern",
     "list_splat_pattern", "dictionary_splat_pattern", "as_pattern_target", "global_statement"}
)
# Nodes whose identifier in the given field binds a name.
_BINDING_FIELDS = {
    "function_definition": "name",
    "class_definition": "name",
    "default_parameter": "name",
    "typed_default_parameter": "name",
    "assignment": "left",
    "augmented_assignment": "left",
    "for_statement": "left",
    "for_in_clause": "left",
    "named_expression": "name",
}


def binds(node: Node) -> bool:
    """Whether an identifier node is a name the code defines: a function, class,
    parameter, assignment or loop target, or an attribute assigned to (`self.x = ...`).
    Keyword-argument names, attributes read and imported names are not."""
    parent = node.parent
    if parent is None:
        return False
    kind = parent.type
    if kind in _BINDING_PARENTS:
        return True
    if kind == "typed_parameter":
        return parent.children[0] == node
    if kind in _BINDING_FIELDS:
        return parent.child_by_field_name(_BINDING_FIELDS[kind]) == node
    if kind == "attribute" and parent.child_by_field_name("attribute") == node:
        target = parent.parent
        return (
            target is not None
            and target.type in ("assignment", "augmented_assignment")
            and target.child_by_field_name("left") == parent
        )
    return False


class LexicalIndex:
    """BM25 over code documents. Ids are kept sorted so that ties break by id."""

    def __init__(self, docs: Mapping[str, Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.ids: list[str] = sorted(docs)
        self.docs: dict[str, frozenset[str]] = {i: frozenset(docs[i]) for i in self.ids}
        df: dict[str, int] = defaultdict(int)
        for terms in self.docs.values():
            for term in terms:
                df[term] += 1
        n = len(self.ids)
        # The Lucene IDF, as bm25s computes it, so that score / upper() lies in 0..1.
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._bm25: bm25s.BM25 | None = None
        if self.ids:
            self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
            corpus = [list(docs[i]) or ["\x00empty"] for i in self.ids]
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        """IDF of a term; 0 for a term no document has."""
        return self._idf.get(term, 0.0)

    @property
    def max_idf(self) -> float:
        """The IDF a term would have if one document had it (the rarest possible)."""
        n = len(self.ids)
        return math.log(1 + (n - 1 + 0.5) / 1.5) if n else 0.0

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (in `ids` order); repeated terms weigh more."""
        known = [t for t in query if t in self._idf]
        if self._bm25 is None or not known:
            return np.zeros(len(self.ids), dtype=np.float64)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float64)

    def upper(self, query: Sequence[str]) -> float:
        """The score no document reaches: each known term's IDF, once per repetition
        (Lucene BM25's term weight tends to the IDF as the term frequency grows)."""
        return sum(self._idf.get(t, 0.0) for t in query)
