"""`Repo`: everything the static reader knows about one repository, the value every
stage after the analysis reads (built by `analysis.analyze`, stored by `cache`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localread.data import Chunk, Counts
from localread.repo.entries import EntryPoint
from localread.repo.graph import Graph
from localread.repo.scan import Layout, read_source


@dataclass(slots=True)
class Repo:
    """Everything the static reader knows about one repository."""

    root: Path
    layout: Layout
    counts: Counts
    chunks: dict[str, Chunk]  # by id, in (path, start) order
    graph: Graph
    entries: list[EntryPoint]  # best first
    ranks: dict[str, float]

    def chunk_source(self, chunk: Chunk) -> str:
        """The chunk's source lines, read again from disk (the repo is not kept in memory)."""
        text = read_source(self.root, chunk.path).decode("utf-8", errors="replace")
        return "\n".join(text.split("\n")[chunk.start - 1 : chunk.end])

    def chunks_in(self, path: str) -> list[Chunk]:
        return [c for c in self.chunks.values() if c.path == path]

    def relative(self, path: str) -> str:
        """A path given by the user (absolute, relative to the cwd, or relative to the
        repository) as a repository-relative POSIX path."""
        candidate = Path(path)
        for base in (Path.cwd(), self.root):
            full = candidate if candidate.is_absolute() else base / candidate
            if not full.exists():
                continue
            try:
                return full.resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                continue
        return candidate.as_posix().removeprefix("./")
