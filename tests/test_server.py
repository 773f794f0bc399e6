"""The server engine against a real llama.cpp server (`llama-server`, built by `make
server` from the llama.cpp that the pinned llama-cpp-python vendors) on loopback,
with the default model: answers equal to the in-process engine's, parallel slots on
the example, a server killed mid-run and a run killed mid-run, each resumed, two
servers, a bad URL beside a good one, and the Batch loop with the server playing the
batch engine.

Equality, measured: a llama.cpp server started with the in-process engine's settings
(flash attention off, full sliding-window cache, 512-token batches; see
tests/llama_server.py) gets the same tokens for every prompt, and answers a prompt
evaluated from the same cache state exactly as the in-process engine does: the first
prompt of a run, and every unit of a run whose prompts share nothing beyond the
instructions. They do not always evaluate from the same state. The in-process engine
keeps only the shared instructions in its cache and evaluates the rest of every prompt
again from that boundary (llm/engine.py), so its answer never depends on the prompt
before; llama-server reuses the longest prefix its slot holds, and consecutive prompts
of one module share its header, and a retry shares most of the first question. The
two batch splits round the logits differently in the last bits, and the 270M model's
greedy choice between two near-equal tokens can flip, after which the prompts of the
units above differ too: in one run on the tiny fixture 4 of its 7 summaries kept the
in-process words, and one retry ended in the static description on one engine only.
The units and the coverage are what must not differ. With
several requests in flight, llama.cpp"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import load_settings
from localread.llm.engine import Prompt, open_engine
from localread.llm.server import open_server_engine
from localread.repo.analysis import analyze
from localread.store import STORE_NAME
from localread.summarize import Options, PromptBuilder, build_plan, known_tours
from localread.summarize.ask import model_prompt
from tests import llama_server
from tests.helpers import EXAMPLE
from tests.llama_server import LlamaServer, free_port
from tests.summarize_helpers import SMALL, TINY, copy_repo, store_rows

# Never skipped: `make test` builds the binary first (`make server`); selected without
# one, each test fails in llama_server.start.
pytestmark = [pytest.mark.model, pytest.mark.server]

runner = CliRunner()


@pytest.fixture(scope="session")
def server4(default_model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One llama-server with 4 slots on the default model, for the session."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = llama_server.start(default_model_file, log, parallel=4)
    yield server
    server.stop()


def summary(root: Path, out: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["summarize", str(root), "--out", str(out), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["chunks"]}


def assert_same_answers(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """The same units, all answered (none pending, none empty), and the first unit of
    the run, asked from an empty cache on both engines, in the same words."""
    mine, other = by_id(ours), by_id(theirs)
    assert set(mine) == set(other)
    assert ours["stats"]["pending"] == theirs["stats"]["pending"] == 0
    assert all(c["summary"] for c in [*mine.values(), *other.values()])
    repo = analyze(TINY)
    plan = build_plan(repo, known_tours(repo, Options()))
    first = plan.units[plan.order[0]].chunk
    assert first is not None and mine[first]["summary"] == other[first]["summary"]


def test_one_request_at_a_time_answers_every_unit_the_in_process_run_answers(
    server4: LlamaServer, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = summary(TINY, tmp_path / "local")
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(tmp_path / "server-cache"))
    served = summary(TINY, tmp_path / "served", "--server", server4.url, "--parallel", "1")
    assert served["model"]["name"].endswith(".gguf") and served["model"]["sha256"] != local["model"]["sha256"]
    assert served["stats"]["pending"] == local["stats"]["pending"] == 0
    assert_same_answers(served, local)


def test_every_prompt_is_the_same_tokens_on_both_engines(server4: LlamaServer, model_store: Path) -> None:
    repo = analyze(SMALL)
    plan = build_plan(repo, known_tours(repo, Options()))
    builder = PromptBuilder(repo, plan, 4096)
    settings = load_settings()
    with open_engine(settings) as local, open_server_engine(load_settings(server=[server4.url])) as served:
        state = served._state[0]
        for uid in plan.order:
            prompt = model_prompt(builder.build(plan.units[uid], {d: "Does a thing." for d in plan.inputs[uid]}))
            assert served._prompt_tokens(state, prompt) == local._tokens(prompt)[0], uid


def test_four_slots_summarize_the_example_with_the_coverage_of_the_in_process_run(
    server4: LlamaServer, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = summary(EXAMPLE, tmp_path / "local")
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(tmp_path / "server-cache"))
    out = tmp_path / "served"
    served = summary(EXAMPLE, out, "--server", server4.url, "--parallel", "4")
    assert served["stats"]["pending"] == local["stats"]["pending"] == 0
    assert served["stats"]["static"] == local["stats"]["static"]
    ours, theirs = by_id(served), by_id(local)
    assert set(ours) == set(theirs)
    assert all(c["summary"] for c in ours.values())
    assert {i for i, c in ours.items() if c["source"] == "static"} == {i for i, c in theirs.items() if c["source"] == "static"}
    log = (out / "summarize.log").read_text()
    assert "/4 in flight" in log and f"servers: {server4.url} (" in log
    assert (out / "index.md").is_file()


def test_a_server_killed_mid_run_stops_the_run_and_a_new_one_resumes_it(
    default_model_file: Path, model_store: Path, tmp_path: Path, isolated_env: Path
) -> None:
    root = copy_repo(SMALL, tmp_path)
    store = isolated_env / "cache" / STORE_NAME
    out = tmp_path / "out"
    server = llama_server.start(default_model_file, tmp_path / "one.log", parallel=2)
    env = {**os.environ, "LOCALREAD_SERVER_TIMEOUT": "3"}
    command = [sys.executable, "-m", "localread", "summarize", str(root), "--out", str(out),
               "--server", server.url, "--parallel", "2"]
    try:
        run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600
        while store_rows(store) < 3 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        server.kill()
        _, err = run.communicate(timeout=120)
    finally:
        server.kill()
    assert run.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no model server answers" in errors[0], err
    assert "run the same command again to continue" in errors[0]
    committed = store_rows(store)
    assert committed >= 3
    assert json.loads((out / "summary.json").read_text())["stats"]["pending"] > 0
    again = llama_server.start(default_model_file, tmp_path / "two.log", parallel=2)
    try:
        done = subprocess.run([*command[:-3], again.url, "--parallel", "2", "--json"], check=False, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        again.stop()
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)["stats"]
    assert stats["pending"] == 0 and stats["cached"] >= committed
    assert store_rows(store) == committed + stats["llm_calls"]  # nothing made twice


def wait_for_the_lock_holder(cache: Path) -> None:
    """Wait until the process named in the run lock is gone: the command killed is the
    supervisor, and its child, which holds the lock, dies with it a moment later
    (commands/supervise.py, PR_SET_PDEATHSIG)."""
    for lock in (cache / "locks").glob("summarize-*.lock"):
        found = re.search(r"pid (\d+)", lock.read_text())
        deadline = time.monotonic() + 30
        while found and _alive(int(found.group(1))):
            assert time.monotonic() < deadline, f"the run's child {found.group(1)} outlived its parent"
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_run_killed_mid_run_loses_only_what_was_in_flight(
    server4: LlamaServer, model_store: Path, tmp_path: Path, isolated_env: Path
) -> None:
    root = copy_repo(SMALL, tmp_path)
    store = isolated_env / "cache" / STORE_NAME
    command = [sys.executable, "-m", "localread", "summarize", str(root), "--out", str(tmp_path / "out"),
               "--server", server4.url, "--parallel", "4", "--json"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while store_rows(store) < 4 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_for_the_lock_holder(isolated_env / "cache")
    committed = store_rows(store)
    assert committed >= 4
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "did not finish; resuming" in done.stderr
    stats = json.loads(done.stdout)["stats"]
    assert stats["pending"] == 0 and stats["cached"] >= committed
    # Every committed summary was reused, none made twice (a key is stored once).
    assert store_rows(store) == committed + stats["llm_calls"]


def test_two_servers_and_a_bad_url_beside_them(
    default_model_file: Path, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALREAD_SERVER_TIMEOUT", "2")
    one = llama_server.start(default_model_file, tmp_path / "one.log", parallel=2)
    two = llama_server.start(default_model_file, tmp_path / "two.log", parallel=2)
    bad = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    try:
        result = runner.invoke(app, ["summarize", str(TINY), "--out", str(out), "--json", "--server", one.url,
                                     "--server", bad, "--server", two.url, "--parallel", "4"])
    finally:
        one.stop()
        two.stop()
    assert result.exit_code == 0, result.output
    assert f"warning: cannot reach server {bad} (connection refused, for 2 s)" in result.stderr
    assert json.loads(result.stdout)["stats"]["pending"] == 0
    line = next(x for x in (out / "summarize.log").read_text().splitlines() if "servers: " in x)
    answers = [int(part.split(" (")[1].split(" ")[0]) for part in line.split("servers: ")[1].split("; ")[0].split(", ")]
    assert len(answers) == 2 and min(answers) > 0, line


def served_name(url: str) -> str:
    with urllib.request.urlopen(f"{url}/v1/models", timeout=30) as answer:
        return str(json.load(answer)["data"][0]["id"])


def play_batch_engine(url: str, wave: Path, results: Path) -> None:
    """Answer every request of the wave on the server, one at a time, and write the
    Batch output file as `vllm run-batch` does: the request's body goes to the
    server's endpoint unchanged, so the test sees whether a real server takes it."""
    lines = []
    for n, raw in enumerate(wave.read_text().splitlines()):
        request = json.loads(raw)
        post = urllib.request.Request(f"{url}{request['url']}", data=json.dumps(request["body"]).encode(),
                                      headers={"Content-Type": "application/json"}, method=request["method"])
        with urllib.request.urlopen(post, timeout=300) as answer:
            body = json.load(answer)
        lines.append(json.dumps({"id": f"batch_req_{n}", "custom_id": request["custom_id"],
                                 "response": {"status_code": 200, "request_id": f"r{n}", "body": body},
                                 "error": None}))
    results.write_text("".join(line + "\n" for line in lines))


def test_batch_waves_answered_by_the_server_cover_a_live_run_and_share_its_keys(
    server4: LlamaServer, model_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = served_name(server4.url)
    wave, results, out = tmp_path / "wave.jsonl", tmp_path / "results.jsonl", tmp_path / "batch"
    report = summary(TINY, out, "--export-batch", str(wave), "--batch-model", name)
    waves = 0
    while wave.stat().st_size:
        play_batch_engine(server4.url, wave, results)
        report = summary(TINY, out, "--import-batch", str(results), "--export-batch", str(wave))
        waves += 1
    assert report["stats"]["pending"] == 0 and report["model"]["name"] == name and waves >= 3
    shared = summary(TINY, tmp_path / "shared", "--server", server4.url)
    assert shared["stats"]["llm_calls"] == 0  # the batch's results, under the server's keys
    monkeypatch.setenv("LOCALREAD_CACHE_DIR", str(tmp_path / "live-cache"))
    live = summary(TINY, tmp_path / "live", "--server", server4.url, "--parallel", "1")
    assert live["stats"]["llm_calls"] > 0
    assert_same_answers(report, live)


def test_sampled_answers_come_from_the_server_too(server4: LlamaServer) -> None:
    prompt = Prompt(shared="# Code notes\n\n", text='def add_edge(graph, u, v):\n    graph[u].append(v)\n\n'
                    '# documented:\ndef add_edge(graph, u, v):\n    """', stop=('"""', "\n\n"))
    with open_server_engine(load_settings(server=[server4.url])) as served:
        greedy = served.complete(prompt, 32)
        drawn = served.sample(prompt, 32, 3)
    assert len(drawn) == 3 and all(c.text.strip() and c.completion_tokens > 0 for c in drawn)
    assert len({c.text for c in drawn} | {greedy.text}) > 1  # seeded samples, not greedy ones
