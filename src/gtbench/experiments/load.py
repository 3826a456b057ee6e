"""Background load for ``race --load``: writers that keep a given rate of writes per
second on keys of their own in the source region, while the race's trials time
replication beside them.

Each rate is a step. The writers (``handler.write_at_rate``, the probe's own loop, run
here or in the source region's probe) send on a fixed schedule, so a slow answer does
not lower the rate asked, only what is reached; the step records what it reached and
the run warns when that falls short. A step's writes are counted, not kept one by one:
they are the load, not the history under test (the race's trials are).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gtbench.errors import UsageError
from gtbench.experiments.trials import RUN_FAILURES, failure_message
from gtbench.probes.handler import write_at_rate

if TYPE_CHECKING:
    from gtbench.probes.transport import Probes

LOAD_PK = "gtbench-load"  # the load's round-trip item; its writes go to handler.load_pk
DEFAULT_RATES = "0,25,50,100"  # writes per second: below what the emulator sustains
MIN_RATE = 0.1  # below one write in ten seconds, a step holds no write at all
MAX_STEPS = 50
MAX_RATE = 4000.0  # a new on-demand table takes 4,000 write units at once
MAX_WRITERS = 32
PROBE_WRITE_S = 0.015  # an in-region write, for a probe's writer count (AWS: 5-8 ms)
PROBE_SLICE_S = 5.0  # a probe's load runs in invocations this long
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
        if (not part.strip() or not math.isfinite(rate)
                or not (rate == 0 or MIN_RATE <= rate <= MAX_RATE)):
            raise UsageError(f"--load {text!r}: each rate is 0 or writes per second from "
                             f"{MIN_RATE:g} to {MAX_RATE:g}, separated by commas, such as "
                             f"{DEFAULT_RATES}")
        rates.append(rate)
    if len(rates) > MAX_STEPS:
        raise UsageError(f"--load {text!r}: at most {MAX_STEPS} rates in one sweep")
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
    stopped: str | None = None  # why the load stopped before the step ended, if it did

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
                                           "ok", "failed", "unknown")},
                   stopped=data.get("stopped"))


class Load:
    """One step's load, running in the background until ``stop``: from here
    (``client``) or from the probe in the source region (``ClientLoad``,
    ``ProbeLoad``). Both run the probe's own writer loop (``handler.write_at_rate``),
    so the load is the same code wherever it runs."""

    def __init__(self, rate_wps: float, writers: int) -> None:
        self.step = LoadStep(rate_wps, writers if rate_wps > 0 else 0)
        self.last_key: dict[str, Any] | None = None  # the latest acknowledged write's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gtbench-load")
        self._began = 0.0

    def start(self) -> Load:
        self.step.started_at, self._began = time.time(), time.monotonic()
        if self.step.rate_wps > 0:  # no load: nothing to run, only the time to count
            self._thread.start()
        return self

    def stop(self) -> LoadStep:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.step.rate_wps == 0:
            self.step.seconds = time.monotonic() - self._began
        return self.step

    def _run(self) -> None:
        raise NotImplementedError

    def _add(self, counts: dict[str, Any]) -> None:
        self.step.ok += int(counts["ok"])
        self.step.failed += int(counts["failed"])
        self.step.unknown += int(counts["unknown"])
        self.step.seconds += float(counts["seconds"])
        self.last_key = counts.get("last_key") or self.last_key


class ClientLoad(Load):
    """The writers in this process, with one client (boto3's are thread-safe)."""

    def __init__(self, client: Any, table: str, rate_wps: float, writers: int,
                 prefix: str) -> None:
        super().__init__(rate_wps, writers)
        self._client, self._table, self._prefix = client, table, prefix

    def _run(self) -> None:
        self._add(write_at_rate(self._client, self._table, self.step.rate_wps,
                                self.step.writers, self._prefix, self._stop.is_set))


class ProbeLoad(Load):
    """The writers in the source region's probe: invoked for ``slice_s`` at a time
    until stopped (a Lambda invocation cannot be stopped from outside, so a step's
    load may outlast it by up to one slice; the next step's drain covers that)."""

    def __init__(self, probes: Probes, region: str, table: str, rate_wps: float,
                 writers: int, prefix: str, slice_s: float = PROBE_SLICE_S) -> None:
        super().__init__(rate_wps, writers)
        self._probes, self._region = probes, region
        self._event = {"action": "load", "table": table, "rate_wps": rate_wps,
                       "writers": self.step.writers, "seconds": slice_s}
        self._prefix = prefix

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                answer = self._probes.invoke(
                    self._region, self._event | {"prefix": f"{self._prefix}-{n}"},
                    self._stop)
            except KeyboardInterrupt:  # stopped before the invocation began
                return
            except RUN_FAILURES as exc:  # the probe failed: the step says so
                self.step.stopped = failure_message(exc)
                return
            self._add(answer["load"])
            n += 1


def drain(read: Callable[[dict[str, Any]], bool], key: dict[str, Any] | None,
          timeout_s: float) -> bool:
    """Wait until the target region holds the step's last acknowledged load write
    (``read`` tells), so the next step starts without the last one's backlog; False if
    it did not arrive within ``timeout_s``."""
    if key is None:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if read(key):
            return True
        time.sleep(0.05)
    return False
