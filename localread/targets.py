"""Resolve what the user names on the command line to one chunk.

A TARGET is a chunk id (`pkg.core.Generator.generate`), a unique dotted suffix of
one (`Generator.generate`, `generate`), or `PATH[:LINE]` (the innermost chunk that
holds LINE; the module without LINE). Errors are LocalreadErrors that list the
candidates or suggest the closest names.
"""

from __future__ import annotations

import difflib

from localread.data import Chunk, ChunkKind
from localread.errors import LocalreadError
from localread.repo.analysis import Repo

MAX_LISTED = 8


def resolve_target(repo: Repo, target: str) -> Chunk:
    if target in repo.chunks:
        return repo.chunks[target]
    by_path = _by_path(repo, target)
    if by_path is not None:
        return by_path
    matches = sorted(cid for cid in repo.chunks if cid.endswith("." + target))
    if len(matches) == 1:
        return repo.chunks[matches[0]]
    if matches:
        shown = ", ".join(matches[:MAX_LISTED]) + (", ..." if len(matches) > MAX_LISTED else "")
        raise LocalreadError(f"{target!r} is ambiguous: {len(matches)} symbols match ({shown}); name one of them")
    names = sorted({c.qualname for c in repo.chunks.values()} | set(repo.chunks))
    close = difflib.get_close_matches(target, names, n=5, cutoff=0.6)
    if not close:
        last = target.rsplit(".", 1)[-1].lower()
        close = sorted(n for n in names if last and last in n.lower())[:5]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `localread map` lists the core symbols"
    raise LocalreadError(f"no symbol or file {target!r} in {repo.root}{hint}")


def _by_path(repo: Repo, target: str) -> Chunk | None:
    """`path`, `path:line`, absolute or relative to the cwd or the repo."""
    path, _, line = target.rpartition(":") if ":" in target else (target, "", "")
    if not line.isdigit():
        path, line = target, ""
    rel = repo.relative(path)
    chunks = [c for c in repo.chunks.values() if c.path == rel]
    if not chunks:
        if path.endswith((".py", ".ipynb")):
            raise LocalreadError(f"{path}: not a Python file of {repo.root} (or it was skipped)")
        return None
    if not line:
        return next(c for c in chunks if c.kind is ChunkKind.MODULE)
    number = int(line)
    holding = [c for c in chunks if c.start <= number <= c.end]
    if not holding:
        last = max(c.end for c in chunks)
        raise LocalreadError(f"{rel}:{number}: the file has {last} lines")
    return min(holding, key=lambda c: (c.lines, -c.start))
