"""A cache of whole analyses: running map, tour, explain, paper or summarize again on
an unchanged repository costs a scan and one read instead of a full analysis.

An entry is keyed by a fingerprint of everything the analysis reads: the repository
root, what the scan found (layout, skip counts) and, for every Python file, notebook,
README, packaging file and YAML file (a config the code may load), its path, size,
inode and modification time in nanoseconds; plus localread's own code and the Python
grammar, so that an upgrade never loads an analysis of another shape. A hit returns the stored `Repo`; a miss, an
unreadable or corrupt entry, or one under another key means analyzing again and
replacing it. There is one entry per repository, written atomically, so a reader
never sees half a file.

Entries are pickles written by localread into the user's own cache folder
(`<cache_dir>/analysis`), never anything from the repository being read.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import time
from dataclasses import astuple
from functools import cache
from pathlib import Path

from localread.repo.model import Repo
from localread.repo.scan import Scan

# Bump when what is stored changes in a way the code fingerprint would not show.
FORMAT = 1
# A file modified this recently may still change within the same file-time tick.
RACY_SECONDS = 2.0


def entry_path(cache_dir: Path, root: Path) -> Path:
    """Where the analysis of the repository at root is kept."""
    digest = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / "analysis" / f"{digest[:32]}.pickle"


def fingerprint(result: Scan) -> str | None:
    """The key of an analysis of this scan; None when an input cannot be stat'ed or
    was modified in the last `RACY_SECONDS` (file times are coarse: a second write in
    the same tick, of the same size, would not change the key)."""
    layout = result.layout
    counts = result.counts
    digest = hashlib.sha256()
    digest.update(repr((FORMAT, _code_fingerprint(), str(result.root))).encode())
    digest.update(repr(astuple(layout)).encode())
    digest.update(repr(astuple(counts)).encode())
    inputs = [f.path for f in result.files] + sorted({*layout.packaging, *([layout.readme] if layout.readme else [])})
    inputs += layout.configs
    settled = time.time_ns() - int(RACY_SECONDS * 1e9)
    for rel in inputs:
        try:
            st = os.stat(result.root / rel)
        except OSError:
            return None
        if st.st_mtime_ns > settled:
            return None
        digest.update(f"{rel}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def load(cache_dir: Path, result: Scan, key: str) -> Repo | None:
    """The stored analysis under key, or None."""
    path = entry_path(cache_dir, result.root)
    try:
        with open(path, "rb") as fh:
            stored_key, repo = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - any damaged or foreign entry is only a miss
        return None
    return repo if stored_key == key else None


def save(cache_dir: Path, repo: Repo, key: str, *, background: bool = False) -> None:
    """Store repo under key. background: write from a detached process where the
    platform can fork (pickling a large analysis takes a good part of a second that the
    user need not wait for). Failures (a full disk, a read-only cache folder) only mean
    no cache."""
    path = entry_path(cache_dir, repo.root)
    if not background or not hasattr(os, "fork"):
        _write(path, repo, key)
        return
    try:
        child = os.fork()
    except OSError:
        _write(path, repo, key)
        return
    if child:
        os.waitpid(child, 0)
        return
    # First child: fork the writer and exit at once, so the writer is nobody's zombie.
    try:
        if os.fork() == 0:
            _detach()
            _write(path, repo, key)
    finally:
        os._exit(0)


def _detach() -> None:
    """A background writer must not keep the command's pipes open (a reader of the
    command's output would wait for it)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


def _write(path: Path, repo: Repo, key: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((key, repo), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, pickle.PicklingError, RecursionError):
        return


@cache
def _code_fingerprint() -> str:
    """Sizes and times of localread's own code and of the Python grammar."""
    import tree_sitter
    import tree_sitter_python

    package = Path(__file__).resolve().parent.parent
    parts = []
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".scm"):
            st = path.stat()
            parts.append(f"{path.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}")
    for module in (tree_sitter, tree_sitter_python):
        location = Path(module.__file__ or "").parent
        for path in sorted(location.glob("*.so")) + sorted(location.glob("*.pyd")):
            st = path.stat()
            parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
