"""Whether the emulator's background threads are alive. A delivery lane, the TTL sweep
or the metric publisher that dies stops its work for good, and was seen only in the
log; now its error is kept, ``/_gtbench/status`` reports the emulator unhealthy, and
clients fail at once naming the thread instead of waiting out their timeouts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Health:
    """The background threads that died, each with its error."""

    def __init__(self) -> None:
        self._broken: dict[str, str] = {}
        self._lock = threading.Lock()

    def guard(self, name: str, body: Callable[[], None]) -> Callable[[], None]:
        """``body`` as a thread target whose death is recorded."""
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                log.exception("emulator thread %s died", name)
                with self._lock:
                    self._broken[name] = f"{type(exc).__name__}: {exc}"
        return run

    def broken(self) -> list[dict[str, str]]:
        with self._lock:
            return [{"thread": n, "error": e} for n, e in sorted(self._broken.items())]
