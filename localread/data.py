"""Plain values that flow between the stages.

These types are pure values: no I/O, no references to parse trees. Identity (ids,
parent links) is a dotted string; storage keys are the store's concern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class ChunkKind(StrEnum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    METHOD = "method"
    # The body of `if __name__ == "__main__":` at module level.
    MAIN = "main"


class NarrativeSource(StrEnum):
    """Where an Explanation's narrative comes from."""

    MODEL = "model"  # the model's first answer, which passed the quality gate
    RETRY = "retry"  # the model's answer to the retry prompt, the first one was rejected
    STATIC = "static"  # the static description: --no-llm, or every model answer was rejected
    DOCSTRING = "docstring"  # the static description, led by the docstring: no model asked


class EdgeKind(StrEnum):
    IMPORTS = "imports"
    CALLS = "calls"
    INSTANTIATES = "instantiates"
    REFERENCES = "references"
    INHERITS = "inherits"
    OVERRIDES = "overrides"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A module, class, function, method or main block.

    id: dotted module path + qualname (`pkg.core.Generator.generate`); the main block
    of module `m` is `m.__main__`. path: relative to the repo, `/` separators.
    start/end: 1-based inclusive lines. parent: id of the enclosing chunk (None for a
    module). source_hash: sha256 hex of the chunk's source text. module: dotted name
    of the module that holds the chunk (the chunk's own id for a module).
    """

    id: str
    kind: ChunkKind
    path: str
    start: int
    end: int
    name: str
    signature: str
    docstring: str | None
    source_hash: str
    parent: str | None
    decorators: tuple[str, ...] = ()
    is_async: bool = False
    module: str = ""

    @property
    def qualname(self) -> str:
        """The id without the module part (`Generator.generate`); the id itself for modules."""
        if self.kind is ChunkKind.MODULE:
            return self.id
        return self.id[len(self.module) + 1 :]

    @property
    def lines(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class Edge:
    """source uses target at path:line."""

    source: str
    target: str
    kind: EdgeKind
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class Step:
    """One stop on a reading tour."""

    id: str
    kind: ChunkKind
    path: str
    start: int
    end: int
    depth: int
    reason: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter as a caller passes it (`*args` and `**kwargs` keep their stars);
    annotation and default as written in the source."""

    name: str
    annotation: str | None
    default: str | None


@dataclass(frozen=True, slots=True)
class Caller:
    """A chunk that calls (or instantiates) this one, at `path:line`."""

    id: str
    at: str


@dataclass(frozen=True, slots=True)
class Callee:
    """A repository symbol this chunk calls, at `path:line`. summary: what an earlier
    `summarize` said of it (None when nothing is known)."""

    id: str
    at: str
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class FactsCard:
    """What static analysis knows of a chunk, exactly (built by localread.facts).

    Lists keep source order and are cut to a few entries where a chunk has many.
    bases / methods: classes only; defines: modules only (None for other kinds, and
    then absent from the JSON). reading_path: the chunk's place on the default tour,
    None when no tour was given."""

    id: str
    kind: ChunkKind
    path: str
    start: int
    end: int
    signature: str
    decorators: tuple[str, ...]
    docstring: str | None
    parameters: tuple[Parameter, ...]
    returns: str | None
    returned: tuple[str, ...]
    raises: tuple[str, ...]
    attributes_read: tuple[str, ...]
    attributes_written: tuple[str, ...]
    callers: tuple[Caller, ...]
    callees: tuple[Callee, ...]
    outline: tuple[str, ...]
    reading_path: str | None
    bases: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    defines: tuple[str, ...] | None = None

    def with_summaries(self, summaries: Mapping[str, str]) -> FactsCard:
        """A new card whose callees carry summaries.get(callee id) (None where it has
        none, replacing what the card had)."""
        return replace(self, callees=tuple(replace(c, summary=summaries.get(c.id)) for c in self.callees))

    def to_json(self) -> dict[str, Any]:
        """The `facts` object of `explain --json` (DESIGN.md), keys in this order."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": str(self.kind),
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "signature": self.signature,
            "decorators": list(self.decorators),
            "docstring": self.docstring,
            "parameters": [{"name": p.name, "annotation": p.annotation, "default": p.default} for p in self.parameters],
            "returns": self.returns,
            "returned": list(self.returned),
            "raises": list(self.raises),
            "attributes_read": list(self.attributes_read),
            "attributes_written": list(self.attributes_written),
            "callers": [{"id": c.id, "at": c.at} for c in self.callers],
            "callees": [{"id": c.id, "at": c.at, "summary": c.summary} for c in self.callees],
            "outline": list(self.outline),
        }
        if self.bases is not None:
            out["bases"] = list(self.bases)
        if self.methods is not None:
            out["methods"] = list(self.methods)
        if self.defines is not None:
            out["defines"] = list(self.defines)
        out["reading_path"] = self.reading_path
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """What `explain` produces for a chunk: static facts, model narrative, grounding.

    narrative: the text shown as the explanation: the model's line of purpose when
    it passed the quality gate (localread.quality), else the static description;
    never empty. description: the static description (localread.describe), always.
    source: where the narrative comes from (NarrativeSource); rejected: why each model
    answer that was not kept was rejected, in order (e.g. it took words from the
    prompt's worked example). elided_lines: source lines the last prompt left out to
    fit the model's context; None when no prompt was built (--no-llm)."""

    id: str
    facts: FactsCard
    narrative: str
    unverified: tuple[str, ...]
    model_name: str
    model_sha256: str
    prompt_version: str
    condensed: bool = False
    source: NarrativeSource = NarrativeSource.MODEL
    rejected: tuple[str, ...] = ()
    elided_lines: int | None = None
    description: str = ""

    @property
    def from_model(self) -> bool:
        """Whether the narrative is the model's (and not the static description)."""
        return self.source in (NarrativeSource.MODEL, NarrativeSource.RETRY)

    @property
    def condensed_note(self) -> str | None:
        """What the reader is told when the prompt left source out, else None."""
        if not self.elided_lines:
            return None
        return f"{self.elided_lines} source lines were elided to fit the model's context"


@dataclass(slots=True)
class Counts:
    """What the static reader skipped or could not read, shown to the user.

    notes: "path: what was skipped and why", for the first MAX_NOTES things skipped
    (the counts go on counting past them)."""

    files: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    skipped_unreadable: int = 0  # the system refused: permission, I/O error, name too long
    skipped_invalid: int = 0  # read, but not usable: a broken notebook, nesting too deep
    skipped_links: int = 0  # links leaving the repository, broken, or looping: not followed
    skipped_deep: int = 0  # folders nested deeper than the scan goes
    decode_errors: int = 0
    syntax_errors: int = 0
    files_with_syntax_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    MAX_NOTES = 50

    def note(self, line: str) -> None:
        """Keep one "path: why" line (the first MAX_NOTES are kept)."""
        if len(self.notes) < self.MAX_NOTES:
            self.notes.append(line)

    def warnings(self) -> int:
        return (
            self.skipped_unreadable
            + self.skipped_invalid
            + self.skipped_links
            + self.skipped_deep
            + self.decode_errors
            + len(self.files_with_syntax_errors)
        )
