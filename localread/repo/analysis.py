"""The whole static analysis of a repository, in one call.

`analyze(root)` scans the repository, parses every Python file once with tree-sitter
(chunks and symbol facts come from the same tree, which is then dropped), builds the
symbol graph, finds the entry points and ranks the symbols. Nothing in the repository
is imported or executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from localread.data import Chunk, Counts
from localread.errors import LocalreadError
from localread.repo import graph as graph_mod
from localread.repo.chunks import extract_chunks, parse
from localread.repo.entries import EntryPoint, find_entries
from localread.repo.graph import Graph
from localread.repo.rank import rank_symbols
from localread.repo.scan import Layout, Scan, read_source, scan


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


def analyze(root: Path, *, require_python: bool = True) -> Repo:
    """Analyze the repository at root.

    Raises LocalreadError when root is missing or not a folder, or (with
    require_python) when it holds no Python file.
    """
    result: Scan = scan(root)
    counts = result.counts
    if require_python and not result.files:
        if counts.skipped_large or counts.skipped_binary or counts.skipped_unreadable:
            raise LocalreadError(
                f"{root}: no readable Python file ({counts.skipped_large} too large, "
                f"{counts.skipped_binary} binary, {counts.skipped_unreadable} unreadable)"
            )
        raise LocalreadError(f"{root}: no Python files found; is this the repository folder?")
    chunks: dict[str, Chunk] = {}
    file_symbols: dict[str, graph_mod.FileSymbols] = {}
    for source_file in result.files:
        try:
            source = read_source(result.root, source_file.path)
        except (OSError, ValueError):
            counts.skipped_unreadable += 1
            continue
        try:
            source.decode("utf-8")
        except UnicodeDecodeError:
            counts.decode_errors += 1
        tree = parse(source)
        file_chunks = extract_chunks(tree, source, source_file.path, source_file.module)
        if file_chunks.errors:
            counts.syntax_errors += file_chunks.errors
            counts.files_with_syntax_errors.append(source_file.path)
        for chunk in file_chunks.chunks:
            chunks[chunk.id] = chunk if chunk.id not in chunks else _renamed(chunk, chunks)
        file_symbols[source_file.path] = graph_mod.extract_file(
            tree, source, source_file, file_chunks.chunks
        )
        del tree
    graph = graph_mod.build_graph(result, chunks, file_symbols)
    entries = find_entries(result, chunks)
    ranks = rank_symbols(graph)
    return Repo(
        root=result.root,
        layout=result.layout,
        counts=counts,
        chunks=chunks,
        graph=graph,
        entries=entries,
        ranks=ranks,
    )


def _renamed(chunk: Chunk, chunks: dict[str, Chunk]) -> Chunk:
    """Two files mapping to one module name (e.g. `a/x.py` in two script folders
    without packages) cannot share ids; the later one is disambiguated by path."""
    from dataclasses import replace

    n = 2
    while f"{chunk.id}#{n}" in chunks:
        n += 1
    return replace(chunk, id=f"{chunk.id}#{n}")

