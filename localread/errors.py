"""One exception family for everything the user can fix, and the boundary that maps
exceptions to exit codes.

`LocalreadError` carries a one-line message that says what went wrong and what to do
next. `error_boundary()` turns it into exit 1 with that line on stderr; Ctrl-C into
exit 130; anything else into exit 3 with the traceback written to a log file.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

EXIT_USER = 1
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class LocalreadError(Exception):
    """A problem the user can fix. The message is shown as one line, without traceback."""


@contextmanager
def error_boundary() -> Iterator[None]:
    """Map exceptions raised inside the block to clean exits.

    Raises SystemExit with 1 (LocalreadError), 130 (KeyboardInterrupt) or 3 (a bug).
    """
    try:
        yield
    except typer.Exit:
        raise  # a deliberate exit code (usage errors): not ours to translate
    except LocalreadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USER) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # stdout closed by a pager or `head`: not an error of ours.
        raise SystemExit(0) from None
    except Exception:  # noqa: BLE001 - the one place where any bug becomes exit 3
        log = Path(tempfile.gettempdir()) / "localread-crash.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(
            f"internal error: {sys.exc_info()[1]!r} (traceback in {log}; please report it)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_INTERNAL) from None
