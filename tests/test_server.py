"""The emulator's HTTP server: connections kept alive, requests served side by side, and
a stop that closes what it kept open."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest

from gtbench.emulator.app import EmulatorApp
from gtbench.emulator.server import WORKERS, EmulatorServer
from gtbench.emulator.wire import Environ, StartResponse


def connect(server: EmulatorServer) -> http.client.HTTPConnection:
    url = urlsplit(server.url)
    return http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)


def status(connection: http.client.HTTPConnection) -> dict[str, Any]:
    connection.request("GET", "/_gtbench/status")
    response = connection.getresponse()
    assert response.status == 200
    assert (response.getheader("Connection") or "").lower() != "close"
    answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_one_connection_carries_many_requests(emulator: EmulatorServer) -> None:
    connection = connect(emulator)
    status(connection)
    first = connection.sock
    assert first is not None  # http.client drops a socket the server said it would close
    for _ in range(5):
        status(connection)
        assert connection.sock is first
    connection.close()


def test_requests_waiting_inside_the_emulator_do_not_hold_up_each_other(
        emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Twenty requests that each wait inside the emulator (as a placed client's distance
    # or an MRSC round trip makes them) until all twenty are inside at once: a server
    # with fewer workers would leave the barrier broken.
    waiting = 20
    assert waiting <= WORKERS
    barrier = threading.Barrier(waiting, timeout=30)
    served = EmulatorApp.__call__

    def held(self: EmulatorApp, environ: Environ,
             start_response: StartResponse) -> Iterable[bytes]:
        barrier.wait()
        return served(self, environ, start_response)

    monkeypatch.setattr(EmulatorApp, "__call__", held)
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            answers.append(status(connect(emulator)))
        except BaseException as exc:  # reported below, with the test's own assertion
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(waiting)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(answers) == waiting, errors[:1]
    assert not barrier.broken


def test_a_stopped_server_closes_its_kept_alive_connections(doomed: EmulatorServer) -> None:
    connection = connect(doomed)
    status(connection)
    kept = connection.sock
    assert kept is not None
    doomed.stop()
    # The client's idle connection is closed by the server (EOF or a reset), not left
    # open for the client to wait on until its read timeout.
    kept.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        assert kept.recv(1) == b""
    with pytest.raises(OSError):
        socket.create_connection((doomed.host, doomed.port), timeout=5).close()
