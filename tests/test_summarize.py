"""`localread summarize` as a command: bad inputs, the run lock, what later commands
(explain, tour) show of its results, and the real default model end to end (SIGKILL
and resume, budgets, Ctrl-C). The stages have their own files: test_summarize_*.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import Settings, load_settings
from localread.grounding import find_repeat
from localread.quality import content_words, example_vocabulary
from localread.render import markdown
from localread.sentences import first_sentence
from localread.store import STORE_NAME, run_lock
from localread.summarize import (
    Source,
    example_summaries,
    prompt_version,
    summary_problems,
    templates,
)
from tests.summarize_helpers import (
    ROOT,
    SMALL,
    TINY,
    by_source,
    copy_repo,
    dependents,
    pages,
    run,
    store_rows,
)

runner = CliRunner()


def test_explain_shows_what_summarize_stored_for_unchanged_code(tmp_path: Path) -> None:
    root = copy_repo(SMALL, tmp_path)
    report = run(root, load_settings().cache_dir / STORE_NAME)
    stored = {u for u, r in report.results.items() if r.source in (Source.MODEL, Source.CACHE)}

    def callees() -> dict[str, str | None]:
        result = runner.invoke(app, ["explain", str(root), "scripts.train.main", "--no-llm", "--json"])
        assert result.exit_code == 0, result.output
        return {c["id"]: c["summary"] for c in json.loads(result.stdout)["facts"]["callees"]}

    before = callees()
    assert len(stored & set(before)) >= 2
    assert before == {c: report.results[c].summary if c in stored else None for c in before}
    human = runner.invoke(app, ["explain", str(root), "scripts.train.main", "--no-llm"])
    summary = report.results["tinynet.data.make_dataset"].summary
    assert f"tinynet.data.make_dataset - {summary}" in " ".join(human.stdout.split())
    # A changed callee's old summary is not shown; the others still are.
    data = root / "tinynet" / "data.py"
    data.write_text(data.read_text().replace("def make_dataset(", "def make_dataset(  ", 1))
    after = callees()
    assert after["tinynet.data.make_dataset"] is None
    assert after == {**before, "tinynet.data.make_dataset": None}


def test_static_tour_shows_what_summarize_stored_for_each_step(tmp_path: Path) -> None:
    root = copy_repo(SMALL, tmp_path)
    plain = runner.invoke(app, ["tour", str(root), "--no-llm", "--json"])
    assert not any("summary" in step for step in json.loads(plain.stdout)["steps"])
    report = run(root, load_settings().cache_dir / STORE_NAME)
    stored = {u for u, r in report.results.items() if r.source in (Source.MODEL, Source.CACHE)}
    result = runner.invoke(app, ["tour", str(root), "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    steps = {step["id"]: step.get("summary") for step in json.loads(result.stdout)["steps"]}
    assert stored & set(steps)
    assert steps == {i: report.results[i].summary if i in stored else None for i in steps}
    tree = " ".join(runner.invoke(app, ["tour", str(root), "--no-llm"], env={"COLUMNS": "300"}).stdout.split())
    for step_id in stored & set(steps):
        assert "summarize said: " + " ".join(report.results[step_id].summary.split()) in tree


def test_stored_summaries_never_touch_a_damaged_store(tmp_path: Path) -> None:
    store = load_settings().cache_dir / STORE_NAME
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database, but kept as it is")
    result = runner.invoke(app, ["explain", str(SMALL), "Trainer.train_epoch", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    assert all(c["summary"] is None for c in json.loads(result.stdout)["facts"]["callees"])
    assert store.read_bytes() == b"not a database, but kept as it is"
    assert sorted(p.name for p in store.parent.iterdir()) == ["analysis", STORE_NAME]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["summarize", *args])


def test_cli_bad_inputs_are_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(str(empty))
    assert result.exit_code == 1 and "no Python files found" in result.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = invoke(str(TINY), "--out", str(foreign))
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "holds no localread report" in result.output
    assert (foreign / "notes.txt").read_text() == "mine" and sorted(os.listdir(foreign)) == ["notes.txt"]
    result = invoke(str(TINY), "--until", "7pm")
    assert result.exit_code == 1 and "--until 7pm: expected a time of day as HH:MM" in result.output
    result = invoke(str(tmp_path / "missing"))
    assert result.exit_code == 1 and "no such folder" in result.output


def test_cli_refuses_a_second_run_on_the_same_repository(tmp_path: Path, isolated_env: Path) -> None:
    settings = Settings(cache_dir=isolated_env / "cache")
    root = copy_repo(TINY, tmp_path)
    with run_lock(settings, root.resolve()):
        result = invoke(str(root), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "another `localread summarize` is already running on" in result.output


class Borrowed:
    """The session's engine, lent to a run that would otherwise close it."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def close(self) -> None:
        pass


@pytest.mark.model
def test_real_model_one_function_change_and_fresh_run_agree(tmp_path: Path, default_engine: Any) -> None:
    root = copy_repo(TINY, tmp_path)
    engine = Borrowed(default_engine)
    first = run(root, tmp_path / STORE_NAME, engine)
    asked_again = sum(len(r.rejected) - r.fallback for r in first.results.values())
    assert first.stats.llm_calls == 7 and first.stats.static == 2 and first.stats.retries == asked_again
    assert first.stats.pending == 0 and first.stats.prompt_tokens_reused > 0
    for uid, result in first.results.items():
        assert result.summary, f"empty summary for {uid}"
        # Every kept answer passes the quality gate (no copy of what its prompt
        # showed, no word of a worked example); the rest is the static description.
        shown = {d: first_sentence(first.results[d].summary) for d in first.plan.inputs[uid]}
        problems = summary_problems(first.repo, first.plan.units[uid], result.summary, shown,
                                    "This repository" if uid == "overview:" else "")
        assert result.fallback or result.source is Source.STATIC or not problems, (uid, result.summary, problems)
        # No phrase or word of a worked example reaches the report.
        assert find_repeat(result.summary, example_summaries()) is None, (uid, result.summary)
        assert not content_words(result.summary) & example_vocabulary((templates()["instructions"],)), uid
    ops = root / "calc" / "ops.py"
    ops.write_text(ops.read_text().replace("return total / len(values)", "return total / max(len(values), 1)"))
    second = run(root, tmp_path / STORE_NAME, engine)
    redone = by_source(second, Source.MODEL)
    assert "calc.ops.mean" in redone
    assert redone <= dependents(second, "calc.ops.mean")
    assert "run.main" not in redone or second.results["calc.ops.normalize"].summary != first.results["calc.ops.normalize"].summary
    fresh = run(root, tmp_path / "fresh.sqlite3", engine)
    assert {u: r.summary for u, r in fresh.results.items()} == {u: r.summary for u, r in second.results.items()}
    outs = []
    for n, report in enumerate((second, fresh)):
        out = tmp_path / f"out{n}"
        markdown.claim_out_dir(out, report.repo.root)
        markdown.write_report(report, out)
        outs.append(out)
    assert pages(outs[0]) == pages(outs[1])


@pytest.mark.model
def test_real_model_explain_is_told_what_summarize_said_of_the_callees(tmp_path: Path, model_store: Path) -> None:
    root = copy_repo(TINY, tmp_path)
    done = runner.invoke(app, ["summarize", str(root), "--out", str(tmp_path / "out"), "--json"])
    assert done.exit_code == 0, done.output
    said = {c["id"]: c["summary"] for c in json.loads(done.stdout)["chunks"]}
    result = runner.invoke(app, ["explain", str(root), "run.main", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["facts"]["callees"] == [
        {"id": "calc.ops.normalize", "at": data["facts"]["callees"][0]["at"], "summary": said["calc.ops.normalize"]}
    ]
    assert data["narrative"] or data["source"] == "static"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "localread", "summarize", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.model
def test_real_model_cli_lock_sigkill_resume_and_free_rerun(tmp_path: Path, model_store: Path, isolated_env: Path) -> None:
    root = copy_repo(TINY, tmp_path)
    out = tmp_path / "report"
    env = {**os.environ, "LOCALREAD_MODELS_DIR": str(model_store)}
    store = isolated_env / "cache" / STORE_NAME

    def waitstore_rows(n: int) -> None:
        deadline = time.monotonic() + 300
        while store_rows(store) < n:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)

    first = _cli([str(root), "--out", str(out)], env)
    try:
        waitstore_rows(1)
        second = _cli([str(root), "--out", str(out)], env)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "already running on" in err and err.count("\n") == 1
        waitstore_rows(2)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    kept = store_rows(store)
    resumed = _cli([str(root), "--out", str(out), "--json"], env)
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    data = json.loads(stdout)
    assert data["stats"]["pending"] == 0
    assert data["stats"]["llm_calls"] == store_rows(store) - kept  # no repeats, nothing lost
    assert "did not finish; resuming" in (out / markdown.LOG_NAME).read_text()
    assert data["model"]["sha256"] and data["prompt_version"] == prompt_version()
    before = pages(out)
    rerun = _cli([str(root), "--out", str(out), "--json"], env)
    stdout, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    again = json.loads(stdout)
    # What the killed run committed was served from the store to the resumed run.
    assert data["stats"]["cached"] >= kept
    assert again["stats"]["llm_calls"] == 0
    assert again["stats"]["cached"] == data["stats"]["llm_calls"] + data["stats"]["cached"]
    assert pages(out) == before


@pytest.mark.model
def test_real_model_cli_max_chunks_then_ctrl_c_then_finish(tmp_path: Path, model_store: Path, isolated_env: Path) -> None:
    root = copy_repo(TINY, tmp_path)
    out = tmp_path / "report"
    env = {**os.environ, "LOCALREAD_MODELS_DIR": str(model_store)}
    limited = _cli([str(root), "--out", str(out), "--max-chunks", "2", "--json"], env)
    stdout, err = limited.communicate(timeout=300)
    assert limited.returncode == 0, err
    data = json.loads(stdout)
    assert data["stats"]["llm_calls"] == 2 and data["stopped"] == "--max-chunks 2 reached"
    assert "_pending_" in (out / "index.md").read_text()
    store = isolated_env / "cache" / STORE_NAME
    interrupted = _cli([str(root), "--out", str(out), "--json"], env)
    deadline = time.monotonic() + 300
    while store_rows(store) < 3:
        assert interrupted.poll() is None, interrupted.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    interrupted.send_signal(signal.SIGINT)
    stdout, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, err
    data = json.loads(stdout)
    assert data["stopped"] == "interrupted" and data["stats"]["llm_calls"] >= 1
    assert (out / "index.md").is_file()
    finished = _cli([str(root), "--out", str(out), "--json"], env)
    stdout, err = finished.communicate(timeout=300)
    assert finished.returncode == 0, err
    data = json.loads(stdout)
    assert data["stats"]["pending"] == 0 and data["stopped"] is None
    assert data["stats"]["llm_calls"] + data["stats"]["cached"] + data["stats"]["static"] == 9
    assert store_rows(store) == 7
