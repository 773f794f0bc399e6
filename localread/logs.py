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
def run_log(path: Path) -> Iterator[None]:
    """While the block runs, info records of localread go to the file at path
    (appended, timestamped) and warnings also to stderr as `warning: ...` lines.
    The handlers are removed and the level restored afterwards."""
    logger = logging.getLogger("localread")
    file_handler = _QuietFileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("warning: %(message)s"))
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(file_handler)
    logger.addHandler(stderr_handler)
    try:
        yield
    finally:
        logger.removeHandler(file_handler)
        logger.removeHandler(stderr_handler)
        logger.setLevel(previous)
        file_handler.close()


class _QuietFileHandler(logging.FileHandler):
    """A log file that cannot be written (disk full) must not print tracebacks over
    the run's own clear error."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass
