"""No test reaches the network: sockets may connect to loopback addresses (and Unix sockets) only.

Installed for the whole session by tests/conftest.py. moto intercepts boto3 before any socket is opened, so a
test that tries to reach a real endpoint is a test that escaped moto: it fails at once, naming the address.
Subprocesses (sam build, pip) are not affected.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_installed: dict[str, Any] = {}


class NetworkBlockedError(ConnectionError):
    """A test tried to connect somewhere other than this machine."""


def is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
        raise NetworkBlockedError(f"tests may only connect to loopback addresses, not {address!r}")


def block() -> None:
    """Refuse every non-loopback connect from this process (idempotent)."""
    if _installed:
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    _installed.update(connect=real_connect, connect_ex=real_connect_ex)
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def unblock() -> None:
    if _installed:
        socket.socket.connect = _installed.pop("connect")  # type: ignore[method-assign]
        socket.socket.connect_ex = _installed.pop("connect_ex")  # type: ignore[method-assign]
