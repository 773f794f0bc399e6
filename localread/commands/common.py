"""What every subcommand shares: the error boundary, the REPO argument, settings."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from localread.errors import error_boundary

F = TypeVar("F", bound=Callable[..., Any])


def guarded(func: F) -> F:
    """Run a command body inside the error boundary (exit 1 / 130 / 3, one line)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with error_boundary():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """The result on stdout as JSON, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    sys.stdout.flush()


def repo_path(repo: Path | None) -> Path:
    return repo if repo is not None else Path.cwd()
