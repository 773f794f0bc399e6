"""What localread writes, under attack or on a full disk (issue 12): the crash log
never follows a link and its handler cannot fail; a full cache disk is one line and
leaves no temporary store behind; a damaged store is one warning line; a refused or
racing `summarize` leaves no --out folder behind and gets the right message."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import Settings
from localread.errors import LocalreadError, error_boundary
from localread.render import markdown
from localread.store import STORE_NAME, Store, run_lock
from tests.helpers import FIXTURES
from tests.hostile import full_disk_prefix

runner = CliRunner()
BASE = FIXTURES / "hostile_base"


# --------------------------------------------------------------------------- crash log


def crash(capsys: pytest.CaptureFixture[str], exc: BaseException) -> str:
    """Raise exc inside the error boundary; the one line it printed (exit 3 checked)."""
    with pytest.raises(SystemExit) as exited, error_boundary():
        raise exc
    assert exited.value.code == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_crash_log_never_follows_a_link(
    tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    cache = isolated_env / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "crash.log").symlink_to(victim)
    # The old fixed path, planted by another user in the shared temporary folder.
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    (shared / "localread-crash.log").symlink_to(victim)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))

    line = crash(capsys, RuntimeError("boom"))

    log = cache / "crash.log"
    assert line == f"internal error: RuntimeError('boom') (traceback in {log}; please report it)"
    assert victim.read_text() == "precious"
    assert not log.is_symlink() and stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "RuntimeError: boom" in log.read_text()
    assert sorted(p.name for p in shared.iterdir()) == ["localread-crash.log"]
    assert sorted(p.name for p in cache.iterdir()) == ["crash.log"]


def test_crash_log_avoids_a_folder_others_can_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # like /tmp: anyone could swap names in it
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(shared))
    private_root = tmp_path / "tmp"
    private_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_root))

    line = crash(capsys, ValueError("bad"))

    assert list(shared.iterdir()) == []
    (folder,) = private_root.iterdir()
    log = folder / "crash.log"
    assert line == f"internal error: ValueError('bad') (traceback in {log}; please report it)"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(log.stat().st_mode) == 0o600


class Unprintable(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("repr fails too")


def test_crash_handler_cannot_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("")
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(not_a_folder))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    line = crash(capsys, Unprintable())
    assert line == "internal error: Unprintable (no crash log could be written; please report it)"
    # Even with stderr gone, the boundary still ends with exit 3 and nothing else.
    closed = open(os.devnull, "w")  # noqa: SIM115 - closed on purpose
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    with pytest.raises(SystemExit) as exited, error_boundary():
        raise KeyError("x")
    assert exited.value.code == 3


# --------------------------------------------------------------------------- full disk


# Free space left on a 160 KiB cache disk: none (the lock's holder line and the
# default report folder cannot be written), 16 KiB (SQLite: "database or disk is
# full"), 32 KiB (SQLite: "disk I/O error", its -shm cannot grow).
FREE_KIB = (0, 16, 32)


def test_full_cache_disk_is_one_line_and_leaves_no_temporary_store(tmp_path: Path) -> None:
    prefix = full_disk_prefix()
    cache = tmp_path / "cache"
    cache.mkdir()
    out = tmp_path / "out"
    base = [sys.executable, "-m", "localread", "summarize", str(BASE)]
    script = []
    for free in FREE_KIB:
        fill = (160 - free) * 1024
        for name, args in (("out", [*base, "--out", str(out)]), ("default", base)):
            command = " ".join(shlex.quote(a) for a in args)
            script += [
                f'mount -t tmpfs -o size=160k tmpfs "$C" && head -c {fill} /dev/zero > "$C/fill" 2>/dev/null',
                f'{command} > /dev/null 2> "$R/{free}-{name}.err"; echo $? > "$R/{free}-{name}.rc"',
                f'ls -A "$C" "$C/locks" "$C/analysis" > "$R/{free}-{name}.ls" 2>/dev/null; umount "$C"',
            ]
    results = tmp_path / "results"
    results.mkdir()
    env = {**os.environ, "C": str(cache), "R": str(results), "LOCALREAD_CACHE_DIR": str(cache),
           "LOCALREAD_MODEL": str(tmp_path / "no-model.gguf"), "TMPDIR": str(tmp_path)}
    subprocess.run([*prefix, "sh", "-c", "\n".join(script)], env=env, check=True, timeout=600)
    for free in FREE_KIB:
        for name in ("out", "default"):
            rc = int((results / f"{free}-{name}.rc").read_text())
            err = (results / f"{free}-{name}.err").read_text().strip().splitlines()
            listing = (results / f"{free}-{name}.ls").read_text().split()
            where = f"{free} KiB free, --out {name}"
            assert rc == 1, (where, err)
            assert len(err) == 1 and err[0].startswith("error: "), (where, err)
            assert not any(n.endswith((".tmp", ".claim")) for n in listing), (where, listing)
            if STORE_NAME not in listing:  # -wal/-shm only ever belong to the store itself
                assert not any(n.endswith(("-wal", "-shm")) for n in listing), (where, listing)
            assert "Traceback" not in "\n".join(err), where


KEEP = """
import sys
from pathlib import Path
from localread.store import Entry, Store, make_key
with Store.open(Path(sys.argv[1])) as store:
    if sys.argv[2] == "put":
        store.put(Entry(key=make_key("code", {"n": 1}), kind="code", summary="Kept.", model_sha256="m", prompt_version="p"))
    print(store.count())
"""


def test_full_cache_disk_keeps_the_summaries_already_made(tmp_path: Path) -> None:
    prefix = full_disk_prefix()
    cache = tmp_path / "cache"
    cache.mkdir()
    store = cache / STORE_NAME
    keep = [sys.executable, "-c", KEEP, str(store)]
    summarize = [sys.executable, "-m", "localread", "summarize", str(BASE), "--out", str(tmp_path / "out")]
    script = "\n".join([
        'mount -t tmpfs -o size=256k tmpfs "$C"',
        " ".join(shlex.quote(a) for a in [*keep, "put"]) + ' > "$R/before"',
        'head -c 300000 /dev/zero > "$C/fill" 2>/dev/null; rm -f "$C/analysis"/*',
        " ".join(shlex.quote(a) for a in summarize) + ' > /dev/null 2> "$R/err"; echo $? > "$R/rc"',
        'rm "$C/fill"',
        " ".join(shlex.quote(a) for a in [*keep, "read"]) + ' > "$R/after"',
        'ls -A "$C" > "$R/ls"; umount "$C"',
    ])
    results = tmp_path / "results"
    results.mkdir()
    env = {**os.environ, "C": str(cache), "R": str(results), "LOCALREAD_CACHE_DIR": str(cache),
           "LOCALREAD_MODEL": str(tmp_path / "no-model.gguf"), "TMPDIR": str(tmp_path)}
    subprocess.run([*prefix, "sh", "-c", script], env=env, check=True, timeout=300)
    err = (results / "err").read_text().strip().splitlines()
    assert int((results / "rc").read_text()) == 1 and len(err) == 1 and err[0].startswith("error: "), err
    assert f"the store {store}" in err[0]
    assert (results / "before").read_text().strip() == "1"
    assert (results / "after").read_text().strip() == "1"  # the summary made before is still there
    assert not any(".bad-" in n or n.endswith(".tmp") for n in (results / "ls").read_text().split())


def test_leftovers_of_a_killed_creation_are_removed(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = [f".{STORE_NAME}.{dead.pid}.tmp{suffix}" for suffix in ("", "-wal", "-shm")]
    alive = f".{STORE_NAME}.{os.getppid()}.tmp"  # a live process's creation is left alone
    for name in (*mine, alive):
        (cache / name).write_bytes(b"half a store")
    with Store.open(Settings(cache_dir=cache)) as store:
        assert store.count() == 0
    assert sorted(p.name for p in cache.iterdir()) == sorted([alive, STORE_NAME])


def damage(path: Path) -> None:
    """Overwrite part of every page after the first two: quick_check then reports a
    problem per damaged cell, a hundred lines."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE filler (a)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 3000,)] * 200)
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    for offset in range(8192, len(data), 4096):
        data[offset + 100 : offset + 200] = b"\xff" * 100
    path.write_bytes(bytes(data))


def test_damaged_store_is_one_warning_line(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    with Store.open(settings):
        pass
    damage(tmp_path / STORE_NAME)
    warnings: list[str] = []
    with Store.open(settings, warn=warnings.append) as store:
        assert store.count() == 0
    (line,) = warnings
    assert "\n" not in line
    assert line.startswith(f"the store {tmp_path / STORE_NAME} is damaged (")
    assert "more problems); moved it to summaries.sqlite3.bad-" in line


def test_disk_io_error_is_a_user_error_and_never_moves_the_store_aside(tmp_path: Path) -> None:
    from localread.store import _as_user_error

    with pytest.raises(LocalreadError, match=r"disk I/O error: is the disk full\?"), _as_user_error(tmp_path / STORE_NAME):
        raise sqlite3.OperationalError("disk I/O error")


# --------------------------------------------------------------------------- --out


def test_run_refused_by_the_lock_leaves_no_out_folder(tmp_path: Path, isolated_env: Path) -> None:
    settings = Settings(cache_dir=isolated_env / "cache")
    out = tmp_path / "report"
    with run_lock(settings, BASE.resolve()):
        result = runner.invoke(app, ["summarize", str(BASE), "--out", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: another `localread summarize` is already running on")
    assert not out.exists()


def _claim(out: str, repo: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        markdown.claim_out_dir(Path(out), Path(repo))
        results.put((repo, "claimed"))
    except LocalreadError as exc:
        results.put((repo, str(exc)))


def test_out_race_between_two_repositories_has_one_winner_and_the_right_message(tmp_path: Path) -> None:
    repos = [str(tmp_path / "repo-a"), str(tmp_path / "repo-b")]
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        out = tmp_path / f"out{round_}"
        barrier = context.Barrier(8)
        results = context.Queue()
        procs = [context.Process(target=_claim, args=(str(out), repos[i % 2], barrier, results)) for i in range(8)]
        for p in procs:
            p.start()
        outcome = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
        winners = {repo for repo, what in outcome if what == "claimed"}
        assert len(winners) == 1, outcome
        (winner,) = winners
        for repo, what in outcome:
            if repo == winner:
                assert what == "claimed"
            else:
                assert what == f"--out {out}: holds the report of another repository ({winner}); choose another folder"
        assert sorted(p.name for p in out.iterdir()) == [markdown.MARKER]
