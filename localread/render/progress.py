"""The progress of a long summarize run on stderr: a rich bar on a terminal, else a
plain line every LOG_EVERY_S seconds (cron); the same line goes to the run's log
(the `localread.summarize` logger) every LOG_EVERY_S seconds in both cases."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localread.summarize import Progress

LOG_EVERY_S = 60.0
log = logging.getLogger("localread.summarize")


def progress_line(p: Progress) -> str:
    """`12/52 done (model 9, cached 1, static 2, pending 0), 40 remaining, 80 tok/s, ETA 3m05s`;
    with parallel slots, `, 3/4 in flight` before the rate (which is then all slots'
    together, as is the ETA)."""
    eta = "" if p.eta_s is None else f", ETA {duration(p.eta_s)}"
    return (
        f"{p.done}/{p.total} done (model {p.model}, cached {p.cached}, static {p.static}, "
        f"pending {p.pending}), {p.remaining} remaining{_slots(p, ', ')}, {p.tokens_per_s:.0f} tok/s{eta}"
    )


def _slots(p: Progress, sep: str) -> str:
    return f"{sep}{p.in_flight}/{p.slots} in flight" if p.slots > 1 else ""


def duration(seconds: float) -> str:
    """`4m05s` under an hour, `2h07m` from one hour on."""
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


@contextmanager
def progress_display() -> Iterator[Callable[[Progress], None]]:
    """A progress callback for summarize: a rich bar when stderr is a terminal, else a
    `summarize: <progress_line>` on stderr for the first unit, the last, and every
    LOG_EVERY_S seconds between."""
    if not sys.stderr.isatty():
        last = [-LOG_EVERY_S]  # the first unit is logged at once: cron logs show the start

        def plain(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_S or p.done == p.total:
                last[0] = now
                log.info("%s", progress_line(p))
                print(f"summarize: {progress_line(p)}", file=sys.stderr, flush=True)

        yield plain
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("summarize"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("[dim]{task.fields[detail]}"),
        TimeElapsedColumn(),
        transient=False,
    )
    task = bar.add_task("summarize", total=None, detail="")
    last = [0.0]

    def fancy(p: Progress) -> None:
        eta = "" if p.eta_s is None else f" · ETA {duration(p.eta_s)}"
        bar.update(
            task,
            total=p.total,
            completed=p.done,
            detail=f"model {p.model} · cached {p.cached} · static {p.static} · remaining {p.remaining}"
            f"{_slots(p, ' · ')} · {p.tokens_per_s:.0f} tok/s{eta}",
        )
        now = time.monotonic()
        if now - last[0] >= LOG_EVERY_S:
            last[0] = now
            log.info("%s", progress_line(p))

    with bar:
        yield fancy
