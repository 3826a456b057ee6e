"""Statistics every experiment shares: percentiles, medians, midpoints, histograms."""

from __future__ import annotations

import math
from collections.abc import Sequence

NS = 1e9


def midpoint(low: float, high: float) -> float:
    """The point estimate inside a bound: with symmetric round trips, the middle."""
    return (low + high) / 2


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
