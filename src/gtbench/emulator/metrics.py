"""CloudWatch ``ReplicationLatency`` as DynamoDB publishes it, for the emulator.

DynamoDB aggregates ``ReplicationLatency`` (milliseconds; dimensions ``TableName``
and ``ReceivingRegion``; in the source region) at five-minute granularity: it is not
among the metrics its developer guide lists as aggregated every minute. Its valid
statistics are Average, Minimum and Maximum, and a period's datapoint arrives some
minutes after the period ends. So the emulator keeps each delivery's latency until its
period has closed and the publication delay has passed, then publishes the period as
one aggregate stamped with the period's start. Both figures can be shortened for tests
(``metric_period_s``, ``metric_delay_s`` in ``/_gtbench/config``). Nothing here knows
HTTP or moto: ``publish`` does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_PERIOD_S = 300.0  # DynamoDB's granularity for every metric not listed per minute
DEFAULT_DELAY_S = 120.0  # AWS: datapoints arrive minutes late


@dataclass(frozen=True)
class Series:
    account: str
    source_region: str
    table: str
    target_region: str


@dataclass
class Aggregate:
    """One period's statistic set (milliseconds)."""

    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


Publish = Callable[[Series, float, Aggregate], None]


class ReplicationLatency:
    """Latencies kept per series and period, published once the period is over and the
    publication delay has passed."""

    def __init__(self, publish: Publish, period_s: float = DEFAULT_PERIOD_S,
                 delay_s: float = DEFAULT_DELAY_S) -> None:
        self.period_s = period_s
        self.delay_s = delay_s
        self._publish = publish
        self._open: dict[tuple[Series, float], Aggregate] = {}
        self._lock = threading.Lock()

    def period_start(self, at: float) -> float:
        return math.floor(at / self.period_s) * self.period_s

    def record(self, series: Series, latency_ms: float, at: float) -> None:
        """A delivery of a write made at ``at`` (wall clock), ``latency_ms`` later. AWS
        does not say which moment stamps a datapoint; the write's keeps every period a
        run's writes touch covered."""
        with self._lock:
            self._open.setdefault((series, self.period_start(at)), Aggregate()).add(latency_ms)

    def flush(self, now: float) -> int:
        """Publish every period that is over and whose delay has passed; how many."""
        with self._lock:
            due = [(key, agg) for key, agg in self._open.items()
                   if key[1] + self.period_s + self.delay_s <= now]
            for key, _ in due:
                del self._open[key]
        for (series, start), aggregate in due:
            self._publish(series, start, aggregate)
        return len(due)

    def pending(self) -> int:
        with self._lock:
            return len(self._open)

    def clear(self) -> None:
        with self._lock:
            self._open.clear()
