"""The whole static analysis of a repository, in one call.

`analyze(root)` scans the repository, parses every Python file once with tree-sitter
(chunks and symbol facts come from the same tree, which is then dropped; a large
repository is read by one process per core), finds the entry points, builds the
symbol graph (reading the YAML configs the code loads) and ranks the symbols. With a
cache folder, an unchanged repository's analysis is read back instead (`cache`).
Nothing in the repository is imported or executed.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from localread.data import Chunk, ChunkKind
from localread.errors import LocalreadError
from localread.repo import cache
from localread.repo import graph as graph_mod
from localread.repo.chunks import extract_chunks, parse
from localread.repo.configs import ConfigFiles
from localread.repo.entries import find_entries
from localread.repo.gcpause import gc_paused
from localread.repo.model import Repo  # re-exported: the stages import it from here
from localread.repo.rank import load_ranker, rank_symbols
from localread.repo.scan import Scan, SourceFile, read_notebook, readme_source, scan


def analyze(
    root: Path, *, require_python: bool = True, jobs: int | None = None, cache_dir: Path | None = None
) -> Repo:
    """Analyze the repository at root.

    Raises LocalreadError when root is missing or not a folder, or (with
    require_python) when it holds no Python file. jobs: processes that read files
    (None: one per core the process may use; see `read_files`). cache_dir: keep the
    analysis there and reuse it while the repository is unchanged (see `cache`).
    """
    result: Scan = scan(root)
    counts = result.counts
    if require_python and not result.files:
        skipped = {
            "too large": counts.skipped_large,
            "binary": counts.skipped_binary,
            "unreadable": counts.skipped_unreadable,
            "links not followed": counts.skipped_links,
            "too deep": counts.skipped_deep,
        }
        if any(skipped.values()):
            shown = ", ".join(f"{n} {what}" for what, n in skipped.items() if n)
            first = f"; first: {counts.notes[0]}" if counts.notes else ""
            raise LocalreadError(f"{root}: no readable Python file ({shown}{first})")
        raise LocalreadError(f"{root}: no Python files found; is this the repository folder?")
    key = cache.fingerprint(result) if cache_dir is not None else None
    if cache_dir is not None and key is not None:
        stored = cache.load(cache_dir, result, key)
        if stored is not None:
            return stored
    # The reads make many small tuples and no cycles worth collecting (see build_graph).
    with gc_paused():
        reads = read_files(result, jobs=jobs, meanwhile=load_ranker)
    chunks: dict[str, Chunk] = {}
    file_symbols: dict[str, graph_mod.FileSymbols] = {}
    for source_file, read in zip(result.files, reads):
        if isinstance(read, Skipped):
            if read.refused:
                counts.skipped_unreadable += 1
            else:
                counts.skipped_invalid += 1
            counts.note(f"{source_file.path}: {read.why}")
            continue
        for why in read.skipped:
            counts.skipped_invalid += 1
            counts.note(f"{source_file.path}: {why}")
        counts.decode_errors += read.decode_error
        if read.syntax_errors:
            counts.syntax_errors += read.syntax_errors
            counts.files_with_syntax_errors.append(source_file.path)
        _add_chunks(chunks, read.chunks)
        file_symbols[source_file.path] = read.symbols
    entries = find_entries(result, chunks)
    # The configs a script loads may come from the flags its README command passes.
    configs = ConfigFiles(result.root, result.layout.configs, {e.path: e.command for e in entries if e.command})
    graph = graph_mod.build_graph(result, chunks, file_symbols, configs)
    for note in configs.notes:
        counts.skipped_invalid += 1
        counts.note(note)
    # The per-file records are done with: freed now, the collector does not walk them
    # again during the stages below.
    del reads, file_symbols
    ranks = rank_symbols(graph)
    repo = Repo(
        root=result.root,
        layout=result.layout,
        counts=counts,
        chunks=chunks,
        graph=graph,
        entries=entries,
        ranks=ranks,
    )
    if cache_dir is not None and key is not None:
        large = sum(f.size for f in result.files) >= PARALLEL_MIN_BYTES
        cache.save(cache_dir, repo, key, background=large)
    return repo


class FileRead(NamedTuple):
    """One file read, parsed and extracted: the chunks (ids not yet made unique across
    the repository) and the symbols the graph needs. The tree is already dropped.
    skipped: parts of the file left out (notebook cells that are not text)."""

    chunks: list[Chunk]
    symbols: graph_mod.FileSymbols
    syntax_errors: int
    decode_error: bool
    skipped: tuple[str, ...] = ()


class Skipped(NamedTuple):
    """A file that was not read, and why. refused: the system refused to read it (as
    opposed to a content that cannot be used)."""

    why: str
    refused: bool


# Below this much Python source a second process costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


def read_files(
    result: Scan, *, jobs: int | None = None, meanwhile: Callable[[], object] | None = None
) -> list[FileRead | Skipped]:
    """`read_file` for every scanned file, in scan order.

    Parsing holds the GIL, so large repositories are split across processes: forked
    children read part of the files while this process reads the rest (fork only, so
    nothing is re-imported and nothing of the repository is ever imported). A child
    that fails leaves its files to this process; the result is the same either way.
    meanwhile: work for this process while the children start (imports the next
    stages need), called once either way.
    """
    jobs = usable_cores() if jobs is None else max(1, jobs)
    size = sum(f.size for f in result.files)
    if jobs < 2 or size < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        return [read_file(result.root, f) for f in result.files]
    shares = _shares(result.files, jobs)
    reads: list[FileRead | Skipped] = [Skipped('not read', refused=True)] * len(result.files)
    context = multiprocessing.get_context("fork")
    # Short-lived children: their tuples make no cycles worth collecting.
    with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context, initializer=gc.disable) as pool:
        futures = [pool.submit(_read_share, result.root, result.files, share) for share in shares[1:]]
        if meanwhile is not None:
            meanwhile()
        for i in shares[0]:
            reads[i] = read_file(result.root, result.files[i])
        for share, future in zip(shares[1:], futures):
            try:
                done = future.result()
            except Exception:  # noqa: BLE001 - a lost child: read its share here (a bug would raise again)
                done = [read_file(result.root, result.files[i]) for i in share]
            for i, read in zip(share, done):
                reads[i] = read
    return reads


def read_file(root: Path, source_file: SourceFile) -> FileRead | Skipped:
    """Read, parse and extract one file; Skipped (with the reason) when it cannot be
    read or its structure is too deep for the extractors."""
    try:
        data = (root / source_file.path).read_bytes()
    except OSError as exc:
        return Skipped((exc.strerror or str(exc)).lower(), refused=True)
    return extract_file(data, source_file)


def extract_file(data: bytes, source_file: SourceFile) -> FileRead | Skipped:
    """Parse and extract the bytes of one file (a notebook's JSON for a .ipynb); never
    raises for what the bytes hold."""
    skipped: tuple[str, ...] = ()
    if source_file.path.endswith(".ipynb"):
        try:
            source, skipped = read_notebook(data)
        except ValueError as exc:
            return Skipped(f"not a Jupyter notebook ({exc})", refused=False)
    elif source_file.path.endswith(".md"):
        source = readme_source(data.decode("utf-8", errors="replace"))
    else:
        source = data
    try:
        source.decode("utf-8")
        decode_error = False
    except UnicodeDecodeError:
        decode_error = True
    tree = parse(source)
    try:
        file_chunks = extract_chunks(tree, source, source_file.path, source_file.module)
        symbols = graph_mod.extract_file(tree, source, source_file, file_chunks.chunks)
    except RecursionError:
        # tree-sitter itself never recurses; this guards the Python walkers after it.
        return Skipped("nested too deeply to analyze", refused=False)
    return FileRead(file_chunks.chunks, symbols, file_chunks.errors, decode_error, skipped)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# What this process reads, as a share of one child's: children also pickle what they
# read and this process unpickles it.
_OWN_SHARE = 0.8


def _shares(files: list[SourceFile], jobs: int) -> list[list[int]]:
    """File indexes per process (this one first), balanced by size, biggest first."""
    loads = [0.0] * jobs
    shares: list[list[int]] = [[] for _ in range(jobs)]
    for i in sorted(range(len(files)), key=lambda i: (-files[i].size, i)):
        p = min(range(jobs), key=lambda p: loads[p] / (_OWN_SHARE if p == 0 else 1.0))
        loads[p] += files[i].size
        shares[p].append(i)
    return [sorted(share) for share in shares]


def _read_share(root: Path, files: list[SourceFile], share: list[int]) -> list[FileRead | Skipped]:
    gc.disable()  # a short-lived child: its tuples make no cycles worth collecting
    return [read_file(root, files[i]) for i in share]


def _add_chunks(chunks: dict[str, Chunk], found: list[Chunk]) -> None:
    """Add one file's chunks, with ids unique across the repository. Two files can
    claim one id: `a/x.py` in two script folders without packages, `x.py` beside
    `x/__init__.py`, or a package's `if __name__ == "__main__":` block
    (`pkg.__main__`) beside its `pkg/__main__.py`. The later one gets `#2` (and its
    children follow it), except that a module keeps its name, which imports resolve
    to: the main block it collides with moves instead."""
    renamed: dict[str, str] = {}
    for chunk in found:
        if chunk.parent in renamed or chunk.module in renamed:
            chunk = replace(chunk, parent=renamed.get(chunk.parent or "", chunk.parent),
                            module=renamed.get(chunk.module, chunk.module))
        held = chunks.get(chunk.id)
        if held is not None and held.kind is ChunkKind.MAIN and chunk.kind is ChunkKind.MODULE:
            moved = _renamed(held, chunks)
            chunks[moved.id] = moved
        elif held is not None:
            new = _renamed(chunk, chunks)
            renamed[chunk.id] = new.id
            chunk = new
        chunks[chunk.id] = chunk


def _renamed(chunk: Chunk, chunks: dict[str, Chunk]) -> Chunk:
    """chunk under the first id `<id>#2`, `<id>#3`, ... that chunks does not hold."""
    n = 2
    while f"{chunk.id}#{n}" in chunks:
        n += 1
    return replace(chunk, id=f"{chunk.id}#{n}")

