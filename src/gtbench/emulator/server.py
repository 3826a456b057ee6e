"""Serving the emulator: an ``EmulatorApp`` on a socket, in a background thread (tests,
benchmarks, ``gtbench local serve``)."""

from __future__ import annotations

import logging
import sys
import threading

from gtbench.emulator import store
from gtbench.emulator.app import EmulatorApp
from gtbench.emulator.backend import Backend
from gtbench.emulator.config import EmulatorConfig

__all__ = ["EmulatorApp", "EmulatorConfig", "EmulatorServer"]


class EmulatorServer:
    """An emulator on a socket, in a background thread (tests, benchmarks, ``serve``)."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        from werkzeug.serving import make_server

        # Deliveries are due at exact times; a 5 ms GIL switch interval would smear them.
        # Restored at stop(), so an emulator run in-process (tests, examples) leaves the
        # host process as it found it.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = EmulatorApp(config)
        self.app.warm_up()
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=store.request_handler())
        self._thread: threading.Thread | None = None

    @property
    def backend(self) -> Backend:
        """The emulator's state (what tests read, and change through ``set``)."""
        return self.app.backend

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="gtbench-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.app.close()
        sys.setswitchinterval(self._switch_interval)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
