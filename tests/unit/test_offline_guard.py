"""The suite-wide network guard works (tests/conftest.py)."""

import socket

import pytest

from tests.conftest import NetworkAccessError


def test_the_network_guard_refuses_remote_addresses() -> None:
    with socket.socket() as sock, pytest.raises(NetworkAccessError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: refused before any packet is sent


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
