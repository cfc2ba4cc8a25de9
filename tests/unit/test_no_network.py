"""Tests reach nothing but this machine: a connection to any other address fails at once (tests/support/network)."""

from __future__ import annotations

import socket

import pytest

from tests.support.network import NetworkBlockedError


@pytest.mark.parametrize(
    ("family", "address"), [(socket.AF_INET, ("192.0.2.1", 443)), (socket.AF_INET6, ("2001:db8::1", 443))]
)
def test_a_connection_off_this_machine_is_refused(family: socket.AddressFamily, address: tuple[str, int]) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlockedError, match=address[0]):
        sock.connect(address)


def test_loopback_still_works() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname(), 2) as client:
        peer, _ = server.accept()
        with peer:
            client.sendall(b"ping")
            assert peer.recv(4) == b"ping"
