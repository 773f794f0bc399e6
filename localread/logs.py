"""Where log records go: the one place that attaches handlers to the `localread`
logger. Stages only log (`logging.getLogger("localread.<stage>")`); a command that
wants a log decides here where it is written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """While the block runs, warnings of localread go to stderr as `warning: ...`
    lines (every command runs inside this, see commands.common.guarded). The handler
    is made per call: sys.stderr is replaced under typer's test runner."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("localread")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """While the block runs, info records of localread also go to the file at path
    (appended, timestamped). The handler is removed and the level restored
    afterwards."""
    logger = logging.getLogger("localread")
    file_handler = _QuietFileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(file_handler)
    try:
        yield
    finally:
        logger.removeHandler(file_handler)
        logger.setLevel(previous)
        file_handler.close()


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (disk full) must not print tracebacks over
    the run's own clear error."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass
