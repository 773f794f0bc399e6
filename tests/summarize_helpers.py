"""What the summarize tests share: the fixture repositories, a scripted engine whose
answer is a pure function of the prompt (as a greedy model's is), one-call runs, and
readers of their results, stores and reports."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localread.llm.engine import CompletionStream, Prompt, as_prompt
from localread.render import markdown
from localread.repo.analysis import analyze
from localread.store import Store
from localread.summarize import Options, Report, Source, example_summaries, summarize
from tests.fakes import FakeEngine
from tests.helpers import FIXTURES

ROOT = Path(__file__).parent.parent
SMALL = FIXTURES / "summarize_small"
TINY = FIXTURES / "summarize_tiny"


class ScriptedEngine(FakeEngine):
    """A fake model: the answer names the unit and hashes the whole prompt text, so a
    change anywhere in what the prompt says changes the answer, and nothing else does."""

    delay: float = 0.0

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        text = as_prompt(prompt).text
        name = text.rsplit("Code:", 1)[-1].split("\n", 1)[0].split(", documented", 1)[0].strip()
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


def store_rows(store: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM summaries").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


class Copycat(ScriptedEngine):
    """A small model's habit: answer with the first summary the prompt shows for one of
    the unit's inputs. A prompt that shows none is answered as ScriptedEngine does, or
    (examples=True) with a worked example's summary."""

    examples: bool = False

    def stream(self, prompt: Prompt | str, max_tokens: int, stop: Sequence[str] = ()) -> CompletionStream:
        body = as_prompt(prompt).text
        shown = re.findall(r"^# (?:calls|method|base class|defines \w+|contains) .*`: (.+)$", body, re.MULTILINE)
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
