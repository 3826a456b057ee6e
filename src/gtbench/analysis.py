"""Bounds, percentiles and summaries computed from histories. No I/O, no boto3, no rich."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gtbench.history import Op

NS = 1e9


@dataclass(frozen=True)
class LagBound:
    """Where a replication lag must lie, from one writer and the reads that raced it.

    With the write sent at ``ws`` and acknowledged at ``wa``, every stale read sent
    at ``ss`` and every fresh read received at ``fr`` (one monotonic clock):
    lag >= max(ss) - wa and lag <= min(fr) - ws (Bermbach and Tai, 2011).
    """

    low_s: float
    high_s: float
    stale_reads: int

    @property
    def point_s(self) -> float:
        return (self.low_s + self.high_s) / 2

    @property
    def width_s(self) -> float:
        return self.high_s - self.low_s


def lag_bound(write: Op, reads: Sequence[Op], value: int) -> LagBound | None:
    """The bound for ``write`` of ``value``, or None if no read saw it (timed out)."""
    ok = [r for r in reads if r.result == "ok"]
    fresh = [r for r in ok if r.value == value]
    if not fresh:
        return None
    stale = [r for r in ok if r.value != value]
    high = (min(r.received_ns for r in fresh) - write.sent_ns) / NS
    low = ((max(r.sent_ns for r in stale) - write.received_ns) / NS) if stale else 0.0
    return LagBound(max(low, 0.0), high, len(stale))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (a value that was observed, never an interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    trials: int
    replicated: int
    timed_out: int
    min_s: float | None
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    max_s: float | None
    mean_s: float | None
    stdev_s: float | None


def summarize(lags: Sequence[float | None]) -> Summary:
    """Statistics of the replicated trials' lags; None marks a timed-out trial."""
    done = [x for x in lags if x is not None]

    def stat(q: float) -> float | None:
        return percentile(done, q) if done else None

    return Summary(
        trials=len(lags), replicated=len(done), timed_out=len(lags) - len(done),
        min_s=min(done) if done else None, p50_s=stat(50), p90_s=stat(90), p99_s=stat(99),
        max_s=max(done) if done else None,
        mean_s=statistics.fmean(done) if done else None,
        stdev_s=statistics.stdev(done) if len(done) > 1 else None)


def histogram(values: Sequence[float], bins: int = 12) -> list[tuple[float, float, int]]:
    """Equal-width bins over the values: (low, high, count)."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [(low, high, len(values))]
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / width))] += 1
    return [(low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts)]
