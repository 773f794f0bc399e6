"""logs: a run's info lines to its log file (run_log), warnings to stderr
(warnings_on_stderr, which every command runs in), and nothing left attached
afterwards."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from localread.logs import run_log, warnings_on_stderr


def test_info_to_the_file_warnings_also_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("localread")
    before = (logger.level, list(logger.handlers))
    path = tmp_path / "summarize.log"
    with warnings_on_stderr(), run_log(path):
        logging.getLogger("localread.summarize").info("started %s", "here")
        logging.getLogger("localread.store").warning("store repaired")
        logging.getLogger("localread.summarize").debug("not shown")
    logging.getLogger("localread.summarize").warning("after the run")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["INFO started here", "WARNING store repaired"]
    assert capsys.readouterr().err.count("warning: store repaired\n") == 1
    assert (logger.level, list(logger.handlers)) == before
    with run_log(path):  # appended, never truncated: a resumed run keeps the old lines
        logging.getLogger("localread.summarize").info("resumed")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


class FullDisk:
    """A file whose every write fails as on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_log_file_that_cannot_be_written_prints_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings_on_stderr(), run_log(tmp_path / "summarize.log"):
        handler = next(h for h in logging.getLogger("localread").handlers if isinstance(h, logging.FileHandler))
        handler.stream = FullDisk()
        logging.getLogger("localread.summarize").info("lost, quietly")
        logging.getLogger("localread.summarize").warning("still shown")
    assert capsys.readouterr().err == "warning: still shown\n"
