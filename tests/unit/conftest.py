"""Unit tests never reach the network: a connection from one fails, naming the test, so a stage
test that quietly needs a broker, an engine or a web service is caught the day it is written.
A test that talks to a server it starts itself on 127.0.0.1 says so with ``@pytest.mark.loopback``;
local IPC (AF_UNIX, as asyncio's self-pipe) stays allowed."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class NetworkInUnitTestError(RuntimeError):
    """Not an ``OSError``: code that rides out a refused connection must not swallow it."""


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    test, loopback = request.node.nodeid, request.node.get_closest_marker("loopback") is not None
    attempts: list[str] = []

    def refuse(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) and address else address
        if loopback and host in LOOPBACK:
            return
        attempts.append(repr(address))
        rule = (
            "a test marked loopback reaches only 127.0.0.1"
            if loopback
            else "move it to tests/integration, or mark it loopback if it talks only to a server it starts"
        )
        raise NetworkInUnitTestError(f"unit test {test} tried to connect to {address!r}: {rule}")

    def guarded(connect: Callable[..., Any]) -> Callable[..., Any]:
        def guarded_connect(sock: socket.socket, address: Any) -> Any:
            if sock.family != socket.AF_UNIX:
                refuse(address)
            return connect(sock, address)

        return guarded_connect

    create_connection = socket.create_connection

    def guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        refuse(address)
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)
    yield
    if attempts:
        pytest.fail(f"unit test {test} tried to reach the network (even if it caught the error): {attempts}")
