"""Plain values that flow between the stages.

These types are pure values: no I/O, no references to parse trees. Identity (ids,
parent links) is a dotted string; storage keys are the store's concern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ChunkKind(StrEnum):
    MODULE = "module"
    CLASS = "class"
    FUNCTION = "function"
    METHOD = "method"
    # The body of `if __name__ == "__main__":` at module level.
    MAIN = "main"


class NarrativeSource(StrEnum):
    """Where an Explanation's narrative comes from."""

    MODEL = "model"  # the model's first answer
    RETRY = "retry"  # the model's answer to the retry prompt, the first one was rejected
    STATIC = "static"  # no narrative: --no-llm, or every model answer was rejected


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
class Explanation:
    """What `explain` produces for a chunk: static facts, model narrative, grounding.

    source: where the narrative comes from (NarrativeSource); rejected: why each model
    answer that was not kept was rejected, in order (e.g. it repeated the prompt's
    worked example)."""

    id: str
    facts: dict
    narrative: str
    unverified: tuple[str, ...]
    model_name: str
    model_sha256: str
    prompt_version: str
    condensed: bool = False
    source: NarrativeSource = NarrativeSource.MODEL
    rejected: tuple[str, ...] = ()


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
