"""Statistics every experiment shares: percentiles, medians, midpoints, histograms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NS = 1e9


def midpoint(low: float, high: float) -> float:
    """The point estimate inside a bound: with symmetric round trips, the middle."""
    return (low + high) / 2


Window = tuple[int, int]  # (low, high) ns: when something was first or last observed


@dataclass(frozen=True)
class Bound:
    """Where a duration must lie, in seconds: every measured lag in gtbench is one.

    A write sent at ``ws`` and acknowledged at ``wa`` took effect somewhere inside the
    window ``(low, high)`` of the reads that saw it happen (the last read without it
    sent, the first read with it received), so its lag is in
    ``[low - wa, high - ws]`` (Bermbach and Tai, 2011); never below zero.
    """

    low_s: float
    high_s: float

    @property
    def point_s(self) -> float:
        return midpoint(self.low_s, self.high_s)

    @property
    def width_s(self) -> float:
        return self.high_s - self.low_s

    @staticmethod
    def after(sent_ns: int, received_ns: int, window: Window) -> Bound:
        """The lag of a write (sent, acknowledged) to an event seen in ``window``."""
        return Bound(max(window[0] - received_ns, 0) / NS, (window[1] - sent_ns) / NS)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (a value that was observed, never an interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50) if values else None


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


@dataclass(frozen=True)
class MedianInterval:
    """Where the true median lies, distribution-free, from order statistics: with
    probability ``confidence`` it is in ``[low_s, high_s]`` (``high_s`` None: above
    every figure measured). Few trials cannot reach 95%: the widest interval they
    give, from the least to the greatest, covers ``1 - 2 * 0.5**n``, and says so."""

    low_s: float
    high_s: float | None
    confidence: float


def median_interval(lows: Sequence[float], highs: Sequence[float | None],
                    wanted: float = 0.95) -> MedianInterval | None:
    """The order-statistic interval of the median of n values, each known only within
    its own bound: the k-th least of the lower bounds to the k-th greatest of the upper
    bounds (a None upper bound: unbounded, a trial not seen in time), for the largest k
    whose binomial coverage ``1 - 2 P(Bin(n, 1/2) < k)`` still reaches ``wanted``
    (k = 1 when none does)."""
    n = len(lows)
    if n == 0 or len(highs) != n:
        return None

    def coverage(k: int) -> float:
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / float(2 ** n)

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= wanted:
        k += 1
    ordered_lows = sorted(lows)
    ordered_highs = sorted((math.inf if h is None else h) for h in highs)
    high = ordered_highs[n - k]
    return MedianInterval(ordered_lows[k - 1], None if math.isinf(high) else high,
                          coverage(k))


def trials_to_tell_apart(n: int, interval_width_s: float, difference_s: float) -> int | None:
    """About how many trials would make median intervals this wide narrow enough to
    tell apart a difference this big (widths shrink as one over the root of n)."""
    if difference_s <= 0 or interval_width_s <= 0 or n <= 0:
        return None
    return max(n + 1, math.ceil(n * (interval_width_s / difference_s) ** 2))


def share_interval(hits: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95% at z = 1.96) of a share seen in ``hits`` of
    ``trials``: 2 of 2 is anywhere from 34% to 100%, which a bare "2/2" hides."""
    if trials <= 0:
        return None
    share = hits / trials
    scale = 1 + z * z / trials
    centre = (share + z * z / (2 * trials)) / scale
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)
