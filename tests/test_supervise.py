"""A native crash inside a model command ends with one line from the parent process.
The CLI runs as a real subprocess whose engine dies of a real SIGSEGV mid-answer."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from localread.commands.supervise import can_supervise
from tests.helpers import EXAMPLE, FIXTURES

# Runs the real CLI with an engine whose answers crash the process natively.
CRASHING_CLI = textwrap.dedent(
    """
    import ctypes, sys
    import localread.llm.engine as engine

    class Crashing:
        # Loads fine; the first use of the loaded engine reads address 0.
        def __init__(self, *args, **kwargs):
            pass
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return None
        def __getattr__(self, name):
            ctypes.string_at(0)

    engine.open_engine = Crashing
    from localread.cli import app
    sys.argv = ["localread", *sys.argv[1:]]
    app()
    """
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CRASHING_CLI, *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["tour", str(EXAMPLE)], "while narrating the tour; `localread tour --no-llm`"),
        (["tour", str(EXAMPLE), "--json"], "while narrating the tour"),
        (["explain", str(EXAMPLE), "Segmenter.predict"], "while explaining segmenter.predictor.Segmenter.predict"),
        (["paper", str(FIXTURES / "paper_protomem" / "repo"), str(FIXTURES / "paper_protomem" / "paper.md")],
         "while aligning the paper"),
    ],
)
def test_a_native_crash_is_one_line_and_exit_1(args: list[str], what: str) -> None:
    done = _run(*args)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in errors if "llama.cpp crashed (SIGSEGV)" in line and what in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr


def test_without_a_crash_the_child_exit_code_and_output_pass_through() -> None:
    ok = _run("tour", str(EXAMPLE), "--no-llm", "--json")  # no model: in-process
    assert ok.returncode == 0 and json.loads(ok.stdout)["steps"]
    bad = _run("explain", str(EXAMPLE), "NoSuchThing")
    assert bad.returncode == 1 and bad.stderr.count("error:") == 1


def test_a_fork_is_used_only_where_it_keeps_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # typer's test runner: stay in-process
    assert not can_supervise()
    with open(tmp_path / "out", "w") as real, open(tmp_path / "err", "w") as err:
        monkeypatch.setattr(sys, "stdout", real)
        monkeypatch.setattr(sys, "stderr", err)
        assert can_supervise()


# The real summarize command, whose engine answers `sys.argv[1]` calls (a scripted
# engine, see summarize_helpers) and then dies of SIGSEGV inside the next one.
SUMMARIZE_THEN_CRASH = textwrap.dedent(
    """
    import ctypes, sys
    sys.path.insert(0, sys.argv[2])
    import localread.llm.engine as engine
    from tests.summarize_helpers import ScriptedEngine

    answers = int(sys.argv[1])

    class CrashingAfter(ScriptedEngine):
        def stream(self, prompt, max_tokens, stop=()):
            global answers
            if answers == 0:
                ctypes.string_at(0)
            answers -= 1
            return super().stream(prompt, max_tokens, stop)

    engine.open_engine = lambda settings, **kw: CrashingAfter()
    from localread.cli import app
    sys.argv = ["localread", *sys.argv[3:]]
    app()
    """
)


def test_a_native_crash_mid_summarize_keeps_the_work_and_says_how_to_resume(
    tmp_path: Path, model_store: Path
) -> None:
    from localread.store import STORE_NAME, Store
    from tests.summarize_helpers import ROOT, SMALL, copy_repo

    repo = copy_repo(SMALL, tmp_path)
    out = tmp_path / "report"

    def summarize(answers: int) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-c", SUMMARIZE_THEN_CRASH, str(answers), str(ROOT),
               "summarize", str(repo), "--out", str(out), "--json"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)

    crashed = summarize(3)
    assert crashed.returncode == 1, crashed.stderr
    errors = [line for line in crashed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "llama.cpp crashed (SIGSEGV) while summarizing" in errors[0]
    assert "run the same command again to continue" in errors[0]
    assert "Traceback" not in crashed.stderr
    store = Path(__import__("os").environ["LOCALREAD_CACHE_DIR"]) / STORE_NAME
    with Store.open(store) as opened:
        assert opened.count() == 3  # what was committed stays
    resumed = summarize(10_000)
    assert resumed.returncode == 0, resumed.stderr
    stats = json.loads(resumed.stdout)["stats"]
    assert stats["cached"] >= 3 and stats["pending"] == 0


# A supervised body that writes its pid, then waits to be interrupted.
WAITING_BODY = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from localread.commands.supervise import run_supervised

    def body():
        Path(sys.argv[1]).write_text(str(os.getpid()))
        try:
            time.sleep(120)
        except KeyboardInterrupt:
            print("child interrupted", flush=True)
            raise SystemExit(130)

    import typer
    try:
        run_supervised(body, what="waiting", after_crash="rerun")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    """
)


def _start_waiting(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    import time

    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [sys.executable, "-c", WAITING_BODY, str(pidfile)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.is_file() or not pidfile.read_text():
        assert parent.poll() is None, parent.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return parent, int(pidfile.read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not can_supervise(), reason="no fork here")
def test_a_sigint_sent_to_the_parent_alone_reaches_the_child(tmp_path: Path) -> None:
    import signal

    parent, child = _start_waiting(tmp_path)
    assert child != parent.pid
    parent.send_signal(signal.SIGINT)  # no terminal: a kill, as a scheduler or a test sends
    stdout, stderr = parent.communicate(timeout=30)
    assert parent.returncode == 130, stderr
    assert stdout == "child interrupted\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_parent_killed_with_sigkill_takes_the_child_with_it(tmp_path: Path) -> None:
    import signal
    import time

    parent, child = _start_waiting(tmp_path)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its killed parent"
        time.sleep(0.05)
