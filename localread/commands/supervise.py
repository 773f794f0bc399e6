"""Commands that run a model do their work in a forked child, so that a native crash
of llama.cpp ends with one line from the parent, never a core dump or a silent exit.

`run_supervised(body, what=..., after_crash=...)` runs `body` (inside the error
boundary) in a child process and exits with the child's code. When the child dies of
a signal, the parent raises LocalreadError: "llama.cpp crashed (SIGSEGV) while
<what>; <after_crash>". Ctrl-C at a terminal reaches the child with the rest of the
foreground process group; a SIGINT, SIGTERM or SIGHUP sent to the parent alone (by
`kill`, a batch scheduler, a test) is passed on to the child. The child dies with the
parent (Linux: PR_SET_PDEATHSIG), so a parent killed with SIGKILL never leaves a child
holding the run lock. Where a fork
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
_PR_SET_PDEATHSIG = 1


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
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller
        _die_with_parent(parent)
        os._exit(_run_child(body))
    code = _wait(pid, what=what, after_crash=after_crash)
    if code:
        raise typer.Exit(code)


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this child when its parent dies (Linux only; elsewhere
    a parent killed with SIGKILL leaves the child to finish on its own)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(128 + signal.SIGKILL)


def _terminal_sent_sigint() -> bool:
    """Whether this process is in the foreground process group of its terminal, so a
    SIGINT it gets is Ctrl-C, which the kernel gave the child as well."""
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


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

    def forward_interrupt(signum: int, frame: FrameType | None) -> None:
        if not _terminal_sent_sigint():
            forward(signum, frame)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, forward_interrupt)
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
