"""The offline guarantee: with `--offline` (or HF_HUB_OFFLINE=1) nothing in this
process may open a network connection.

`enforce_offline()` sets the hub libraries' offline switches and replaces socket
connection with a refusal, so that a connection attempt is a LocalreadError instead
of a silent download. Local (AF_UNIX) sockets stay allowed.
"""

from __future__ import annotations

import os
import socket

from localread.errors import LocalreadError

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _refuse(self: socket.socket, address: object) -> None:
    if self.family == socket.AF_UNIX:
        return _original_connect(self, address)
    raise LocalreadError(f"offline mode: refused a network connection to {address!r}")


def _refuse_ex(self: socket.socket, address: object) -> int:
    if self.family == socket.AF_UNIX:
        return _original_connect_ex(self, address)
    raise LocalreadError(f"offline mode: refused a network connection to {address!r}")


def enforce_offline() -> None:
    """Make this process unable to reach the network. Idempotent."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse_ex  # type: ignore[method-assign]
