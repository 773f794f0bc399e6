"""One exception family for everything the user can fix, and the boundary that maps
exceptions to exit codes.

`LocalreadError` carries a one-line message that says what went wrong and what to do
next. `error_boundary()` turns it into exit 1 with that line on stderr; Ctrl-C into
exit 130; anything else into exit 3 with the traceback written to a crash log.

The crash log is `crash.log` in the user's own cache folder (LOCALREAD_CACHE_DIR, else
the platformdirs user cache), which is created private (mode 700). It is written
under a fresh name opened with O_CREAT | O_EXCL | O_NOFOLLOW and mode 600, then
renamed into place, so it never follows a link and never overwrites anything but an
earlier crash log. A folder that is not this user's alone (owned by another user, or
writable by others, like /tmp) is not used; nor one that cannot be written: then a
new private folder from `tempfile.mkdtemp` takes the log. The handler itself cannot fail:
if no log can be written, the one line says so and names the exception.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import typer

EXIT_USER = 1
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
CRASH_LOG = "crash.log"


class LocalreadError(Exception):
    """A problem the user can fix. The message is shown as one line, without traceback."""


class PromptTooLong(LocalreadError):
    """A prompt plus its answer budget does not fit the model context: the prompt's
    fault, not the engine's, which goes on serving other prompts."""


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
        _say(f"error: {_one_line(str(exc))}")
        raise SystemExit(EXIT_USER) from None
    except KeyboardInterrupt:
        _say("interrupted")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # stdout closed by a pager or `head`: not an error of ours.
        raise SystemExit(0) from None
    except Exception as exc:  # noqa: BLE001 - the one place where any bug becomes exit 3
        _report_crash(exc)
        raise SystemExit(EXIT_INTERNAL) from None


def _report_crash(exc: BaseException) -> None:
    """One line on stderr naming the exception and where its traceback went. Never
    raises, whatever the state of the disk, the cache folder or stderr."""
    try:
        what = _one_line(repr(exc))
    except Exception:  # noqa: BLE001 - a repr that raises is still a crash to report
        what = type(exc).__name__
    try:
        details = "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001
        details = what + "\n"
    try:
        log = write_crash_log(details)
    except Exception:  # noqa: BLE001
        log = None
    where = f"traceback in {log}" if log is not None else "no crash log could be written"
    _say(f"internal error: {what} ({where}; please report it)")


def write_crash_log(text: str) -> Path | None:
    """Write text as the crash log in a private folder of this user; returns its path,
    or None when no folder could take it. Never follows a symbolic link."""
    for folder in _crash_folders():
        try:
            return _write_private(folder, text)
        except OSError:
            continue
    return None


def _crash_folders() -> Iterator[Path]:
    """The cache folder first, then a new private temporary folder (created only when
    the cache folder fails)."""
    configured = os.environ.get("LOCALREAD_CACHE_DIR")
    if configured:
        yield Path(configured).expanduser()
    else:
        with suppress(Exception):  # no home folder: fall through to a temp folder
            import platformdirs

            yield Path(platformdirs.user_cache_dir("localread"))
    try:
        yield Path(tempfile.mkdtemp(prefix="localread-crash-"))
    except OSError:
        return


def _write_private(folder: Path, text: str) -> Path:
    """text as folder/crash.log: written to a fresh O_EXCL | O_NOFOLLOW file of mode
    600 and renamed over the old log (a rename replaces a link, never its target).
    Raises OSError when the folder cannot be made, or is not this user's alone."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        st = folder.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            # Someone else could swap names in it (a shared /tmp, another user's folder).
            raise PermissionError(f"{folder} is not private to this user")
    tmp = folder / f".{CRASH_LOG}.{os.getpid()}.tmp"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, create, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
        os.replace(tmp, folder / CRASH_LOG)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return folder / CRASH_LOG


def _one_line(message: str) -> str:
    """A message as one line of visible characters (see render.safe.plain)."""
    from localread.render.safe import one_line

    return one_line(message)


def _say(line: str) -> None:
    """Print a line on stderr; a closed or broken stderr is not an error of ours."""
    with suppress(Exception):  # nowhere left to report to
        print(line, file=sys.stderr, flush=True)
