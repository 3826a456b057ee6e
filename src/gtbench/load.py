"""Background load for ``race --load``: writers that keep a given rate of writes per
second on keys of their own in the source region, while the race's trials time
replication beside them.

Each rate is a step. The writers send on a fixed schedule (open loop: writer ``k`` of
``n`` sends its ``i``th write at ``start + (k + i n) / rate``), so a slow answer does not
lower the rate asked, only what is reached; the step records what it reached and the
run warns when that falls short. A step's writes are counted, not kept one by one:
they are the load, not the history under test (the race's trials are).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gtbench import outcomes
from gtbench.errors import UsageError
from gtbench.history import FAIL, OK

LOAD_PK = "gtbench-load"
DEFAULT_RATES = "0,25,50,100"  # writes per second: below what the emulator sustains
MAX_RATE = 4000.0  # a new on-demand table takes 4,000 write units at once
MAX_WRITERS = 32
SHORT = 0.9  # a step that reached under this share of its rate is warned about
WARM_UP_S = 2.0  # load runs this long before a step's first trial


def parse_rates(text: str) -> tuple[float, ...]:
    """``"0,25,50"``: writes per second for each step, in order; one clear error else."""
    rates = []
    for part in text.split(","):
        try:
            rate = float(part)
        except ValueError:
            rate = -1.0
        if not part.strip() or not math.isfinite(rate) or not 0 <= rate <= MAX_RATE:
            raise UsageError(f"--load {text!r}: each rate is writes per second from 0 to "
                             f"{MAX_RATE:g}, separated by commas, such as {DEFAULT_RATES}")
        rates.append(rate)
    return tuple(rates)


def writers_for(rate: float, write_s: float) -> int:
    """Enough writers to keep ``rate``, each sending once per write round trip, with
    headroom: writes slow down under the load itself (measured: one writer for 40 w/s
    at a 12 ms round trip reached 25)."""
    return min(MAX_WRITERS, max(2, math.ceil(rate * write_s * 4)))


@dataclass
class LoadStep:
    """One step: the rate asked, what it reached, and how its writes ended."""

    rate_wps: float
    writers: int = 0
    started_at: float = 0.0  # wall clock
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    unknown: int = 0  # no answer: may or may not have been written

    @property
    def reached_wps(self) -> float:
        """Writes acknowledged per second over the step."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def short(self) -> bool:
        return self.rate_wps > 0 and self.reached_wps < SHORT * self.rate_wps

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "reached_wps": self.reached_wps}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadStep:
        return cls(**{k: data[k] for k in ("rate_wps", "writers", "started_at", "seconds",
                                           "ok", "failed", "unknown")})


class Load:
    """The writers of one step, running until ``stop``. ``client_for`` makes one client
    per writer (each has its own connections, so none waits for another's)."""

    def __init__(self, client_for: Callable[[], Any], table: str, rate_wps: float,
                 writers: int, run_id: str) -> None:
        self.step = LoadStep(rate_wps, writers if rate_wps > 0 else 0)
        self.last_key: dict[str, Any] | None = None  # the latest acknowledged write's
        self._table, self._run = table, run_id
        self._clients = [client_for() for _ in range(self.step.writers)]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._began = 0.0

    def start(self) -> Load:
        self.step.started_at, self._began = time.time(), time.monotonic()
        self._threads = [threading.Thread(target=self._write, args=(k,), daemon=True,
                                          name=f"gtbench-load-{k}")
                         for k in range(self.step.writers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadStep:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self.step.seconds = time.monotonic() - self._began
        return self.step

    def _write(self, k: int) -> None:
        client, n, rate = self._clients[k], self.step.writers, self.step.rate_wps
        tag = secrets.token_hex(2)
        i = 0
        while True:
            due = self._began + (k + i * n) / rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            key = {"PK": {"S": LOAD_PK}, "SK": {"S": f"{self._run}-{k:02d}{tag}-{i:08d}"}}
            try:
                client.put_item(TableName=self._table,
                                Item={**key, "At": {"N": f"{time.time():.6f}"}})
                result = OK
            except Exception as exc:  # a write's end is counted, never raised
                known = outcomes.classify(exc)
                result = known[0] if known is not None else FAIL
            with self._lock:
                if result == OK:
                    self.step.ok += 1
                    self.last_key = key
                elif result == FAIL:
                    self.step.failed += 1
                else:
                    self.step.unknown += 1
            i += 1


def drain(read: Callable[[dict[str, Any]], bool], key: dict[str, Any] | None,
          timeout_s: float, stop: threading.Event) -> bool:
    """Wait until the target region holds the step's last acknowledged load write
    (``read`` tells), so the next step starts without the last one's backlog; False if
    it did not arrive within ``timeout_s``."""
    if key is None:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read(key):
            return True
        if stop.wait(0.05):
            raise KeyboardInterrupt
    return False


def steps_json(steps: Sequence[LoadStep]) -> list[dict[str, Any]]:
    return [s.to_json() for s in steps]
