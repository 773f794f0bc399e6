"""The batch-run lock of a repository: one `summarize` at a time per repository.

`run_lock(settings, repo_root)` holds an OS file lock in `<cache_dir>/locks/`,
released by the kernel when the holder dies (even by SIGKILL), so a killed run never
leaves a stale lock. A second `summarize` on the same repository refuses at once with
a message naming the holder; runs on different repositories share the store safely
(SQLite locking, see store.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from localread.config import Settings
from localread.errors import LocalreadError


@contextmanager
def run_lock(settings: Settings, repo_root: Path, *, wait_s: float = 0.0) -> Iterator[Path]:
    """Hold the batch-run lock of one repository for the duration of the block.

    The lock is an OS file lock (released by the kernel when the holder dies, even by
    SIGKILL, so a killed run never leaves a stale lock). wait_s: how long to wait for
    another holder; 0 refuses at once. Raises LocalreadError naming the holder; a full
    disk only means the holder is not named in the lock file.
    """
    digest = hashlib.sha256(str(repo_root.resolve()).encode("utf-8")).hexdigest()[:16]
    folder = settings.cache_dir / "locks"
    lock_path = folder / f"summarize-{digest}.lock"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise LocalreadError(
            f"cannot create a lock file in {folder} ({exc.strerror}); "
            + ("free some space" if full else "set LOCALREAD_CACHE_DIR to a writable folder")
        ) from None
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                holder = _read_holder(fd)
                raise LocalreadError(
                    f"another `localread summarize` is already running on {repo_root} ({holder}); "
                    "wait for it to finish (its work is shared through the store)"
                )
            time.sleep(0.2)
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        _write_holder(fd, f"pid {os.getpid()}, started {stamp}")
        try:
            yield folder
        finally:
            _write_holder(fd, "")
            _unlock(fd)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split()) or "another process"


def _write_holder(fd: int, text: str) -> None:
    """Name the holder in the lock file. Only a courtesy for the message of a refused
    run: a full disk must not stop the run that holds the lock."""
    try:
        os.ftruncate(fd, 0)
        if text:
            os.pwrite(fd, text.encode(), 0)
    except OSError:
        pass


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
