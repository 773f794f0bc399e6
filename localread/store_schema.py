"""The store's schema as ordered migrations: `MIGRATIONS[n]` brings a database's
`PRAGMA user_version` from n to n+1, and `SCHEMA_VERSION` is the version a new store
is created at. store.py owns when they run (creation and opening); this module only
says what each one does. Append only: a released migration never changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]


def _m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        """
        CREATE TABLE summaries (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            summary TEXT NOT NULL,
            detail TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            prompt_tokens_reused INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            seconds REAL NOT NULL,
            created TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )


def _m002_runs(conn: sqlite3.Connection) -> None:
    # A run row without `finished` is a run that was killed (or is still going): the
    # next run says so, and resumes from the summaries already committed.
    conn.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            repo TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT,
            stats TEXT
        )
        """
    )
    conn.execute("CREATE INDEX runs_repo ON runs (repo, id)")


def _m003_units(conn: sqlite3.Connection) -> None:
    # explain and tour look summaries up by the code they describe (`known_summaries`):
    # the unit id and the chunk's source hash, kept in detail.
    conn.execute(
        "CREATE INDEX summaries_unit ON summaries"
        " (json_extract(detail, '$.unit'), json_extract(detail, '$.source_hash'))"
    )


def _m004_attempts(conn: sqlite3.Connection) -> None:
    # A batch answer that was rejected (it repeated its prompt) while a second attempt
    # remains: kept until that attempt's answer comes back in a later wave, so the
    # final entry carries both reasons and both calls' tokens.
    conn.execute(
        """
        CREATE TABLE attempts (
            key TEXT PRIMARY KEY,
            unit TEXT NOT NULL,
            rejected TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            created TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )


# Ordered: migration n (1-based) brings `user_version` from n-1 to n. Append only.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _m001_initial, _m002_runs, _m003_units, _m004_attempts,
)
SCHEMA_VERSION = len(MIGRATIONS)
