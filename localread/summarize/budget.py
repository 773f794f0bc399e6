"""When a run stops making model calls: the budget from the command-line limits,
the check made before each call, and stop requests from signals.

A stopped run is not a failed one: the walk still fills what the store and static
rules can, the rest is reported as pending, and the next run resumes."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType

from localread.errors import LocalreadError
from localread.summarize.model import Budget

# Seconds kept in hand before a deadline for writing the report.
REPORT_MARGIN_S = 5.0


def make_budget(
    until: str | None = None,
    max_minutes: float | None = None,
    max_chunks: int | None = None,
    *,
    now: datetime | None = None,
) -> Budget:
    """The budget from the command-line limits; the first limit reached stops the run.

    until: "HH:MM" local time, its next occurrence (07:00 given at 22:00 is tomorrow
    morning). Raises LocalreadError for a malformed time or a non-positive limit."""
    now = now or datetime.now().astimezone()
    deadlines: list[float] = []
    labels: list[str] = []
    if until is not None:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", until)
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            raise LocalreadError(f"--until {until}: expected a time of day as HH:MM, e.g. 07:00")
        target = now.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
        if target <= now:
            target += timedelta(days=1)
        deadlines.append(target.timestamp())
        labels.append(f"until {target.strftime('%H:%M')}")
    if max_minutes is not None:
        if max_minutes <= 0:
            raise LocalreadError(f"--max-minutes {max_minutes:g}: must be more than 0")
        deadlines.append(now.timestamp() + max_minutes * 60)
        labels.append(f"{max_minutes:g} minutes")
    if max_chunks is not None and max_chunks < 0:
        raise LocalreadError(f"--max-chunks {max_chunks}: must be 0 or more")
    if max_chunks is not None:
        labels.append(f"{max_chunks} model calls")
    return Budget(
        deadline=min(deadlines) if deadlines else None,
        max_calls=max_chunks,
        label=", ".join(labels),
    )


def over_budget(
    budget: Budget, calls: int, model_seconds: float, now: float, *, in_flight: int = 0
) -> str | None:
    """Why no further model call may start, or None. calls / model_seconds: the model
    calls finished so far and the time each took, summed; in_flight: calls started
    and not finished (parallel slots); now: time.time(). A call is expected to take
    as long as the mean so far, and must end REPORT_MARGIN_S before the deadline."""
    if budget.max_calls is not None and calls + in_flight >= budget.max_calls:
        return f"--max-chunks {budget.max_calls} reached"
    if budget.deadline is not None:
        mean = model_seconds / calls if calls else 0.0
        if now + mean + REPORT_MARGIN_S >= budget.deadline:
            return f"deadline reached ({budget.label})"
    return None


class StopRequest:
    """Set by a signal handler (or a test) to end the run cleanly after the current
    unit. `graceful()` installs handlers: the first Ctrl-C (or SIGTERM) asks for a
    stop; a second Ctrl-C interrupts at once (the store is safe either way)."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self) -> str | None:
        return self.reason

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason

    @contextmanager
    def graceful(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if self.reason is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.request("interrupted" if signum == signal.SIGINT else "terminated")

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
