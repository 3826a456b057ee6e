"""Serving the emulator: an ``EmulatorApp`` on a socket, in background threads (tests,
benchmarks, ``gtbench local serve``).

The server is cheroot's (CherryPy's WSGI server): HTTP/1.1 keep-alive and a fixed pool
of worker threads. werkzeug's development server, used before, answers every request
with ``Connection: close`` and starts a thread for each, so every call paid a TCP
handshake and a thread start on both sides (docs/development.md has the figures).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

from cheroot import wsgi

from gtbench.emulator.app import EmulatorApp
from gtbench.emulator.backend import Backend
from gtbench.emulator.config import EmulatorConfig
from gtbench.emulator.wire import SOCKET_KEY, Environ, StartResponse

__all__ = ["WORKERS", "EmulatorApp", "EmulatorConfig", "EmulatorServer"]

# Requests served at once. A request may wait inside the emulator (a placed client's
# distance, an MRSC write's round trip, a settle), so the pool is sized well past any
# experiment's concurrency; more wait their turn in the accept queue.
WORKERS = 64
# Idle kept-alive connections held open at most (cheroot keeps 10 by default, fewer
# than one boto3 client's pool).
KEPT_ALIVE = 1024
# An idle kept-alive connection is closed after this long, and urllib3 reconnects.
# Long, so that a read sent just as its connection is closed (a failed read for a
# poller, which never retries) stays rare: pollers' connections are never idle so long.
IDLE_TIMEOUT_S = 60

access_log = logging.getLogger("gtbench.emulator.access")
log = logging.getLogger(__name__)


class _Server(wsgi.Server):
    """cheroot's server, its messages through logging: cheroot writes every one to
    stderr whatever its level (a client gone, a connection reset), which would litter
    ``local serve``'s terminal and the tests' output."""

    def error_log(self, msg: str = "", level: int = logging.INFO,
                  traceback: bool = False) -> None:
        log.log(level, "%s", msg, exc_info=traceback)


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, also handing the app the request's socket."""

    # cheroot's stubs declare get_environ as returning None and leave it untyped.
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        environ: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        environ[SOCKET_KEY] = self.req.conn.socket
        return environ


class _Logged:
    """The app, logging each request's method, path, DynamoDB operation and status
    (``local serve --verbose``)."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def logged(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            access_log.info("%s %s %s %s", environ.get("REQUEST_METHOD"),
                            environ.get("PATH_INFO"), target.rpartition(".")[2] or "-", status)
            return start_response(status, headers, *exc)

        return self.app(environ, logged)


class EmulatorServer:
    """An emulator on a socket, in background threads (tests, benchmarks, ``serve``)."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0, log_requests: bool = False) -> None:
        # Deliveries are due at exact times; a 5 ms GIL switch interval would smear them.
        # Restored at stop(), so an emulator run in-process (tests, examples) leaves the
        # host process as it found it.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self.app = EmulatorApp(config)
        self.app.warm_up()
        served: Any = _Logged(self.app) if log_requests else self.app
        self._server = _Server((host, port), served, numthreads=WORKERS,
                                server_name="gtbench-emulator", timeout=IDLE_TIMEOUT_S,
                                shutdown_timeout=1)
        self._server.gateway = _Gateway
        self._server.keep_alive_conn_limit = KEPT_ALIVE
        # Bind now, so the port is known and a busy one raises here. The workers are
        # started from a daemon thread and so are daemons too: a process that ends
        # without stop() (killed, os._exit, a test's end) is never held by them.
        self._prepared: BaseException | None = None
        binder = threading.Thread(target=self._prepare, daemon=True)
        binder.start()
        binder.join()
        if self._prepared is not None:
            raise self._prepared
        self._thread: threading.Thread | None = None

    def _prepare(self) -> None:
        try:
            self._server.prepare()
        except BaseException as exc:  # re-raised in the caller's thread
            self._prepared = exc

    @property
    def backend(self) -> Backend:
        """The emulator's state (what tests read, and change through ``set``)."""
        return self.app.backend

    @property
    def host(self) -> str:
        return str(self._server.bind_addr[0])

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve,
                                        name="gtbench-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: the socket and every kept-alive connection closed (a client
        waiting on one sees it closed at once), then the emulator's own threads."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(5)
        self.app.close()
        sys.setswitchinterval(self._switch_interval)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
