"""The analysis cache (localread/repo/cache.py) and the parallel file reads
(analysis.read_files): an unchanged repository's analysis is read back, any change to
what the analysis reads is a miss, a damaged entry is only a miss, and reading files in
several processes gives exactly what one process gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.render.json import map_json, tour_json
from localread.repo import analysis, cache
from localread.repo.analysis import analyze
from localread.repo.scan import scan
from localread.repo.tour import build_tour, pick_entry
from tests.helpers import EXAMPLE

runner = CliRunner()


def _settle(root: Path, seconds_ago: float = 60.0, *, recent_only: bool = False) -> None:
    """Date files back, as if last edited a while ago (recent files are never cached:
    see cache.RACY_SECONDS); recent_only: just the files written in the last minute."""
    now = time.time()
    when = now - seconds_ago
    for path in root.rglob("*"):
        if path.is_file() and (not recent_only or path.stat().st_mtime > now - 50):
            os.utime(path, (when, when))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "segment_demo"
    shutil.copytree(EXAMPLE, root)
    _settle(root)
    return root


def _no_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the repository was read again")

    monkeypatch.setattr(analysis, "read_files", refuse)


def _both_json(repo: analysis.Repo) -> str:
    tour = build_tour(repo, pick_entry(repo, None))
    return json.dumps([map_json(repo, 0), tour_json(repo, tour, {})], sort_keys=True)


def test_unchanged_repository_is_read_back(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    first = analyze(repo, cache_dir=cache_dir)
    assert list((cache_dir / "analysis").glob("*.pickle"))
    _no_reads(monkeypatch)
    second = analyze(repo, cache_dir=cache_dir)
    assert _both_json(second) == _both_json(first)
    assert second.graph.facts[next(iter(second.chunks))] == first.graph.facts[next(iter(first.chunks))]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: (root / "segmenter" / "predictor.py").write_text(
            (root / "segmenter" / "predictor.py").read_text() + "\n\ndef added_later():\n    return 1\n"
        ), id="edited module"),
        pytest.param(lambda root: (root / "segmenter" / "extra.py").write_text("def new():\n    pass\n"),
                     id="new module"),
        pytest.param(lambda root: (root / "scripts" / "train.py").unlink(), id="removed script"),
        pytest.param(lambda root: (root / "README.md").write_text("# Demo\n\n    python scripts/train.py\n"),
                     id="README"),
        pytest.param(lambda root: (root / ".gitignore").write_text("scripts/\n"), id="gitignore"),
    ],
)
def test_any_change_is_a_miss(repo: Path, tmp_path: Path, change, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    analyze(repo, cache_dir=cache_dir)
    change(repo)
    _settle(repo, seconds_ago=30, recent_only=True)  # the changed files only
    fresh = analyze(repo)
    again = analyze(repo, cache_dir=cache_dir)
    assert _both_json(again) == _both_json(fresh)
    # ...and the new analysis replaced the old entry.
    _no_reads(monkeypatch)
    assert _both_json(analyze(repo, cache_dir=cache_dir)) == _both_json(fresh)


def test_a_file_edited_just_now_is_not_cached(repo: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    (repo / "segmenter" / "predictor.py").touch()
    analyze(repo, cache_dir=cache_dir)
    assert not list(cache_dir.rglob("*.pickle"))


def test_new_localread_code_is_a_miss(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    analyze(repo, cache_dir=cache_dir)
    calls = []
    real = analysis.read_files
    monkeypatch.setattr(analysis, "read_files", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(cache, "_code_fingerprint", lambda: "another version")
    analyze(repo, cache_dir=cache_dir)
    assert calls == [1]


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_damaged_entry_is_a_miss_and_is_replaced(
    repo: Path, tmp_path: Path, damage: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    expected = _both_json(analyze(repo, cache_dir=cache_dir))
    entry = cache.entry_path(cache_dir, scan(repo).root)
    entry.write_bytes(damage)
    assert _both_json(analyze(repo, cache_dir=cache_dir)) == expected
    assert entry.read_bytes() != damage
    _no_reads(monkeypatch)
    assert _both_json(analyze(repo, cache_dir=cache_dir)) == expected


def test_unwritable_cache_folder_only_means_no_cache(repo: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    expected = _both_json(analyze(repo))
    assert _both_json(analyze(repo, cache_dir=blocker)) == expected
    assert blocker.read_text() == "a file where the cache folder should be"


def test_background_write_lands_and_leaves_no_temporary_files(repo: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    result = analyze(repo)
    key = cache.fingerprint(scan(repo))
    assert key is not None
    cache.save(cache_dir, result, key, background=True)
    entry = cache.entry_path(cache_dir, result.root)
    deadline = time.monotonic() + 30
    while not entry.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    loaded = cache.load(cache_dir, scan(repo), key)
    assert loaded is not None and _both_json(loaded) == _both_json(result)
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]


def test_cli_uses_the_cache_and_can_be_told_not_to(repo: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = runner.invoke(app, ["map", str(repo), "--json"])
    assert first.exit_code == 0, first.output
    entries = list((isolated_env / "cache" / "analysis").glob("*.pickle"))
    assert len(entries) == 1
    entries[0].unlink()
    monkeypatch.setenv("LOCALREAD_ANALYSIS_CACHE", "0")
    again = runner.invoke(app, ["tour", str(repo), "--no-llm", "--json"])
    assert again.exit_code == 0, again.output
    assert not list((isolated_env / "cache" / "analysis").glob("*.pickle"))


def test_cached_map_as_a_subprocess_prints_the_same(repo: Path, isolated_env: Path) -> None:
    env = {**os.environ, "LOCALREAD_CACHE_DIR": str(isolated_env / "cache")}
    command = [sys.executable, "-m", "localread", "map", str(repo), "--json"]
    cold = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert list((isolated_env / "cache" / "analysis").glob("*.pickle"))
    warm = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert warm.stdout == cold.stdout
    assert json.loads(warm.stdout)["symbols"]


# -- reading files in several processes --------------------------------------------------


def test_parallel_reads_give_what_one_process_gives(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _both_json(analyze(repo, jobs=1))
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    for jobs in (2, 3):
        assert _both_json(analyze(repo, jobs=jobs)) == serial


def test_a_lost_child_leaves_its_files_to_the_parent(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _both_json(analyze(repo, jobs=1))
    monkeypatch.setattr(analysis, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(analysis, "_read_share", lambda *args: os._exit(3))  # the child dies
    assert _both_json(analyze(repo, jobs=2)) == serial


def test_shares_are_balanced_and_cover_every_file(repo: Path) -> None:
    files = scan(repo).files
    shares = analysis._shares(files, 2)
    assert sorted(i for share in shares for i in share) == list(range(len(files)))
    sizes = [sum(files[i].size for i in share) for share in shares]
    assert min(sizes) > 0.5 * max(sizes)
