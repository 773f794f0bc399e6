"""summarize.job: the command's pipeline around the run (lock, store, model, report),
with a small GGUF file as the model and a store that already holds every answer, so
that no model is loaded."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from localread.config import load_settings
from localread.errors import LocalreadError
from localread.llm.engine import choose_n_ctx
from localread.llm.models import resolve_model
from localread.render import markdown
from localread.repo.analysis import analyze
from localread.store import Store, run_lock
from localread.summarize import Options, Report, summarize
from localread.summarize.job import default_out_dir, run_job
from tests.summarize_helpers import TINY, ScriptedEngine, copy_repo


def test_default_out_dir_is_one_folder_per_repository_outside_it(tmp_path: Path) -> None:
    settings = load_settings()
    a, b = tmp_path / "a" / "repo", tmp_path / "b" / "repo"
    assert default_out_dir(settings, a) == default_out_dir(settings, a)
    assert default_out_dir(settings, a) != default_out_dir(settings, b)
    assert default_out_dir(settings, a).parent == settings.cache_dir / "reports"
    assert default_out_dir(settings, a).name.startswith("repo-")


def test_the_report_is_written_under_the_lock_and_logged(
    tmp_path: Path, make_gguf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    root = copy_repo(TINY, tmp_path)
    gguf = make_gguf(tmp_path / "tiny.gguf")  # a context of 2048 tokens
    settings = load_settings(model=str(gguf))
    model = resolve_model(settings)
    repo = analyze(root)
    # Every answer in the store already: the job makes no call and opens no engine.
    engine = ScriptedEngine()
    with Store.open(settings) as store:
        first = summarize(repo, store, model, choose_n_ctx(settings.n_ctx, model.context_length), lambda: engine)
    assert first.stats.llm_calls == len(engine.history) > 0
    out = tmp_path / "out"
    markdown.claim_out_dir(out, repo.root)
    written: list[Path] = []

    def write_report(report: Report, where: Path) -> None:
        with pytest.raises(LocalreadError, match="already running"), run_lock(settings, repo.root):
            pass  # the caller's lock is held while the report is written
        markdown.write_report(report, where)
        written.append(where)

    progress: list[Any] = []
    with caplog.at_level(logging.INFO, logger="localread.summarize"), run_lock(settings, repo.root):
        report = run_job(repo, settings, Options(), out, write_report=write_report,
                         on_progress=progress.append, should_stop=lambda: None)
    assert written == [out] and (out / "index.md").is_file()
    assert report.stats.llm_calls == 0 and report.stats.cached == first.stats.llm_calls + first.stats.cached
    assert report.header.model_sha256 == model.sha256 and progress[-1].done == progress[-1].total
    started, finished = (r.getMessage() for r in caplog.records if r.name == "localread.summarize")
    assert started.startswith(f"summarize {repo.root}: model tiny (sha256 {model.sha256}), context ")
    assert ", context 2048, " in started and f"report {out}" in started
    assert finished.startswith("complete: 0 by the model (0 asked again), ")
    with run_lock(settings, repo.root):
        pass  # released
