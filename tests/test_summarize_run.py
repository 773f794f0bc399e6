"""summarize.run: the walk with its store (reuse, dedup, resume), budgets and stop
requests, and runs in other processes that are killed or share one store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from localread.render import markdown
from localread.repo.analysis import analyze
from localread.store import STORE_NAME, Store
from localread.summarize import OVERVIEW_ID, Budget, Options, Source, summarize, templates
from tests.summarize_helpers import (
    ROOT,
    SMALL,
    TINY,
    ScriptedEngine,
    by_source,
    copy_repo,
    dependents,
    pages,
    run,
    store_rows,
)


def test_full_run_carries_callee_summaries_and_shares_identical_sources(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    progress: list[Any] = []
    report = run(SMALL, tmp_path / STORE_NAME, engine, on_progress=progress.append)
    stats = report.stats
    units = len(report.plan.units)
    assert stats.llm_calls + stats.cached + stats.static == units and stats.pending == 0
    assert stats.chunks == len(report.repo.chunks)
    assert stats.llm_calls == len(engine.history)
    assert progress[-1].done == progress[-1].total == units and progress[-1].remaining == 0
    # The caller's prompt lists each callee with the summary made for it just before.
    epoch = next(c.prompt for c in engine.history if "Code: `Trainer.train_epoch`" in c.prompt)
    batches = report.results["tinynet.data.batches"].summary
    assert f"# calls `batches`: {batches}\n" in epoch
    assert "# calls `TinyNet.forward`: Class probabilities for one feature vector.\n" in epoch  # static
    # Every prompt starts with the same instructions: the reusable prefix.
    shared = templates()["instructions"]
    assert all(c.prompt.startswith(shared) for c in engine.history)
    assert stats.prompt_tokens_reused > 0.5 * stats.prompt_tokens
    # The two identical set_seed functions cost one call.
    seeds = [c for c in engine.history if "Code: `set_seed`" in c.prompt]
    assert len(seeds) == 1
    assert report.results["scripts.train.set_seed"].summary == report.results["scripts.evaluate.set_seed"].summary
    assert {report.results["scripts.train.set_seed"].source, report.results["scripts.evaluate.set_seed"].source} == {
        Source.MODEL, Source.CACHE
    }
    assert report.results["tinynet.layers.Identity"].source is Source.STATIC


def test_static_summaries_can_be_switched_off(tmp_path: Path) -> None:
    report = run(TINY, tmp_path / STORE_NAME, options=Options(static=False))
    assert report.stats.static == 0
    assert report.results["run.__main__"].source is Source.MODEL


def test_rerun_on_an_unchanged_repo_makes_no_call_and_loads_no_model(tmp_path: Path) -> None:
    first = run(SMALL, tmp_path / STORE_NAME)
    engine = ScriptedEngine()
    repo = analyze(SMALL)

    def no_engine() -> Any:
        raise AssertionError("the engine was opened on a rerun")

    with Store.open(tmp_path / STORE_NAME) as store:
        second = summarize(repo, store, engine.model, engine.n_ctx, no_engine)
    assert second.stats.llm_calls == 0
    assert second.stats.cached == first.stats.llm_calls + first.stats.cached
    assert {u: r.summary for u, r in second.results.items()} == {u: r.summary for u, r in first.results.items()}


def test_changing_one_function_re_explains_it_and_only_its_dependents(tmp_path: Path) -> None:
    root = copy_repo(SMALL, tmp_path)
    first = run(root, tmp_path / STORE_NAME)
    layers = root / "tinynet" / "layers.py"
    layers.write_text(layers.read_text().replace("0.5 * x * (1.0", "0.5 * x * (1"))
    engine = ScriptedEngine()
    second = run(root, tmp_path / STORE_NAME, engine)
    redone = by_source(second, Source.MODEL)
    assert redone == dependents(second, "tinynet.layers.gelu")
    assert {"tinynet.layers.gelu", "tinynet.layers.MLP.forward", "tinynet.layers", OVERVIEW_ID} <= redone
    assert "tinynet.data.batches" not in redone and "tinynet.train.Trainer.train_epoch" not in redone
    assert second.stats.llm_calls == len(redone) < first.stats.llm_calls // 2


def test_max_calls_stops_cleanly_and_the_next_run_continues_without_repeats(tmp_path: Path) -> None:
    complete = run(SMALL, tmp_path / "reference.sqlite3")
    needed = complete.stats.llm_calls
    first_engine = ScriptedEngine()
    first = run(SMALL, tmp_path / STORE_NAME, first_engine, Options(budget=Budget(max_calls=5, label="5 calls")))
    assert first.stats.llm_calls == 5 and first.stopped == "--max-chunks 5 reached"
    assert first.stats.pending > 0
    # Consistent: nothing is summarized from a pending input, and pending means None.
    for uid, result in first.results.items():
        if result.source is Source.PENDING:
            assert result.summary is None
        elif result.source is not Source.STATIC:
            assert all(first.results[d].summary is not None for d in first.plan.inputs[uid])
    # The top tour's units were served first.
    done = by_source(first, Source.MODEL)
    assert all(first.plan.priority[uid][0] == 0 for uid in done)
    out = tmp_path / "out"
    markdown.claim_out_dir(out, first.repo.root)
    markdown.write_report(first, out)
    data = json.loads((out / "summary.json").read_text())
    assert data["stats"]["llm_calls"] == 5 and data["stats"]["pending"] == first.stats.pending
    assert data["stopped"] == "--max-chunks 5 reached"
    assert any(c["source"] == "pending" and c["summary"] is None for c in data["chunks"])
    assert "pending" in (out / "index.md").read_text()
    second_engine = ScriptedEngine()
    second = run(SMALL, tmp_path / STORE_NAME, second_engine)
    assert second.stopped is None and second.stats.pending == 0
    assert second.stats.llm_calls == needed - 5
    prompts = [c.prompt for c in first_engine.history + second_engine.history]
    assert len(prompts) == len(set(prompts)) == needed
    markdown.write_report(second, out)
    reference = tmp_path / "reference"
    markdown.claim_out_dir(reference, complete.repo.root)
    markdown.write_report(complete, reference)
    assert pages(out) == pages(reference)


def test_deadline_stops_model_calls_in_time(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    engine.delay = 0.25
    deadline = time.time() + 7.0
    started = time.time()
    report = run(SMALL, tmp_path / STORE_NAME, engine, Options(budget=Budget(deadline=deadline, label="test")))
    assert report.stopped == "deadline reached (test)"
    assert 0 < report.stats.llm_calls < len(report.plan.units) - report.stats.static
    # Model calls stop early enough to leave the report margin before the deadline.
    assert time.time() < deadline - 3.0
    assert time.time() - started >= 1.5


def test_stop_request_finishes_the_current_unit_then_stops(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    report = run(
        SMALL,
        tmp_path / STORE_NAME,
        engine,
        should_stop=lambda: "interrupted" if len(engine.history) >= 3 else None,
    )
    assert report.interrupted and report.stopped == "interrupted"
    assert report.stats.llm_calls == 3
    with Store.open(tmp_path / STORE_NAME) as store:
        assert store.count() == 3
        assert store.last_run(str(report.repo.root)).status == "stopped: interrupted"


_RUNNER = """
import hashlib, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from localread.llm.engine import as_prompt
from tests.fakes import FakeEngine
from localread.repo.analysis import analyze
from localread.store import Store, run_lock
from localread.config import Settings, load_settings
from localread.summarize import summarize

class Slow(FakeEngine):
    def stream(self, prompt, max_tokens, stop=()):
        text = as_prompt(prompt).text
        name = text.rsplit("Code:", 1)[-1].split("\\n", 1)[0].strip()
        self.enqueue(f"Summary of {name} v{hashlib.sha256(text.encode()).hexdigest()[:6]}.")
        time.sleep(float(sys.argv[3]))
        return super().stream(prompt, max_tokens, stop)

engine = Slow()
repo = analyze(Path(sys.argv[1]))
with Store.open(Path(sys.argv[2])) as store:
    report = summarize(repo, store, engine.model, engine.n_ctx, lambda: engine)
print(json.dumps(report.stats.to_json()))
"""


def _runner(tmp_path: Path, root: Path, store: Path, delay: float) -> subprocess.Popen[str]:
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    return subprocess.Popen(
        [sys.executable, str(script), str(root), str(store), str(delay), str(ROOT)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    reference = run(SMALL, tmp_path / "reference.sqlite3")
    total = reference.stats.llm_calls
    store = tmp_path / STORE_NAME
    victim = _runner(tmp_path, SMALL, store, delay=0.3)
    try:
        deadline = time.monotonic() + 120
        while store_rows(store) < 4:
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        victim.kill()
    kept = store_rows(store)
    assert 4 <= kept < total
    resumed = _runner(tmp_path, SMALL, store, delay=0.0)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    stats = json.loads(out)
    assert stats["llm_calls"] == total - kept  # nothing committed is made again
    assert stats["pending"] == 0
    assert store_rows(store) == total
    with Store.open(store) as s:
        assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_concurrent_runs_on_two_repositories_share_one_store(tmp_path: Path) -> None:
    a, b = copy_repo(SMALL, tmp_path, "a"), copy_repo(TINY, tmp_path, "b")
    store = tmp_path / STORE_NAME
    procs = [_runner(tmp_path, root, store, delay=0.02) for root in (a, b)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    with Store.open(store) as s:
        assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert s.count() == sum(r["llm_calls"] for r in results)


class DenseEngine(ScriptedEngine):
    """A model whose tokenizer takes a token per character (a numeric table's worst
    case): the builder's estimate falls short of it for big units."""

    def count_tokens(self, prompt: Any) -> int:
        return len(self.render(prompt))


def test_a_prompt_too_long_for_the_context_fails_its_attempt_not_the_run(tmp_path: Path) -> None:
    root = copy_repo(TINY, tmp_path)
    body = "".join(f"    w{i} = lr * {i}.5 + momentum ** {i}\n" for i in range(400))
    (root / "tune.py").write_text(f"def schedule(lr, momentum):\n{body}    return w0\n")
    engine = DenseEngine(n_ctx=4096)
    report = run(root, tmp_path / STORE_NAME, engine)
    big = report.results["tune.schedule"]
    # The first prompt (the source) did not fit; the retry (the signature) did.
    assert big.rejected == ("the prompt did not fit the model context",) and not big.fallback
    assert big.source is Source.MODEL and big.summary.startswith("Summary of `schedule`")
    assert report.stats.pending == 0 and report.stats.llm_calls + report.stats.retries == len(engine.history)
    # Nothing fits a context smaller than the instructions: every unit is the static
    # description, and the run still ends.
    tiny = DenseEngine(n_ctx=600)
    report = run(root, tmp_path / "other.sqlite", tiny)
    assert tiny.history == [] and report.stats.pending == 0
    assert all(r.fallback and r.summary for r in report.results.values() if r.source is Source.MODEL)
