"""The one owner of localread's SQLite store of summaries.

`Store.open(settings_or_path)` returns an open store: the file is `summaries.sqlite3`
in the cache dir (platformdirs; LOCALREAD_CACHE_DIR overrides, see config.py). It is
created atomically (built under a temporary name, then linked into place, so a
half-made file is never seen), brought up to date by ordered migrations
(store_schema.py: `m001_initial`, `m002_runs`, ... tracked in `PRAGMA user_version`), and kept in WAL
mode so readers never block the writer. Every `put` is its own committed
transaction: a process killed with SIGKILL loses at most the result it was making.

A file that is not a database, fails SQLite's `quick_check`, or was written by a
newer localread (a schema this version does not know) is moved aside to
`summaries.sqlite3.bad-<UTC time>` with a warning and a fresh store is built.

`run_lock(settings, repo_root)` (runlock.py, re-exported here) serialises batch runs
on one repository: a second `summarize` on the same repository refuses at once with
a message naming the holder. Runs on different repositories share the store safely
(SQLite locking, busy timeout).

`known_summaries(settings, wanted)` reads, without opening the store for writing,
what earlier runs said of chunks whose code is unchanged (for explain and tour).

Keys are `make_key(kind, parts)`: the scheme prefix `s1:` and the sha256 of the
canonical JSON of the parts, so a change of key scheme is detectable. summarize's
parts name the model by its file's sha256, or, for a model on a server or a batch
engine, by `server_model_sha256(served name)` (llm/server.py), so results of the two
kinds of engine never share a key.

`put_attempt` / `get_attempt` keep a batch answer that was rejected while its unit's
second attempt is still to come (summarize.batch); the `put` of the unit's final
summary removes it in the same transaction.

Errors the user can act on (disk full, a disk I/O error, read-only or uncreatable
folder, a store busy for too long) are LocalreadError with one line that says what to
do. A store that cannot be written is never mistaken for a damaged one (it is not
moved aside), and a failed creation leaves no temporary file behind; temporary files
left by a process that died while creating the store are removed by the next open.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from localread import __version__
from localread.config import Settings
from localread.errors import LocalreadError
from localread.runlock import run_lock
from localread.store_schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Attempt", "Entry", "RunRecord", "Store", "canonical_json", "known_summaries", "make_key", "run_lock", "store_path"]

STORE_NAME = "summaries.sqlite3"
KEY_SCHEME = "s1"
# How long a writer waits for another process's transaction before giving up. Each
# transaction is one small row, so waiting this long means something is stuck.
BUSY_TIMEOUT_S = 30.0

Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored result. detail: JSON-able extras (e.g. unverified names)."""

    key: str
    kind: str
    summary: str
    model_sha256: str
    prompt_version: str
    detail: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    prompt_tokens_reused: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """An answer of an earlier batch wave that was rejected, its key's next attempt
    still to come: why, and what the call cost."""

    key: str
    unit: str
    rejected: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    repo: str
    pid: int
    started: str
    finished: str | None
    status: str | None
    stats: dict[str, Any] | None


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_key(kind: str, parts: Mapping[str, Any]) -> str:
    """`s1:` + sha256 of the canonical JSON of {"kind": kind, **parts}."""
    payload = canonical_json({"kind": kind, **parts}).encode("utf-8")
    return f"{KEY_SCHEME}:{hashlib.sha256(payload).hexdigest()}"


def store_path(settings: Settings) -> Path:
    return settings.cache_dir / STORE_NAME


class _Unusable(Exception):
    """The file at the store path cannot be used as it is; the message says why."""


class Store:
    """An open store. Use as a context manager, or call close()."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    # -- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, where: Settings | Path, *, warn: Warn | None = None) -> Store:
        """Open (creating, migrating or rebuilding as needed) the store.

        where: Settings (the store lives in settings.cache_dir) or the store file path.
        warn: receives one line for each problem that was repaired (a corrupt or
        foreign file moved aside). Raises LocalreadError when the folder cannot be
        created or written, or the disk is full.
        """
        path = store_path(where) if isinstance(where, Settings) else Path(where)
        warn = warn or (lambda _line: None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalreadError(
                f"cannot create the cache folder {path.parent} ({exc.strerror}); "
                "set LOCALREAD_CACHE_DIR to a writable folder"
            ) from None
        with _as_user_error(path):
            _remove_leftovers(path)
            if not path.exists():
                _create(path)
            try:
                conn = _connect_checked(path)
            except _Unusable as why:
                aside = _move_aside(path)
                warn(f"the store {path} {why}; moved it to {aside.name} and started a new one")
                _create(path)
                conn = _connect_checked(path)
            try:
                with _transaction(conn):
                    conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('localread_version', ?)",
                        (__version__,),
                    )
            except BaseException:
                conn.close()
                raise
        return cls(path, conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- summaries -------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with _as_user_error(self.path):
            row = self._conn.execute(
                "SELECT key, kind, summary, model_sha256, prompt_version, detail, prompt_tokens,"
                " prompt_tokens_reused, completion_tokens, seconds FROM summaries WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return Entry(
            key=row[0],
            kind=row[1],
            summary=row[2],
            model_sha256=row[3],
            prompt_version=row[4],
            detail=json.loads(row[5]),
            prompt_tokens=row[6],
            prompt_tokens_reused=row[7],
            completion_tokens=row[8],
            seconds=row[9],
        )

    def put(self, entry: Entry) -> None:
        """Store one result and commit it before returning. An existing key is kept
        (first writer wins: two runs computing the same key made the same thing).
        The key's pending batch attempt, if any, goes in the same transaction."""
        with _as_user_error(self.path), _transaction(self._conn):
            self._conn.execute("DELETE FROM attempts WHERE key = ?", (entry.key,))
            self._conn.execute(
                "INSERT OR IGNORE INTO summaries (key, kind, summary, detail, model_sha256,"
                " prompt_version, prompt_tokens, prompt_tokens_reused, completion_tokens,"
                " seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.key,
                    entry.kind,
                    entry.summary,
                    canonical_json(entry.detail),
                    entry.model_sha256,
                    entry.prompt_version,
                    entry.prompt_tokens,
                    entry.prompt_tokens_reused,
                    entry.completion_tokens,
                    entry.seconds,
                    _now(),
                ),
            )

    def count(self) -> int:
        with _as_user_error(self.path):
            return int(self._conn.execute("SELECT count(*) FROM summaries").fetchone()[0])

    # -- batch attempts ----------------------------------------------------------------

    def put_attempt(self, attempt: Attempt) -> None:
        """Keep a rejected batch answer whose next attempt is still to come (committed
        before returning; a later one for the same key replaces it)."""
        with _as_user_error(self.path), _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO attempts (key, unit, rejected, prompt_tokens,"
                " completion_tokens, created) VALUES (?, ?, ?, ?, ?, ?)",
                (attempt.key, attempt.unit, canonical_json(list(attempt.rejected)),
                 attempt.prompt_tokens, attempt.completion_tokens, _now()),
            )

    def get_attempt(self, key: str) -> Attempt | None:
        with _as_user_error(self.path):
            row = self._conn.execute(
                "SELECT key, unit, rejected, prompt_tokens, completion_tokens FROM attempts WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return Attempt(row[0], row[1], tuple(json.loads(row[2])), row[3], row[4])

    # -- runs ------------------------------------------------------------------------

    def begin_run(self, repo: str) -> int:
        """Record a run that starts now; returns its id."""
        with _as_user_error(self.path), _transaction(self._conn):
            cur = self._conn.execute(
                "INSERT INTO runs (repo, pid, started) VALUES (?, ?, ?)", (repo, os.getpid(), _now())
            )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, status: str, stats: Mapping[str, Any]) -> None:
        with _as_user_error(self.path), _transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET finished = ?, status = ?, stats = ? WHERE id = ?",
                (_now(), status, canonical_json(dict(stats)), run_id),
            )

    def last_run(self, repo: str, *, before: int | None = None) -> RunRecord | None:
        """The latest run on repo (with id < before, when given)."""
        query = "SELECT id, repo, pid, started, finished, status, stats FROM runs WHERE repo = ?"
        args: list[Any] = [repo]
        if before is not None:
            query += " AND id < ?"
            args.append(before)
        with _as_user_error(self.path):
            row = self._conn.execute(query + " ORDER BY id DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return RunRecord(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]) if row[6] else None)


# SQLite's default limit on `?` parameters in one statement is 32766; stay well below.
_LOOKUP_BATCH = 500


def known_summaries(settings: Settings, wanted: Mapping[str, str]) -> dict[str, str]:
    """The latest stored summary of each chunk in wanted (chunk id -> its source hash)
    whose code has not changed since, from any model or prompt version: what an
    earlier `summarize` said of it. Read-only: a store that is missing, busy, damaged
    or from another version gives what it can, never an error, and is never changed
    (repairs are left to `summarize`)."""
    path = store_path(settings)
    if not wanted or not path.is_file():
        return {}
    found: dict[str, str] = {}
    ids = sorted(wanted)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            for start in range(0, len(ids), _LOOKUP_BATCH):
                batch = ids[start : start + _LOOKUP_BATCH]
                rows = conn.execute(
                    "SELECT json_extract(detail, '$.unit'), json_extract(detail, '$.source_hash'), summary"
                    " FROM summaries WHERE json_extract(detail, '$.unit') IN"
                    f" ({','.join('?' * len(batch))}) ORDER BY created",
                    batch,
                ).fetchall()
                for unit, source_hash, summary in rows:
                    if source_hash == wanted[unit] and summary:
                        found[unit] = summary  # the latest wins: rows come oldest first
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # what was read before the error is still good
    return found


# -- creation, checks, repair ---------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE), so a
    # writer takes the write lock up front instead of failing to upgrade later.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _create(path: Path) -> None:
    """Build a fresh store under a temporary name and link it into place, so no
    process ever opens a half-migrated file. Losing a creation race is fine: the
    winner's file is used."""
    tmp = _tmp_name(path, os.getpid())
    try:
        _remove_with_journal(tmp)
        conn = _connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            _migrate(conn, 0)
            # Fold the WAL back into the file before it is linked into place.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # A filesystem without hard links: rename, unless someone beat us to it.
            if not path.exists():
                os.replace(tmp, path)
    finally:
        # Also when the disk filled up halfway: no half-made store is left behind.
        _remove_with_journal(tmp)


def _tmp_name(path: Path, pid: int) -> Path:
    return path.with_name(f".{path.name}.{pid}.tmp")


def _remove_with_journal(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        except OSError:
            pass


def _remove_leftovers(path: Path) -> None:
    """Remove the temporary stores (and their -wal/-shm) of creations whose process is
    gone (killed mid-way); a live process's are its own business."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix) or not name.endswith(".tmp"):
            continue
        pid = name[len(prefix) : -len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            _remove_with_journal(path.parent / name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours is being made now only inside _create, never across opens
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, under another user
    return True


def _connect_checked(path: Path) -> sqlite3.Connection:
    """Connect, verify, migrate. Raises _Unusable with the reason when the file must
    be moved aside."""
    try:
        conn = _connect(path)
    except sqlite3.DatabaseError as exc:
        raise _Unusable(f"cannot be opened ({exc})") from None
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise _Unusable(f"is damaged ({_first_problem(check[0] if check else 'no result')})")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version > SCHEMA_VERSION:
            raise _Unusable(
                f"was written by a newer localread (schema {version}, this one knows {SCHEMA_VERSION})"
            )
        if version == 0 and tables:
            raise _Unusable("is not a localread store (unknown tables)")
        if version < SCHEMA_VERSION:
            _migrate(conn, version)
    except _Unusable:
        conn.close()
        raise
    except sqlite3.OperationalError as exc:
        conn.close()
        if _is_full(exc) or _is_io(exc) or "readonly" in str(exc) or "locked" in str(exc):
            raise  # the file may be fine: it is the disk or another process, never moved aside
        raise _Unusable(f"cannot be read ({exc})") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _Unusable(f"is damaged ({exc})") from None
    return conn


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply migrations version+1 .. SCHEMA_VERSION, each in its own transaction with
    its version bump, so a kill between two leaves a valid older schema."""
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with _transaction(conn):
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current >= number:
                continue
            migration(conn)
            conn.execute(f"PRAGMA user_version = {number}")


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    os.replace(path, aside)
    # A WAL left by the old file must not be replayed into the new one.
    for suffix in ("-wal", "-shm"):
        old = Path(f"{path}{suffix}")
        if old.exists():
            os.replace(old, Path(f"{aside}{suffix}"))
    return aside


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (a full disk); a failing
        # rollback must not hide the error that caused it.
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL" or "disk is full" in str(exc)


def _is_io(exc: sqlite3.Error) -> bool:
    """SQLite's I/O errors (SQLITE_IOERR_*): on a full disk it often says only
    "disk I/O error" (the -shm or -wal file could not grow)."""
    return getattr(exc, "sqlite_errorname", "").startswith("SQLITE_IOERR") or "disk I/O error" in str(exc)


def _first_problem(report: str) -> str:
    """quick_check's report (one line per problem, sometimes hundreds) as one line."""
    lines = [ln.strip() for ln in str(report).splitlines() if ln.strip() and not ln.startswith("***")]
    if not lines:
        return "no details"
    more = f", and {len(lines) - 1} more problems" if len(lines) > 1 else ""
    return lines[0][:160] + more


@contextmanager
def _as_user_error(path: Path) -> Iterator[None]:
    """sqlite3 errors the user can act on become one-line LocalreadErrors."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_full(exc):
            raise LocalreadError(
                f"disk full while writing the store {path}; free some space and run again "
                "(finished work is kept)"
            ) from None
        if _is_io(exc):
            raise LocalreadError(
                f"cannot write the store {path} (disk I/O error: is the disk full?); free some "
                "space or set LOCALREAD_CACHE_DIR, and run again (finished work is kept)"
            ) from None
        if "readonly" in str(exc) or getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY":
            raise LocalreadError(
                f"the store {path} is read-only; make it writable or set LOCALREAD_CACHE_DIR"
            ) from None
        if "locked" in str(exc) or "busy" in str(exc):
            raise LocalreadError(
                f"the store {path} stayed busy for {BUSY_TIMEOUT_S:.0f} s (another process "
                "is writing it); try again when it is done"
            ) from None
        raise
    except sqlite3.DatabaseError as exc:
        raise LocalreadError(
            f"the store {path} is damaged ({exc}); run again: it is then moved aside and rebuilt"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LocalreadError(
                f"disk full while writing the store {path}; free some space and run again "
                "(finished work is kept)"
            ) from None
        raise LocalreadError(f"the store {path}: {exc.strerror or exc}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
