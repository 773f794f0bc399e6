"""summarize: plan (bottom-up, cycles, priority), static summaries, the run loop with
its store (reuse, dedup, resume, budgets, stop requests), the report, the command and
its bad inputs. Plumbing runs with a scripted engine whose answer is a pure function
of the prompt, as a greedy model's is; the tests marked `model` run the real default
model end to end."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localread.cli import app
from localread.config import Settings, load_settings
from localread.data import ChunkKind
from localread.errors import LocalreadError
from localread.llm.engine import CompletionStream, FakeEngine, Prompt, as_prompt
from localread.render import markdown
from localread.repo.analysis import analyze
from localread.repo.chunks import extract_chunks, parse
from localread.sentences import first_sentence
from localread.store import STORE_NAME, Store, run_lock
from localread.summarize import (
    OVERVIEW_ID,
    Budget,
    Options,
    Report,
    Source,
    StopRequest,
    build_plan,
    example_summaries,
    known_tours,
    make_budget,
    prompt_version,
    repeated_text,
    static_summary,
    summarize,
    templates,
)
from tests.helpers import FIXTURES

ROOT = Path(__file__).parent.parent
runner = CliRunner()
SMALL = FIXTURES / "summarize_small"
TINY = FIXTURES / "summarize_tiny"


class ScriptedEngine(FakeEngine):
    """A fake model: the answer names the unit and hashes the whole prompt text, so a
    change anywhere in what the prompt says changes the answer, and nothing else does."""

    delay: float = 0.0

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        text = as_prompt(prompt).text
        name = text.rsplit("Code:", 1)[-1].split("\n", 1)[0].strip()
        self.enqueue(f"Summary of {name} v{hashlib.sha256(text.encode()).hexdigest()[:6]}.")
        if self.delay:
            time.sleep(self.delay)
        return super().stream(prompt, max_tokens, stop)


def copy_repo(src: Path, tmp_path: Path, name: str = "repo") -> Path:
    return Path(shutil.copytree(src, tmp_path / name))


def run(
    root: Path,
    store_path: Path,
    engine: Any = None,
    options: Options | None = None,
    **kwargs: Any,
) -> Report:
    engine = engine if engine is not None else ScriptedEngine()
    options = options if options is not None else Options()
    repo = analyze(root)
    with Store.open(store_path) as store:
        return summarize(repo, store, engine.model, engine.n_ctx, lambda: engine, options, **kwargs)


def by_source(report: Report, source: Source) -> set[str]:
    return {uid for uid, r in report.results.items() if r.source is source}


def pages(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.md"))}


# --------------------------------------------------------------------------- plan


def test_plan_is_bottom_up_with_every_callee_before_its_caller() -> None:
    repo = analyze(SMALL)
    plan = build_plan(repo, known_tours(repo, Options()))
    position = {uid: i for i, uid in enumerate(plan.order)}
    assert sorted(plan.order) == sorted(plan.units)
    for uid, inputs in plan.inputs.items():
        assert all(position[d] < position[uid] for d in inputs), uid
    # Calls, methods, members, modules: each prompt carries what it is made of.
    assert plan.inputs["tinynet.train.Trainer.train_epoch"] == (
        "tinynet.data.batches", "tinynet.model.TinyNet.forward", "tinynet.train.cross_entropy"
    )
    assert set(plan.inputs["tinynet.model.TinyNet"]) == {
        f"tinynet.model.TinyNet.{m}" for m in ("__init__", "forward", "predict", "get_classes", "__repr__")
    }
    assert plan.inputs["tinynet.model"] == ("tinynet.model.softmax", "tinynet.model.TinyNet", "tinynet.model.build_model")
    assert plan.inputs["package:tinynet"] == ("tinynet", "tinynet.data", "tinynet.layers", "tinynet.model", "tinynet.train")
    assert set(plan.inputs[OVERVIEW_ID]) == {"package:tinynet", "scripts.evaluate", "scripts.train", "setup"}
    assert plan.order[-1] == OVERVIEW_ID


def test_call_cycles_are_cut_once_and_the_same_way_after_unrelated_edits(tmp_path: Path) -> None:
    root = copy_repo(SMALL, tmp_path)
    repo = analyze(root)
    plan = build_plan(repo, known_tours(repo, Options()))
    # is_even <-> is_odd: the post-order from the smaller id keeps is_even -> is_odd.
    assert plan.units["tinynet.data.is_odd"].deps == ("tinynet.data.is_even",)
    assert plan.inputs["tinynet.data.is_odd"] == ()
    assert plan.inputs["tinynet.data.is_even"] == ("tinynet.data.is_odd",)
    cut = {(u, d) for u, unit in plan.units.items() for d in unit.deps if d not in plan.inputs[u]}
    assert cut == {("tinynet.data.is_odd", "tinynet.data.is_even")}
    assert build_plan(repo, known_tours(repo, Options())).order == plan.order
    layers = root / "tinynet" / "layers.py"
    layers.write_text(layers.read_text().replace("0.044715", "0.0447"))
    repo2 = analyze(root)
    plan2 = build_plan(repo2, known_tours(repo2, Options()))
    assert plan2.inputs == plan.inputs


def test_the_top_tour_and_what_it_needs_come_first() -> None:
    repo = analyze(SMALL)
    tours = known_tours(repo, Options())
    assert tours[0].entry.path == "scripts/train.py"
    plan = build_plan(repo, tours)
    tiers = [plan.priority[uid][0] for uid in plan.order]
    assert tiers == sorted(tiers), "a less urgent unit ran before a more urgent one"
    for step in tours[0].steps:
        assert plan.priority[step.id][0] == 0, step.id
    position = {uid: i for i, uid in enumerate(plan.order)}
    assert position["scripts.train.main"] < position["scripts.evaluate.accuracy"]
    assert plan.priority["tinynet.layers.Identity"][0] == 2  # used by nothing


# --------------------------------------------------------------------------- static


def chunk_of(source: str, kind: ChunkKind, tmp_name: str = "m.py") -> tuple[Any, str, bool]:
    data = textwrap.dedent(source).encode()
    chunks = extract_chunks(parse(data), data, tmp_name, "m").chunks
    chunk = next(c for c in chunks if c.kind is kind)
    text = "\n".join(data.decode().split("\n")[chunk.start - 1 : chunk.end])
    has_children = any(c.parent == chunk.id for c in chunks)
    if kind is ChunkKind.MODULE:
        text = data.decode()
    return chunk, text, has_children


@pytest.mark.parametrize(
    ("source", "kind", "expected"),
    [
        ("def f(x):\n    pass\n", ChunkKind.FUNCTION, "Does nothing (a placeholder with no code)."),
        ('def f(x):\n    """Compute the loss."""\n    ...\n', ChunkKind.FUNCTION, "Compute the loss. (no code: a placeholder)"),
        ("class A:\n    def f(self):\n        raise NotImplementedError\n", ChunkKind.METHOD, "Abstract: subclasses must implement it."),
        ("class A:\n    @property\n    def size(self):\n        return self._size\n", ChunkKind.METHOD, "Returns `self._size`."),
        ("class A:\n    def __repr__(self):\n        return f'A({self.x!r})'\n", ChunkKind.METHOD, "Returns a readable text form of `A`."),
        ("class A:\n    def set(self, v):\n        self.v = v\n", ChunkKind.METHOD, "Sets `self.v` to `v`."),
        ('def g():\n    """Twice x."""\n    return 2 * x\n', ChunkKind.FUNCTION, "Twice x."),
        ("class Oops(ValueError):\n    pass\n", ChunkKind.CLASS, "An exception type (a subclass of `ValueError`) with no code of its own."),
        ("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n", ChunkKind.MAIN, "Runs `main()` when the file is executed as a script."),
        ("import sys\nif __name__ == '__main__':\n    sys.exit(main(sys.argv))\n", ChunkKind.MAIN, "Runs `main(sys.argv)` when the file is executed as a script."),
        ('"""Models."""\nfrom .a import A, B\nfrom .c import C\n__all__ = ["A", "B", "C"]\n', ChunkKind.MODULE, "Models. Re-exports `A`, `B`, `C` from `.a`, `.c`."),
        ("", ChunkKind.MODULE, "An empty module."),
    ],
)
def test_trivial_chunks_get_a_static_summary(source: str, kind: ChunkKind, expected: str) -> None:
    chunk, text, has_children = chunk_of(source, kind)
    assert static_summary(chunk, text, has_children) == expected


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("def f(x):\n    y = x + 1\n    return y * 2\n", ChunkKind.FUNCTION),
        ("def f(x):\n    return [g(v) for v in x if v]\n", ChunkKind.FUNCTION),
        ("def f(x):\n    return some_function_with_a_long_name(x, another_argument, third_argument_here)\n", ChunkKind.FUNCTION),
        ("class A:\n    x: int = 1\n", ChunkKind.CLASS),
        ("class A:\n    def f(self):\n        pass\n", ChunkKind.CLASS),
        ("if __name__ == '__main__':\n    a = 1\n    main(a)\n", ChunkKind.MAIN),
        ("import os\nprint(os.getcwd())\n", ChunkKind.MODULE),
    ],
)
def test_real_code_is_left_to_the_model(source: str, kind: ChunkKind) -> None:
    chunk, text, has_children = chunk_of(source, kind)
    assert static_summary(chunk, text, has_children) is None


# --------------------------------------------------------------------------- runs


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
    assert f"Calls:\n- `batches`: {batches}" in epoch
    assert "- `TinyNet.forward`: Class probabilities for one feature vector." in epoch  # static
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


def dependents(report: Report, changed: str) -> set[str]:
    """Units whose prompt, directly or through inputs, holds `changed`'s summary;
    a static unit's summary does not depend on its inputs, so it stops the spread."""
    needed_by: dict[str, set[str]] = {}
    for uid, inputs in report.plan.inputs.items():
        for dep in inputs:
            needed_by.setdefault(dep, set()).add(uid)
    out, todo = {changed}, [changed]
    while todo:
        for uid in needed_by.get(todo.pop(), ()):
            if uid not in out and report.results[uid].source is not Source.STATIC:
                out.add(uid)
                todo.append(uid)
    return out


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


def test_stop_request_handles_signals_once_then_interrupts() -> None:
    stop = StopRequest()
    with stop.graceful():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop() == "interrupted"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_make_budget_until_is_the_next_occurrence() -> None:
    from datetime import datetime

    evening = datetime(2026, 3, 2, 22, 30).astimezone()
    budget = make_budget(until="07:00", now=evening)
    assert datetime.fromtimestamp(budget.deadline).astimezone().strftime("%d %H:%M") == "03 07:00"
    assert make_budget(until="23:15", now=evening).deadline - evening.timestamp() == 45 * 60
    both = make_budget(until="23:15", max_minutes=10, max_chunks=7, now=evening)
    assert both.deadline - evening.timestamp() == 600 and both.max_calls == 7
    for bad in ("7", "25:00", "07:60", "seven"):
        with pytest.raises(LocalreadError, match="--until"):
            make_budget(until=bad, now=evening)
    with pytest.raises(LocalreadError, match="--max-minutes"):
        make_budget(max_minutes=0)


# --------------------------------------------------------------------------- processes

_RUNNER = """
import hashlib, json, sys, time
from pathlib import Path
from localread.llm.engine import FakeEngine, as_prompt
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
        [sys.executable, str(script), str(root), str(store), str(delay)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _rows(store: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM summaries").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_sigkill_mid_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    reference = run(SMALL, tmp_path / "reference.sqlite3")
    total = reference.stats.llm_calls
    store = tmp_path / STORE_NAME
    victim = _runner(tmp_path, SMALL, store, delay=0.3)
    try:
        deadline = time.monotonic() + 120
        while _rows(store) < 4:
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        victim.kill()
    kept = _rows(store)
    assert 4 <= kept < total
    resumed = _runner(tmp_path, SMALL, store, delay=0.0)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    stats = json.loads(out)
    assert stats["llm_calls"] == total - kept  # nothing committed is made again
    assert stats["pending"] == 0
    assert _rows(store) == total
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


# --------------------------------------------------------------------------- report


def test_report_is_deterministic_and_complete(tmp_path: Path) -> None:
    first = run(SMALL, tmp_path / "one.sqlite3")
    second = run(SMALL, tmp_path / "two.sqlite3")
    cached = run(SMALL, tmp_path / "one.sqlite3")
    outs = []
    for n, report in enumerate((first, second, cached)):
        out = tmp_path / f"out{n}"
        markdown.claim_out_dir(out, report.repo.root)
        markdown.write_report(report, out)
        outs.append(out)
    assert pages(outs[0]) == pages(outs[1]) == pages(outs[2])
    one, three = (json.loads((o / "summary.json").read_text()) for o in (outs[0], outs[2]))
    assert [{k: c[k] for k in c if k != "source"} for c in one["chunks"]] == [
        {k: c[k] for k in c if k != "source"} for c in three["chunks"]
    ]
    assert {c["source"] for c in three["chunks"]} <= {"cache", "static"}
    assert set(one["stats"]) >= {
        "chunks", "llm_calls", "cached", "static", "prompt_tokens", "prompt_tokens_reused", "completion_tokens", "seconds"
    }
    index = (outs[0] / "index.md").read_text()
    for section in ("## Overview", "## Install", "pip install -e .", "## Entry points", "## Where the core is",
                    "## Reading tours", "### 1. From `scripts/train.py`", "## Packages", "## Modules", "sha256 `",
                    f"prompt version `{prompt_version()}`", "context 4096 tokens", "localread 0.1.0"):
        assert section in index, section
    assert first.results[OVERVIEW_ID].summary in index
    page = (outs[0] / "modules" / "tinynet.model.md").read_text()
    assert "`tinynet/model.py:22-24`" in page and '<a id="tinynet.model.TinyNet.forward"></a>' in page
    assert first.results["tinynet.model.softmax"].summary in page
    assert sorted(p.name for p in (outs[0] / "modules").iterdir()) == sorted(
        f"{c.id}.md" for c in first.repo.chunks.values() if c.kind is ChunkKind.MODULE
    )


class Inventive(ScriptedEngine):
    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        if "Code: `softmax`" in as_prompt(prompt).text:
            self.enqueue("Normalizes logits with `frobnicate_weights` and `math.exp`.")
            return FakeEngine.stream(self, prompt, max_tokens, stop)
        return super().stream(prompt, max_tokens, stop)


def test_unverified_names_are_flagged_on_the_page(tmp_path: Path) -> None:
    report = run(SMALL, tmp_path / STORE_NAME, Inventive())
    out = tmp_path / "out"
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    page = (out / "modules" / "tinynet.model.md").read_text()
    assert "⚠ Unverified: `frobnicate_weights` (not found in the code)" in page
    assert page.count("⚠ Unverified") == 1


class Copycat(ScriptedEngine):
    """A small model's habit: answer with the first summary the prompt shows for one of
    the unit's inputs. A prompt that shows none is answered as ScriptedEngine does, or
    (examples=True) with a worked example's summary."""

    examples: bool = False

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        body = as_prompt(prompt).text
        shown = re.findall(r"^- .*`(?: \(\w+\))?: (.+)$", body, re.MULTILINE)
        if shown or self.examples:
            self.enqueue(shown[0] if shown else example_summaries()[-1])
            return FakeEngine.stream(self, prompt, max_tokens, stop)
        return super().stream(prompt, max_tokens, stop)


def copycat_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "net").mkdir(parents=True)
    (root / "net" / "__init__.py").write_text("from .encoder import Encoder\n")
    (root / "net" / "encoder.py").write_text(textwrap.dedent('''\
        import math


        class Encoder:
            def __init__(self, width, depth=2):
                self.width = width
                self.scale = 1.0 / math.sqrt(width * depth)

            def forward(self, x):
                """Scales a feature vector and clips negative values to zero."""
                y = [v * self.scale for v in x]
                return [max(v, 0.0) for v in y]
        '''))
    return root


def module_page(report: Report, out: Path, module: str) -> str:
    """The report written to out, and the page of one module."""
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    return (out / "modules" / f"{module}.md").read_text()


def test_an_answer_that_copies_an_input_summary_is_asked_again_without_summaries(tmp_path: Path) -> None:
    engine = Copycat()
    report = run(copycat_repo(tmp_path), tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"].summary
    cls = report.results["net.encoder.Encoder"]
    assert cls.source is Source.MODEL and not cls.fallback
    assert cls.rejected == ("repeated the summary of `Encoder.__init__`",)
    assert cls.summary != forward and cls.summary.startswith("Summary of")
    # The second prompt names the methods and shows nothing to copy.
    retry = [c.prompt for c in engine.history if "Code: `Encoder` (class)" in c.prompt][1]
    assert "Methods:\n- `Encoder.__init__`\n- `Encoder.forward`\n" in retry
    assert report.stats.llm_calls + report.stats.retries == len(engine.history)
    assert report.stats.retries == sum(len(r.rejected) for r in report.results.values()) > 0
    copies = [uid for uid, r in report.results.items() if r.rejected]
    assert "net.encoder" in copies
    chunk = next(c for c in markdown.summary_json(report)["chunks"] if c["id"] == "net.encoder.Encoder")
    assert chunk["rejected"] == ["repeated the summary of `Encoder.__init__`"] and chunk["source"] == "model"
    assert chunk["fallback"] is False
    page = module_page(report, tmp_path / "out", "net.encoder")
    assert "**Summary** (model, asked twice: its first answer repeated its prompt)" in page


def test_when_every_answer_is_a_copy_the_summary_comes_from_the_code(tmp_path: Path) -> None:
    root = copycat_repo(tmp_path)
    engine = Copycat()
    engine.examples = True
    report = run(root, tmp_path / STORE_NAME, engine)
    forward = report.results["net.encoder.Encoder.forward"]
    # No input to leave out: the same prompt would get the same answer, so one call.
    assert forward.rejected == ("repeated a worked example of the prompt",)
    assert forward.summary == "Scales a feature vector and clips negative values to zero."
    assert forward.source is Source.MODEL and forward.fallback
    cls = report.results["net.encoder.Encoder"]
    assert cls.rejected == ("repeated the summary of `Encoder.__init__`", "repeated a worked example of the prompt")
    assert cls.summary == "Class `Encoder` with the methods `__init__` and `forward`."
    assert not any(r.summary in example_summaries() for r in report.results.values())
    # Kept in the store: a rerun makes no call and says the same.
    repo = analyze(root)

    def no_engine() -> Any:
        raise AssertionError("the engine was opened on a rerun")

    with Store.open(tmp_path / STORE_NAME) as store:
        again = summarize(repo, store, engine.model, engine.n_ctx, no_engine)
    assert again.results["net.encoder.Encoder"].summary == cls.summary
    assert again.results["net.encoder.Encoder"].fallback and again.results["net.encoder.Encoder"].source is Source.CACHE
    page = module_page(again, tmp_path / "out", "net.encoder")
    assert "**Summary** (from the code: the model's answers repeated its prompt): Class `Encoder`" in page


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


def test_out_dir_checks(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(LocalreadError, match="not empty and holds no localread report"):
        markdown.claim_out_dir(foreign, repo)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalreadError, match="is a file"):
        markdown.claim_out_dir(tmp_path / "file", repo)
    with pytest.raises(LocalreadError, match="cannot be created"):
        markdown.claim_out_dir(tmp_path / "file" / "out", repo)
    other = tmp_path / "other"
    other.mkdir()
    (other / markdown.MARKER).write_text(json.dumps({"generator": markdown.GENERATOR, "repo": "/elsewhere", "files": []}))
    with pytest.raises(LocalreadError, match="another repository"):
        markdown.claim_out_dir(other, repo)
    fresh = tmp_path / "fresh" / "nested"
    markdown.claim_out_dir(fresh, repo)
    assert fresh.is_dir()


def test_out_dir_of_a_run_killed_before_its_first_report_is_reused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    out = tmp_path / "out"
    markdown.claim_out_dir(out, repo)
    (out / markdown.LOG_NAME).write_text("2026-01-01 22:00:00 INFO summarize ...\n")  # then SIGKILL
    markdown.claim_out_dir(out, repo)
    with pytest.raises(LocalreadError, match="another repository"):
        markdown.claim_out_dir(out, tmp_path / "elsewhere")


def test_disk_full_while_writing_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(SMALL, tmp_path / STORE_NAME)
    out = tmp_path / "out"
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    before = pages(out)
    real_fsync = os.fsync
    calls = [0]

    def full(fd: int) -> None:
        calls[0] += 1
        if calls[0] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(markdown.os, "fsync", full)
    with pytest.raises(LocalreadError, match="disk full while writing the report .* next run only rewrites"):
        markdown.write_report(report, out)
    monkeypatch.setattr(markdown.os, "fsync", real_fsync)
    assert pages(out) == before  # every page whole: the old one or the new one
    assert not [p for p in out.rglob("*.tmp")]
    again = run(SMALL, tmp_path / STORE_NAME)
    assert again.stats.llm_calls == 0
    markdown.write_report(again, out)
    assert pages(out) == before


def test_stale_module_pages_are_removed(tmp_path: Path) -> None:
    root = copy_repo(TINY, tmp_path)
    out = tmp_path / "out"
    report = run(root, tmp_path / STORE_NAME)
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    assert (out / "modules" / "calc.ops.md").is_file()
    (root / "calc" / "ops.py").rename(root / "calc" / "stats.py")
    (root / "calc" / "__init__.py").write_text("from .stats import normalize\n")
    report = run(root, tmp_path / STORE_NAME)
    markdown.claim_out_dir(out, report.repo.root)
    markdown.write_report(report, out)
    assert not (out / "modules" / "calc.ops.md").exists()
    assert (out / "modules" / "calc.stats.md").is_file()


# --------------------------------------------------------------------------- command


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


# --------------------------------------------------------------------------- real model


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
        # No summary is one its prompt showed: an input's, or a worked example's.
        shown = {d: first_sentence(first.results[d].summary) for d in first.plan.inputs[uid]}
        assert result.fallback or repeated_text(first.repo, result.summary, shown) is None, uid
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

    def wait_rows(n: int) -> None:
        deadline = time.monotonic() + 300
        while _rows(store) < n:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)

    first = _cli([str(root), "--out", str(out)], env)
    try:
        wait_rows(1)
        second = _cli([str(root), "--out", str(out)], env)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "already running on" in err and err.count("\n") == 1
        wait_rows(2)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    kept = _rows(store)
    resumed = _cli([str(root), "--out", str(out), "--json"], env)
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    data = json.loads(stdout)
    assert data["stats"]["pending"] == 0
    assert data["stats"]["llm_calls"] == _rows(store) - kept  # no repeats, nothing lost
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
    while _rows(store) < 3:
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
    assert _rows(store) == 7
