"""The offline guarantee: with `--offline` (or HF_HUB_OFFLINE=1) nothing in this
process may open a network connection, except to the model servers the user named.

`enforce_offline(servers)` sets the hub libraries' offline switches and replaces
socket connection with a check, so that a connection attempt is a LocalreadError
instead of a silent download. Local (AF_UNIX) sockets stay allowed.

`--server URL` names the user's own engine (llama-server, vLLM, ...): with
`--offline`, connections go to those servers' addresses and ports and nowhere else,
and only where every address of the server is on this machine or a private network
(loopback, RFC 1918 / unique-local, link-local). A server on a public address is
refused up front: "offline" then means that nothing leaves for the internet, and the
list of what may be reached is exactly the --server list, which the run logs. Host
names are resolved once, here; name servers by IP address (or in /etc/hosts) where
not even a DNS query may leave the machine.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from localread.errors import LocalreadError

log = logging.getLogger("localread.offline")

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
# (ip, port) pairs an offline process may connect to: the named servers.
_allowed: frozenset[tuple[str, int]] = frozenset()


def _permitted(sock: socket.socket, address: object) -> bool:
    if sock.family == socket.AF_UNIX:
        return True
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        return (_canonical_ip(host), port) in _allowed
    return False


def _refuse(self: socket.socket, address: object) -> None:
    if _permitted(self, address):
        return _original_connect(self, address)
    raise LocalreadError(f"offline mode: refused a network connection to {address!r}")


def _refuse_ex(self: socket.socket, address: object) -> int:
    if _permitted(self, address):
        return _original_connect_ex(self, address)
    raise LocalreadError(f"offline mode: refused a network connection to {address!r}")


def _canonical_ip(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host


def private_address(ip: str) -> bool:
    """Whether ip is on this machine or a private network (never routed to the
    internet): loopback, RFC 1918 and unique-local, link-local."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_link_local or (address.is_private and not address.is_global)


def server_addresses(urls: Iterable[str]) -> frozenset[tuple[str, int]]:
    """The (ip, port) pairs the server URLs resolve to. Raises LocalreadError for a
    host that does not resolve, or one with an address outside private networks."""
    allowed: set[tuple[str, int]] = set()
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise LocalreadError(f"offline mode: server {url}: cannot resolve {host} ({exc.strerror})") from None
        for info in infos:
            ip = str(info[4][0])
            if not private_address(ip):
                raise LocalreadError(
                    f"offline mode: server {url} is at {ip}, outside this machine and private "
                    "networks; drop --offline to use a server on the internet"
                )
            allowed.add((_canonical_ip(ip), port))
    return frozenset(allowed)


def enforce_offline(servers: Iterable[str] = ()) -> None:
    """Make this process unable to reach the network, except the model servers named
    (URLs; see the module docstring). Idempotent; a later call replaces the list.
    Raises LocalreadError for a server that may not be reached offline."""
    global _allowed
    urls = list(servers)
    _allowed = server_addresses(urls)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse_ex  # type: ignore[method-assign]
    if urls:
        log.info("offline: connections allowed only to %s", ", ".join(f"{ip}:{port}" for ip, port in sorted(_allowed)))
