"""Commands that run a model do their work in a forked child, so that a native crash
of llama.cpp ends with one line from the parent, never a core dump or a silent exit.

`run_supervised(body, what=..., after_crash=...)` runs `body` (inside the error
boundary) in a child process and exits with the child's code. When the child dies of
a signal, the parent raises LocalreadError: "llama.cpp crashed (SIGSEGV) while
<what>; <after_crash>". Ctrl-C reaches the child from the terminal (the parent ignores
it); SIGTERM and SIGHUP sent to the parent are passed on to the child. Where a fork
cannot keep the output (no POSIX, or stdout/stderr are not files, as under typer's
test runner), `body` runs in this process.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

import typer

from localread.errors import EXIT_INTERNAL, LocalreadError, error_boundary

CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}
)
_FORWARDED = (signal.SIGTERM, signal.SIGHUP)


def can_supervise() -> bool:
    """Whether a forked child would write to the same stdout/stderr as this process."""
    if os.name != "posix" or not hasattr(os, "fork"):
        return False
    try:
        sys.stdout.fileno()
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def run_supervised(body: Callable[[], None], *, what: str, after_crash: str) -> None:
    """Run body in a child and exit as it did; see the module docstring."""
    if not can_supervise():
        body()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller
        os._exit(_run_child(body))
    code = _wait(pid, what=what, after_crash=after_crash)
    if code:
        raise typer.Exit(code)


def _run_child(body: Callable[[], None]) -> int:
    code = EXIT_INTERNAL
    try:
        with error_boundary():
            body()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except typer.Exit as exc:
        code = exc.exit_code
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    return code


def _wait(pid: int, *, what: str, after_crash: str) -> int:
    """Wait for the child, passing termination signals on; its exit code, or
    LocalreadError when it died of a signal it did not ask for."""

    def forward(signum: int, frame: FrameType | None) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    sig = os.WTERMSIG(status)
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    if sig in CRASH_SIGNALS:
        raise LocalreadError(f"llama.cpp crashed ({name}) while {what}; {after_crash}")
    if sig == signal.SIGKILL:
        raise LocalreadError(f"killed ({name}: out of memory?) while {what}; {after_crash}")
    return 128 + sig
