"""What a model text asserts about the code, held against the facts: the rules of the
quality gate (localread.quality) on calls, files and kinds of thing.

A text fails here when it says `X` calls `Y` and the graph says `Y` calls `X`, or
that the unit calls a name its code never mentions (`wrong_relations`); writes a
call of a name that neither the unit's code nor any definition of the repository
names (`invented_calls`: "uses the bm25s.score() method"); names a Python file the
repository does not have (`invented_files`); or calls the unit a kind of thing it is
not (`wrong_kind`: a function "is a `torch.Tensor` object"). `Subject` is what the
gate knows of the unit (localread.quality.subject_for builds it); `relations(repo)`
is the graph as these rules read it, built once per repository.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from localread.data import EdgeKind

if TYPE_CHECKING:
    from localread.repo.analysis import Repo

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True, slots=True)
class Relations:
    """The repository's call graph as the gate reads it. by_name: a symbol's short
    name and qualified name -> the chunk ids so named; calls: caller id -> the chunk
    ids it calls or instantiates; files: the paths of its Python files, and their names."""

    by_name: Mapping[str, frozenset[str]]
    calls: Mapping[str, frozenset[str]]
    files: frozenset[str] = frozenset()

    def resolve(self, mention: str) -> frozenset[str]:
        """The chunk ids a name in a text may mean (`Segmenter.predict`, `predict()`)."""
        name = mention.strip("`()").removeprefix("self.").removesuffix("()")
        if name in self.by_name:
            return self.by_name[name]
        return self.by_name.get(name.rsplit(".", 1)[-1], frozenset())

    def has_call(self, source: str, target: str) -> bool:
        return target in self.calls.get(source, frozenset())


def relations(repo: Repo) -> Relations:
    """The Relations of a repository (built once per repository and reused)."""
    cached = _RELATIONS.get(id(repo))
    if cached is not None and cached[0] is repo:
        return cached[1]
    by_name: dict[str, set[str]] = {}
    for chunk in repo.chunks.values():
        for name in {chunk.name, chunk.qualname, chunk.id}:
            by_name.setdefault(name, set()).add(chunk.id)
    calls: dict[str, set[str]] = {}
    for caller, sites in repo.graph.calls.items():
        for site in sites:
            calls.setdefault(caller, set()).update(site.targets)
    for edge in repo.graph.edges:
        if edge.kind in (EdgeKind.CALLS, EdgeKind.INSTANTIATES):
            calls.setdefault(edge.source, set()).add(edge.target)
    paths = {c.path for c in repo.chunks.values()}
    made = Relations(
        {k: frozenset(v) for k, v in by_name.items()}, {k: frozenset(v) for k, v in calls.items()},
        frozenset(paths | {p.rsplit("/", 1)[-1] for p in paths}),
    )
    _RELATIONS.clear()  # one repository at a time in practice; never grow without bound
    _RELATIONS[id(repo)] = (repo, made)
    return made


_RELATIONS: dict[int, tuple[object, Relations]] = {}


@dataclass(frozen=True, slots=True)
class Subject:
    """What the gate knows of the unit a text is about.

    name: its short name; ids: its chunk id and the ids it may be named by (a class
    and its constructor); kind: a ChunkKind value, or "package" / "repository".
    vocabulary: content stems of what the unit is (name words, parameters, callees,
    attributes, docstring, returns, raises, bases, methods): a text must share one.
    context: stems of everything the prompt showed of the unit (source, facts, reason,
    summaries shown): words a text may use without taking them from an example.
    restated: stems of the name, the file's path, the kind and the reason line: a text
    made only of these adds nothing. source_names: identifiers in the unit's source (a callee it
    is said to call must be among them); callers: ids of the chunks that call it.
    relations: the repository's call graph, None when there is no code unit. bases: a
    class's base classes as written, last part only (None: not a class). lineage: a
    class's bases and, through the repository's classes it derives from, their bases
    in turn (`SyncBatchNorm` -> `_BatchNorm`, `_NormBase`, `Module`).
    """

    name: str
    ids: frozenset[str]
    kind: str
    vocabulary: frozenset[str]
    context: frozenset[str]
    restated: frozenset[str]
    source_names: frozenset[str] = frozenset()
    callers: frozenset[str] = frozenset()
    relations: Relations | None = None
    bases: frozenset[str] | None = None
    lineage: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- claims


_NAME = r"`[^`\n]{1,80}`|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?|[A-Za-z]*_[A-Za-z0-9_]+(?:\(\))?|[A-Za-z_][A-Za-z0-9_]*\(\)"
_PASSIVE = re.compile(
    rf"(?:(?P<a>{_NAME})|\b(?P<pronoun>[Ii]t|[Tt]his))\s+(?:is|are|gets|get)\s+(?:\w+\s+)?(?:called|invoked|instantiated|created|constructed|run)\s+(?:by|from|in|when)\s+(?P<b>{_NAME})"
)
_ACTIVE = re.compile(
    rf"(?:(?P<a>{_NAME})|\b(?P<pronoun>[Ii]t|[Tt]his|[Ww]hich|[Tt]hen|[Aa]nd|[Aa]lso|[Ff]irst|[Ff]inally))\s+"
    rf"(?:(?:then|also|first|finally|simply|just)\s+)?(?:calls|invokes|instantiates)\s+(?P<b>{_NAME})"
)
_KIND = re.compile(
    r"^\W*`?[\w.]+`?(?:\(\))?\s+is\s+(?:a|an|the)\s+(?:[`\w.]+\s+){0,3}?(?P<what>class|object|module|function|method|tensor|array)\b"
)
_WRONG_KIND = {
    "function": {"class", "object", "module", "tensor", "array"},
    "method": {"class", "object", "module", "tensor", "array"},
    "class": {"function", "method", "module", "tensor", "array"},
    "module": {"class", "function", "method", "object", "tensor", "array"},
}


def wrong_kind(text: str, subject: Subject) -> list[str]:
    match = _KIND.match(text)
    if match is None or match.group("what") not in _WRONG_KIND.get(subject.kind, ()):
        return []
    what = match.group("what")
    # A class of a kind its own name or lineage names: every subclass of PyTorch's
    # `Module` is "a module", of `ndarray` "an array".
    if subject.kind == "class" and any(n.lower().endswith(what) for n in {subject.name, *subject.lineage}):
        return []
    return [f"calls the {subject.kind} `{subject.name}` a{'n' if what[0] in 'aeiou' else ''} {what}"]


def _is_subject(mention: str, subject: Subject) -> bool:
    name = mention.strip("`").removesuffix("()").removeprefix("self.")
    return name == subject.name or any(i == name or i.endswith("." + name) for i in subject.ids)


def wrong_relations(text: str, subject: Subject) -> list[str]:
    """Call relations the text asserts that the facts contradict."""
    if subject.relations is None:
        return []
    found: list[str] = []
    for sentence in _SENTENCE.split(text):
        claims = [(m.group("b"), m.group("a") or "") for m in _PASSIVE.finditer(sentence)]
        for m in _ACTIVE.finditer(sentence):
            claims.append((m.group("a") or "", m.group("b")))
        for caller, callee in claims:
            why = _contradiction(caller, callee, subject)
            if why is not None and why not in found:
                found.append(why)
    return found


# A name written as a call: `bm25s.score()`, score(), `self.fit()`.
_CALLED = re.compile(r"`?(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\(\)`?")


def invented_calls(text: str, subject: Subject) -> list[str]:
    """Names the text writes as calls (`bm25s.score()`) that neither the unit's code
    nor any definition of the repository names: a callee that does not exist (Gemma
    3 270M, on bm25s: "uses the bm25s.score() method to calculate the scores")."""
    if subject.relations is None:
        return []
    names = (m.group("name") for m in _CALLED.finditer(text))
    return list(dict.fromkeys(
        f"names `{name}()`, which neither its code nor the repository defines" for name in names
        if name.rsplit(".", 1)[-1] not in subject.source_names
        and not subject.relations.resolve(name) and not _is_subject(name, subject)
    ))


# A Python file a text names: `bm25s.py`, scripts/train.py.
_FILE = re.compile(r"(?<![\w/.-])(?P<path>[A-Za-z0-9_][\w./-]*\.py)\b")


def invented_files(text: str, subject: Subject) -> list[str]:
    """Python files the text names that the repository does not have (Gemma 3 270M on
    bm25s's `mcp.server.main`: "Create a mcp server for the bm25s.py cli")."""
    if subject.relations is None or not subject.relations.files:
        return []
    paths = (m.group("path").removeprefix("./") for m in _FILE.finditer(text))
    return list(dict.fromkeys(
        f"names the file `{path}`, which the repository does not have" for path in paths
        if path not in subject.relations.files
    ))


def _contradiction(caller: str, callee: str, subject: Subject) -> str | None:
    """Why "caller calls callee" is false by the facts, or None (true or unknown). An
    empty caller or callee is the unit itself ("It calls `f`", "It is called by `g`")."""
    rel = subject.relations
    assert rel is not None  # checked by the caller
    shown_caller, shown_callee = caller.strip("`") or subject.name, callee.strip("`") or subject.name
    caller_is_unit = not caller or _is_subject(caller, subject)
    callee_is_unit = not callee or _is_subject(callee, subject)
    if caller_is_unit and callee_is_unit:
        # Only a qualified name is surely the unit itself (`forward` may be a block's).
        named = [m for m in (caller, callee) if m]
        if named and all("." in m.strip("`") for m in named) and not any(rel.has_call(i, i) for i in subject.ids):
            return f"says `{subject.name}` calls itself, which its code does not"
        return None
    if caller_is_unit:
        name = shown_callee.removesuffix("()").rsplit(".", 1)[-1]
        if name and name not in subject.source_names:
            return f"says `{subject.name}` calls `{shown_callee}`, which its code never names"
        return None
    callers = rel.resolve(caller)
    if callee_is_unit:
        if not callers or callers & subject.callers:
            return None
        if any(rel.has_call(i, c) for i in subject.ids for c in callers):
            return f"says `{shown_caller}` calls `{subject.name}`, but it is `{subject.name}` that calls `{shown_caller}`"
        return None
    callees = rel.resolve(callee)
    if not callers or not callees:
        return None
    forward = any(rel.has_call(a, b) for a in callers for b in callees)
    backward = any(rel.has_call(b, a) for a in callers for b in callees)
    if backward and not forward:
        return f"says `{shown_caller}` calls `{shown_callee}`, but it is `{shown_callee}` that calls `{shown_caller}`"
    return None
