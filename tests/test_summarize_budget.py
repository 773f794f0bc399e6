"""summarize.budget: limits from the command line, the check before each model call,
and stop requests from signals."""

from __future__ import annotations

import os
import signal
import time

import pytest

from localread.errors import LocalreadError
from localread.summarize import Budget, StopRequest, make_budget
from localread.summarize.budget import REPORT_MARGIN_S, over_budget


def test_stop_request_handles_signals_once_then_interrupts() -> None:
    stop = StopRequest()
    with stop.graceful():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop() == "interrupted"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_make_budget_until_is_the_next_occurrence() -> None:
    from datetime import datetime

    evening = datetime(2026, 3, 2, 22, 30).astimezone()
    budget = make_budget(until="07:00", now=evening)
    assert datetime.fromtimestamp(budget.deadline).astimezone().strftime("%d %H:%M") == "03 07:00"
    assert make_budget(until="23:15", now=evening).deadline - evening.timestamp() == 45 * 60
    both = make_budget(until="23:15", max_minutes=10, max_chunks=7, now=evening)
    assert both.deadline - evening.timestamp() == 600 and both.max_calls == 7
    for bad in ("7", "25:00", "07:60", "seven"):
        with pytest.raises(LocalreadError, match="--until"):
            make_budget(until=bad, now=evening)
    with pytest.raises(LocalreadError, match="--max-minutes"):
        make_budget(max_minutes=0)


def test_over_budget_before_each_model_call() -> None:
    assert over_budget(Budget(), calls=10_000, model_seconds=1e6, now=time.time()) is None
    calls = Budget(max_calls=3, label="3 model calls")
    assert over_budget(calls, calls=2, model_seconds=0.0, now=0.0) is None
    assert over_budget(calls, calls=3, model_seconds=0.0, now=0.0) == "--max-chunks 3 reached"
    assert over_budget(Budget(max_calls=0), calls=0, model_seconds=0.0, now=0.0) == "--max-chunks 0 reached"
    # A call is expected to take the mean so far, and to end REPORT_MARGIN_S early.
    deadline = Budget(deadline=1000.0, label="until 07:00")
    mean = 4.0
    last_start = 1000.0 - REPORT_MARGIN_S - mean
    assert over_budget(deadline, calls=5, model_seconds=5 * mean, now=last_start - 0.1) is None
    assert over_budget(deadline, calls=5, model_seconds=5 * mean, now=last_start) == "deadline reached (until 07:00)"
    assert over_budget(deadline, calls=0, model_seconds=0.0, now=1000.0 - REPORT_MARGIN_S) is not None
