"""`localread summarize --server` and the batch files, through the CLI, against a
scripted OpenAI-compatible server (tests/fake_server.py): parallel requests with
one writer, a server that dies mid-run and the resume, keys that tell server
results apart, the Batch export / import loop, and --offline with servers. The real
llama.cpp server: test_server.py."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import load_settings
from localread.errors import LocalreadError
from localread.llm.server import server_model_sha256
from localread.offline import enforce_offline
from localread.store import STORE_NAME
from localread.summarize import Source
from tests.fake_server import FakeServer, summary_answer
from tests.llama_server import free_port
from tests.summarize_helpers import SMALL, TINY, ScriptedEngine, run

runner = CliRunner()


def summarize(root: Path, out: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(app, ["summarize", str(root), "--out", str(out), "--json", *args])
    data = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, data, result.stderr


def rows(store: Path) -> list[tuple[str, str, dict[str, Any]]]:
    conn = sqlite3.connect(store)
    try:
        return [(k, s, json.loads(d)) for k, s, d in conn.execute("SELECT key, model_sha256, detail FROM summaries")]
    finally:
        conn.close()


def test_parallel_requests_give_the_sequential_result_and_one_writer_commits(tmp_path: Path) -> None:
    store = load_settings().cache_dir / STORE_NAME
    with FakeServer(model="org/m", delay=0.3) as fake:
        code, parallel, err = summarize(SMALL, tmp_path / "a", "--server", fake.url, "--parallel", "4")
        assert code == 0, err
        assert fake.most_in_flight >= 3  # units whose inputs were ready went out together
    assert parallel["stats"]["pending"] == 0 and parallel["model"]["name"] == "org/m"
    made = rows(store)
    assert len(made) == parallel["stats"]["llm_calls"] == len({k for k, _, _ in made})
    assert {sha for _, sha, _ in made} == {server_model_sha256("org/m")}
    assert all(d["model"] == "org/m" for _, _, d in made)
    store.unlink()
    with FakeServer(model="org/m") as fake:
        code, sequential, err = summarize(SMALL, tmp_path / "b", "--server", fake.url, "--parallel", "1")
        assert code == 0 and fake.most_in_flight == 1, err
    assert [c["summary"] for c in parallel["chunks"]] == [c["summary"] for c in sequential["chunks"]]
    # The in-process engine's keys are others: nothing of the server run is reused.
    local = run(SMALL, store, ScriptedEngine())
    assert local.stats.llm_calls == parallel["stats"]["llm_calls"]


def test_a_server_that_dies_mid_run_stops_it_with_one_line_and_the_next_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALREAD_SERVER_TIMEOUT", "1")
    store = load_settings().cache_dir / STORE_NAME
    answered = []

    with FakeServer(model="m") as fake:
        def answer_then_die(body: dict[str, Any]) -> str:
            if body["temperature"] == 0.0:  # a greedy answer, not a sample checking one
                answered.append(body)
            if len(answered) == 5:
                threading.Thread(target=fake.close).start()
            return summary_answer(body)

        fake.answer = answer_then_die
        code, _, err = summarize(SMALL, tmp_path / "out", "--server", fake.url, "--parallel", "2")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "no model server answers" in lines[0] and "connection refused" in lines[0]
    assert "summaries made are kept and the report marks the rest pending: run the same command again" in lines[0]
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    committed = len(rows(store))
    # At most the 5 units whose greedy answer came; those whose samples were cut (at
    # most the 2 in flight) are not kept.
    assert report["stats"]["pending"] > 0 and 5 - 2 <= committed <= 5
    with FakeServer(model="m") as again:  # another port, the same model: the same keys
        code, data, err = summarize(SMALL, tmp_path / "out", "--server", again.url, "--parallel", "2")
        assert code == 0, err
        assert data["stats"]["pending"] == 0
        assert data["stats"]["cached"] >= committed
        stats = data["stats"]
        assert len(again.completions()) == stats["llm_calls"] + stats["retries"] + stats["samples"]
        assert stats["samples"] == 3 * stats["llm_calls"]  # every answer passed and was checked
    assert len(rows(store)) == committed + data["stats"]["llm_calls"]


def test_a_bad_server_url_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALREAD_SERVER_TIMEOUT", "1")
    port = free_port()
    code, _, err = summarize(TINY, tmp_path / "out", "--server", f"http://127.0.0.1:{port}")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        f"error: cannot reach server http://127.0.0.1:{port} (connection refused, for 1 s); start it, or "
        "fix --server / LOCALREAD_SERVER"
    )
    code, _, err = summarize(TINY, tmp_path / "out", "--server", "127.0.0.1:8080")
    assert code == 1 and "expected a URL such as http://127.0.0.1:8080" in err
    with FakeServer() as fake:
        fake.fail(50, "html")
        code, _, err = summarize(TINY, tmp_path / "out", "--server", fake.url)
    assert code == 1 and "answered something that is not an OpenAI completion: <html>" in err


def test_parallel_without_a_server_runs_one_call_at_a_time_and_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["summarize", str(TINY), "--out", str(tmp_path / "o"), "--parallel", "4",
                                 "--max-chunks", "0"])
    assert result.exit_code == 0, result.output
    assert "warning: parallel 4 ignored: the in-process engine runs one call at a time" in result.stderr


def distinct_answer(body: dict[str, Any]) -> str:
    """The unit's name (so the quality gate finds it on topic), then words no two
    prompts share (so that no answer repeats an earlier one)."""
    # The same words for a prompt's samples as for its greedy answer: a model that
    # stands by what it says (localread.agreement).
    asked = {k: v for k, v in body.items() if k not in ("temperature", "top_p", "seed")}
    digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()
    text = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    named = re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", str(text).rsplit("Code:", 1)[-1])
    name = named[0].rsplit(".", 1)[-1] if named else "it"
    return f"The {name} step, " + " ".join(f"w{digest[i:i + 6]}" for i in range(0, 36, 6)) + "."


def test_explain_and_tour_run_on_a_server(tmp_path: Path) -> None:
    with FakeServer(answer=distinct_answer) as fake:
        result = runner.invoke(app, ["explain", str(TINY), "mean", "--server", fake.url, "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["source"] == "model" and data["model"]["name"] == "fake-model"
        assert data["narrative"].endswith(distinct_answer(fake.requests[-1][1]))
        result = runner.invoke(app, ["tour", str(TINY), "--server", fake.url, "--json"])
        assert result.exit_code == 0, result.output
        assert all(s["explanation"] for s in json.loads(result.stdout)["steps"])
        assert {p for p, _ in fake.requests if p.startswith("/v1/")} >= {"/v1/models", "/v1/chat/completions"}


# --------------------------------------------------------------------------- offline


def test_offline_allows_the_named_servers_and_nothing_else(tmp_path: Path) -> None:
    with FakeServer() as fake, socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        code, data, err = summarize(TINY, tmp_path / "out", "--server", fake.url, "--offline")
        assert code == 0, err
        assert data["stats"]["pending"] == 0
        with pytest.raises(LocalreadError, match="offline mode: refused a network connection"):
            socket.create_connection(other.getsockname(), timeout=2)


def test_offline_refuses_a_server_outside_private_networks(tmp_path: Path) -> None:
    code, _, err = summarize(TINY, tmp_path / "out", "--server", "http://8.8.8.8:80", "--offline")
    assert code == 1
    assert ("error: offline mode: server http://8.8.8.8:80 is at 8.8.8.8, outside this machine and private "
            "networks; drop --offline to use a server on the internet") in err
    enforce_offline(["http://10.1.2.3:8000", "http://[::1]:9000"])  # private and loopback: allowed
    with pytest.raises(LocalreadError, match="refused a network connection to \\('127.0.0.1', 9000\\)"):
        socket.create_connection(("127.0.0.1", 9000), timeout=1)


# --------------------------------------------------------------------------- batch


def answer_batch(wave: Path, results: Path, answer: Any = summary_answer, model: str = "org/m") -> int:
    """Play the batch engine: answer every request of the wave in the Batch output
    format (as `vllm run-batch` writes it)."""
    lines = []
    for raw in wave.read_text().splitlines():
        request = json.loads(raw)
        assert request["method"] == "POST" and request["url"] == "/v1/completions"
        body = request["body"]
        lines.append(json.dumps({
            "id": f"batch_req_{len(lines)}",
            "custom_id": request["custom_id"],
            "response": {"status_code": 200, "request_id": f"r{len(lines)}", "body": {
                "object": "text_completion", "model": model,
                "choices": [{"index": 0, "text": answer(body), "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }},
            "error": None,
        }))
    results.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def test_batch_waves_until_the_tree_is_done_and_share_keys_with_a_server_run(tmp_path: Path) -> None:
    wave, results, out = tmp_path / "wave.jsonl", tmp_path / "results.jsonl", tmp_path / "out"
    code, data, err = summarize(SMALL, out, "--export-batch", str(wave), "--batch-model", "org/m")
    assert code == 0, err
    first = [json.loads(line) for line in wave.read_text().splitlines()]
    assert first and data["stats"]["llm_calls"] == 0 and data["stats"]["pending"] > len(first)
    body = first[0]["body"]
    # A docstring-completion prompt: it ends where the unit's docstring would open.
    assert body["model"] == "org/m" and body["temperature"] == 0.0 and body["prompt"].endswith('"""')
    assert all(line["custom_id"].startswith("s1:") for line in first)
    waves = 1
    while wave.stat().st_size:
        answer_batch(wave, results)
        code, data, err = summarize(SMALL, out, "--import-batch", str(results), "--export-batch", str(wave))
        assert code == 0, err
        assert "not in this wave" in err
        waves += 1
    assert "the tree is complete: no prompt left" in err
    assert data["stats"]["pending"] == 0 and data["model"]["name"] == "org/m"
    assert waves >= 4  # bottom-up: callees, their callers, classes and modules, packages, overview
    with FakeServer(model="org/m") as fake:
        code, again, err = summarize(SMALL, tmp_path / "o2", "--server", fake.url)
        assert code == 0 and not fake.completions(), err
    assert again["stats"]["llm_calls"] == 0


def test_a_batch_answer_that_repeats_its_prompt_is_asked_again_in_the_next_wave(tmp_path: Path) -> None:
    wave, results, out = tmp_path / "wave.jsonl", tmp_path / "results.jsonl", tmp_path / "out"
    summarize(TINY, out, "--export-batch", str(wave), "--batch-model", "org/m")

    def copy_an_input(body: dict[str, Any]) -> str:
        # A small model's habit: the module answered with its function's summary
        # (when the prompt shows it: the second attempt names the functions only).
        if "Code: the module `calc.ops`" in body["prompt"] and "`mean`: Summary of" in body["prompt"]:
            return " Summary of `mean` (function)."
        return summary_answer(body)

    retried: list[str] = []
    while wave.stat().st_size:
        retried += [json.loads(r)["custom_id"] for r in wave.read_text().splitlines() if "#retry" in r]
        answer_batch(wave, results, copy_an_input)
        code, data, err = summarize(TINY, out, "--import-batch", str(results), "--export-batch", str(wave))
        assert code == 0, err
    assert len(retried) == 1
    ops = next(c for c in data["chunks"] if c["id"] == "calc.ops")
    assert len(ops["rejected"]) == 1 and ops["fallback"] is False
    assert ops["rejected"][0].startswith("repeated what the prompt said about `mean`")
    assert ops["summary"] == "Summary of the module `calc.ops`."


def test_batch_results_that_are_bad_or_foreign_are_one_line_or_counted(tmp_path: Path) -> None:
    wave, results, out = tmp_path / "wave.jsonl", tmp_path / "results.jsonl", tmp_path / "out"
    code, _, err = summarize(SMALL, out, "--export-batch", str(wave))
    assert code == 1 and "--export-batch needs --batch-model NAME" in err
    summarize(SMALL, out, "--export-batch", str(wave), "--batch-model", "org/m")
    asked = len(wave.read_text().splitlines())
    answer_batch(wave, results)
    lines = results.read_text().splitlines()
    failed = json.loads(lines[0])
    failed["response"] = {"status_code": 500, "body": None}
    failed["error"] = {"message": "engine died"}
    foreign = json.loads(lines[1]) | {"custom_id": "s1:" + "0" * 64}
    results.write_text("\n".join([json.dumps(failed), json.dumps(foreign), *lines[2:]]) + "\n")
    code, _, err = summarize(SMALL, out, "--import-batch", str(results), "--export-batch", str(wave))
    assert code == 0, err
    assert f"imported {asked - 2} answers (0 replaced by what the code says), 0 to ask again, 1 failed, 1 not in this wave" in err
    assert json.loads(lines[0])["custom_id"] in wave.read_text()  # the failed one is asked again
    results.write_text('{"custom_id": "x", "response": {"status_code": "OK"}}\n')
    code, _, err = summarize(SMALL, out, "--import-batch", str(results))
    assert code == 1 and f"{results}:1: not a Batch output line (response.status_code:" in err
    answer_batch(wave, results, model="other/model")
    code, _, err = summarize(SMALL, out, "--import-batch", str(results), "--batch-model", "org/m")
    assert code == 1 and "answers of other/model, not of org/m" in err
    assert Source.PENDING  # the enum the report uses for what is left
