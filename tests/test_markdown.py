"""render.markdown: the summarize report (index, module pages, summary.json), its out
dir checks, and writes that a full disk cannot leave half done."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from localread.data import ChunkKind
from localread.errors import LocalreadError
from localread.llm.engine import CompletionStream, Prompt, as_prompt
from localread.render import markdown
from localread.store import STORE_NAME
from localread.summarize import OVERVIEW_ID, prompt_version
from tests.fakes import FakeEngine
from tests.summarize_helpers import SMALL, TINY, ScriptedEngine, copy_repo, pages, run


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
    site = [{p.relative_to(o): p.read_bytes() for p in o.rglob("*.html")} for o in outs]
    assert site[0] == site[1] and len(site[0]) > 5
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
    modules = sorted(c.id for c in first.repo.chunks.values() if c.kind is ChunkKind.MODULE)
    for suffix in (".md", ".html"):  # the Markdown report and the HTML site (render.html)
        assert sorted(p.stem for p in (outs[0] / "modules").iterdir() if p.suffix == suffix) == modules
    assert "```mermaid\nflowchart TD\n" in index


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
