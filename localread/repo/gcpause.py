"""Python's cyclic garbage collector, paused around work that allocates many small
objects and makes no reference cycles worth collecting (parsing, the graph's build)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector is off inside the block and back as it was after (blocks nest)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
