"""The SQLite store: creation, keys, commits, migrations, repair, busy and full disks,
the run lock, and several processes at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from localread.config import Settings, load_settings
from localread.errors import LocalreadError
from localread.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STORE_NAME,
    Entry,
    Store,
    known_summaries,
    make_key,
    run_lock,
    store_path,
)

ROOT = Path(__file__).parent.parent


def entry(n: int, summary: str = "Does a thing.") -> Entry:
    return Entry(
        key=make_key("code", {"body": f"def f{n}(): pass", "model": "m"}),
        kind="code",
        summary=summary,
        model_sha256="m" * 64,
        prompt_version="summarize-1",
        detail={"unit": f"pkg.f{n}"},
        prompt_tokens=100 + n,
        prompt_tokens_reused=40,
        completion_tokens=12,
        seconds=0.5,
    )


def test_store_lives_in_the_cache_dir_from_the_environment(isolated_env: Path) -> None:
    settings = load_settings()
    assert store_path(settings) == isolated_env / "cache" / STORE_NAME
    with Store.open(settings) as store:
        assert store.path == isolated_env / "cache" / STORE_NAME
    assert (isolated_env / "cache" / STORE_NAME).is_file()


def test_new_store_is_wal_and_fully_migrated(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3"):
        pass
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "summaries", "runs"} <= tables
    assert not list(tmp_path.glob(".*.tmp")), "the temporary build file is left behind"


def test_keys_are_scheme_prefixed_and_follow_every_part() -> None:
    base = {"body": "x", "model": "a", "prompt_version": "1", "sampling": {"seed": 1}}
    key = make_key("code", base)
    assert key.startswith("s1:") and len(key) == 3 + 64
    assert make_key("code", dict(reversed(list(base.items())))) == key  # order-free
    assert make_key("class", base) != key
    for part, value in (("body", "y"), ("model", "b"), ("prompt_version", "2"), ("sampling", {"seed": 2})):
        assert make_key("code", {**base, part: value}) != key


def test_put_is_committed_at_once_and_get_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        store.put(entry(1))
        # Another connection (another process would be the same) sees it already.
        other = sqlite3.connect(path)
        assert other.execute("SELECT summary FROM summaries").fetchall() == [("Does a thing.",)]
        other.close()
        got = store.get(entry(1).key)
        assert got == entry(1)
        assert store.get(entry(2).key) is None
        store.put(entry(1, "Another answer."))  # first writer wins
        assert store.get(entry(1).key).summary == "Does a thing."
        assert store.count() == 1


def test_runs_are_recorded_and_an_unfinished_one_is_visible(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.sqlite3") as store:
        first = store.begin_run("/repo")
        second = store.begin_run("/repo")
        previous = store.last_run("/repo", before=second)
        assert previous is not None and previous.id == first and previous.finished is None
        store.end_run(second, "complete", {"llm_calls": 3})
        last = store.last_run("/repo")
        assert last.status == "complete" and last.stats == {"llm_calls": 3}
        assert store.last_run("/elsewhere") is None


def test_garbage_file_is_moved_aside_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not sqlite\n" * 500)
    warnings: list[str] = []
    with Store.open(path, warn=warnings.append) as store:
        store.put(entry(1))
        assert store.count() == 1
    assert len(warnings) == 1 and "moved it to" in warnings[0] and "new one" in warnings[0]
    aside = list(tmp_path.glob("s.sqlite3.bad-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not sqlite")


def test_damaged_pages_are_detected_and_the_store_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        for n in range(300):
            store.put(entry(n, "x" * 200))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * page_size
    # Scribble over interior pages, keeping the header: the file still opens, but
    # SQLite's quick_check finds the damage.
    for page in range(2, len(data) // page_size, 2):
        data[page * page_size + 8 : page * page_size + 200] = os.urandom(192)
    path.write_bytes(bytes(data))
    warnings: list[str] = []
    with Store.open(path, warn=warnings.append) as store:
        assert store.count() == 0
        store.put(entry(1))
    assert warnings and "damaged" in warnings[0]
    assert list(tmp_path.glob("s.sqlite3.bad-*"))


def test_store_of_a_newer_localread_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        store.put(entry(1))
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    warnings: list[str] = []
    with Store.open(path, warn=warnings.append) as store:
        assert store.count() == 0
    assert "newer localread" in warnings[0]


def test_foreign_sqlite_file_is_not_mistaken_for_a_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    warnings: list[str] = []
    with Store.open(path, warn=warnings.append):
        pass
    assert "not a localread store" in warnings[0]


def test_older_store_is_migrated_keeping_its_summaries(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    e = entry(7)
    conn.execute(
        "INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (e.key, e.kind, e.summary, '{"unit": "pkg.f7"}', e.model_sha256, e.prompt_version,
         e.prompt_tokens, e.prompt_tokens_reused, e.completion_tokens, e.seconds, "2026-01-01T00:00:00+00:00"),
    )
    conn.close()
    warnings: list[str] = []
    with Store.open(path, warn=warnings.append) as store:
        assert store.get(e.key) == e
        assert store.begin_run("/repo") == 1  # the runs table of m002 exists now
    assert warnings == []
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_known_summaries_are_the_latest_for_the_same_code_and_read_only(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    assert known_summaries(settings, {"pkg.f1": "h1"}) == {}  # no store: nothing, none made
    assert not store_path(settings).exists()
    with Store.open(settings) as store:
        for n, (unit, source_hash, summary) in enumerate([
            ("pkg.f1", "h1", "Old words."),
            ("pkg.f1", "h1", "Newer words."),
            ("pkg.f1", "h0", "Of older code."),
            ("pkg.f2", "h2", "Another."),
        ]):
            store.put(Entry(make_key("code", {"n": n}), "code", summary, "m", "v",
                            detail={"unit": unit, "source_hash": source_hash}))
        store._conn.execute(  # created as if the rows were made on those days
            "UPDATE summaries SET created = CASE summary WHEN 'Old words.' THEN '2026-01-01'"
            " WHEN 'Newer words.' THEN '2026-02-01' WHEN 'Of older code.' THEN '2026-03-01' ELSE created END"
        )
    before = store_path(settings).read_bytes()
    found = known_summaries(settings, {"pkg.f1": "h1", "pkg.f2": "changed", "pkg.f3": "h3"})
    assert found == {"pkg.f1": "Newer words."}
    assert store_path(settings).read_bytes() == before


def test_full_disk_is_a_clear_error_and_leaves_the_store_intact(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store.open(path) as store:
        store.put(entry(1))
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own "database or disk is full" path, as on a full disk.
        store._conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(LocalreadError, match="disk full while writing the store .* run again"):
            for n in range(2, 200):
                store.put(entry(n, "y" * 4000))
        assert store.get(entry(1).key) == entry(1)
    with Store.open(path) as store:
        assert store.get(entry(1).key) == entry(1)
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(LocalreadError, match="LOCALREAD_CACHE_DIR"):
            Store.open(Settings(cache_dir=locked / "cache"))
    finally:
        locked.chmod(0o700)


def test_cache_dir_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalreadError, match="cannot create the cache folder .* LOCALREAD_CACHE_DIR"):
        Store.open(Settings(cache_dir=tmp_path / "file" / "cache"))


# --------------------------------------------------------------------------- processes


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_second_run_on_a_repository_refuses_naming_the_holder(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    holder = _python(
        """
        import sys, time
        from pathlib import Path
        from localread.config import Settings
        from localread.store import run_lock
        with run_lock(Settings(cache_dir=Path(sys.argv[1])), Path(sys.argv[2])):
            print("locked", flush=True)
            time.sleep(60)
        """,
        str(settings.cache_dir),
        str(tmp_path),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(LocalreadError, match=rf"already running on .* \(pid {holder.pid}, started"),
            run_lock(settings, tmp_path),
        ):
            pass
        # Another repository is not blocked.
        other = tmp_path / "other"
        other.mkdir()
        with run_lock(settings, other):
            pass
        # A holder killed with SIGKILL leaves no stale lock: the kernel drops it.
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with run_lock(settings, tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait(10)


def test_lock_waits_when_asked(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    holder = _python(
        """
        import sys, time
        from pathlib import Path
        from localread.config import Settings
        from localread.store import run_lock
        with run_lock(Settings(cache_dir=Path(sys.argv[1])), Path(sys.argv[2])):
            print("locked", flush=True)
            time.sleep(1.0)
        """,
        str(settings.cache_dir),
        str(tmp_path),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with run_lock(settings, tmp_path, wait_s=30):
            assert time.monotonic() - started > 0.3
    finally:
        holder.kill()
        holder.wait(10)


def test_concurrent_writers_and_creators_do_not_corrupt_the_store(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "s.sqlite3"  # nobody has created it yet: they race
    writer = """
        import sys
        from pathlib import Path
        from localread.store import Entry, Store, make_key
        me = sys.argv[2]
        with Store.open(Path(sys.argv[1])) as store:
            for n in range(150):
                key = make_key("code", {"writer": me, "n": n})
                store.put(Entry(key, "code", f"{me} {n}", "m", "v"))
                if n % 10 == 0:
                    store.put(Entry(make_key("code", {"shared": n}), "code", "shared", "m", "v"))
        print("ok", flush=True)
    """
    procs = [_python(writer, str(path), f"w{i}") for i in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    with Store.open(path) as store:
        assert store.count() == 4 * 150 + 15
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list(path.parent.glob("*.bad-*"))
