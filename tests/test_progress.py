"""render.progress: the progress line of a summarize run, as a cron log and on a
terminal."""

from __future__ import annotations

import logging
import sys

import pytest

from localread.render import progress
from localread.render.progress import duration, progress_display, progress_line
from localread.summarize import Progress


def snapshot(done: int, total: int = 10, eta: float | None = 125.0) -> Progress:
    return Progress(done=done, total=total, model=done, cached=1, static=2, pending=0,
                    remaining=total - done, tokens_per_s=81.4, eta_s=eta, current=f"u{done}")


def test_progress_line_and_durations() -> None:
    assert progress_line(snapshot(3)) == (
        "3/10 done (model 3, cached 1, static 2, pending 0), 7 remaining, 81 tok/s, ETA 2m05s"
    )
    assert progress_line(snapshot(3, eta=None)).endswith("7 remaining, 81 tok/s")
    assert [duration(s) for s in (0, 59.9, 61, 3599, 3600, 7620)] == ["0m00s", "0m59s", "1m01s", "59m59s", "1h00m", "2h07m"]


def test_without_a_terminal_the_first_last_and_timed_lines_are_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with caplog.at_level(logging.INFO, logger="localread.summarize"), progress_display() as on_progress:
        on_progress(snapshot(1))  # the start: at once
        on_progress(snapshot(2))  # too soon
        clock[0] += progress.LOG_EVERY_S
        on_progress(snapshot(3))  # a minute later
        on_progress(snapshot(10))  # the end: at once
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("/")[0] for line in lines] == ["summarize: 1", "summarize: 3", "summarize: 10"]
    assert all(line.startswith("summarize: ") for line in lines)
    assert [r.getMessage() for r in caplog.records] == [line.removeprefix("summarize: ") for line in lines]


def test_on_a_terminal_a_bar_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    shown = io.StringIO()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    # rich draws on its own console of stderr; give it one that writes here.
    monkeypatch.setattr("rich.progress.get_console", lambda: Console(file=shown, force_terminal=True, width=160))
    with progress_display() as on_progress:
        on_progress(snapshot(4))
    text = shown.getvalue()
    assert "summarize" in text and "4/10" in text and "model 4 · cached 1 · static 2 · remaining 6" in text
