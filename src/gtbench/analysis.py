"""Bounds, percentiles and summaries computed from histories. No I/O, no boto3, no rich."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
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


# -- conflicts -------------------------------------------------------------------


def switch_bound(reads: Sequence[Op], write_id: str) -> tuple[int, int] | None:
    """When a region came to hold ``write_id`` for good: (low, high) ns, from its reads.

    ``low`` is the last read that showed anything else (sent), ``high`` the first read
    after it that showed ``write_id`` (received). None if its last read shows otherwise.
    """
    ok = sorted((r for r in reads if r.result == "ok"), key=lambda r: r.sent_ns)
    if not ok or ok[-1].write_id != write_id:
        return None
    other = [i for i, r in enumerate(ok) if r.write_id != write_id]
    if not other:  # showed it from the first read: it may have arrived any time before
        return 0, ok[0].received_ns
    last_other = other[-1]
    return ok[last_other].sent_ns, ok[last_other + 1].received_ns


def order(a: Op, b: Op, stamps: Mapping[str, float] | None = None) -> bool | None:
    """Whether ``a`` was written after ``b``: from the writes' stamps where known, else
    from their send-to-acknowledge windows; None when the windows overlap."""
    if stamps and a.write_id in stamps and b.write_id in stamps:
        return stamps[str(a.write_id)] > stamps[str(b.write_id)]
    if b.received_ns < a.sent_ns:
        return True
    if a.received_ns < b.sent_ns:
        return False
    return None


def disagreement_ns(reads_by_region: Mapping[str, Sequence[Op]], start_ns: int,
                    end_ns: int) -> int:
    """How long, between start and end, the regions were seen to hold different writes.

    Each read stands for its region's state from its midpoint until the next read's;
    the resolution is the poll spacing.
    """
    events: list[tuple[int, str, str | None]] = []
    for region, reads in reads_by_region.items():
        for r in reads:
            if r.result == "ok":
                events.append(((r.sent_ns + r.received_ns) // 2, region, r.write_id))
    events.sort(key=lambda e: e[0])
    state: dict[str, str | None] = {}
    for _, region, write_id in events:  # before its first read, a region holds what it showed
        state.setdefault(region, write_id)
    total, previous = 0, start_ns
    for at, region, write_id in events:
        at = min(max(at, start_ns), end_ns)
        if len(set(state.values())) > 1:
            total += at - previous
        previous = at
        state[region] = write_id
    if len(set(state.values())) > 1:
        total += end_ns - previous
    return total


def agreed_write(reads: Sequence[Op], regions: Sequence[str], after_ns: int) -> str | None:
    """The write every region's latest read (sent after ``after_ns``) shows, if one.

    After every write is acknowledged, agreement is final under last-writer-wins:
    each region then holds at least its own last write, so an image they share is
    the latest write of all.
    """
    shown = set()
    for region in regions:
        latest = max((r for r in reads if r.region == region and r.result == "ok"
                      and r.sent_ns > after_ns), key=lambda r: r.sent_ns, default=None)
        shown.add(latest.write_id if latest is not None else None)
    return next(iter(shown)) if len(shown) == 1 else None


@dataclass(frozen=True)
class ConflictVerdict:
    """What a conflict trial shows; times in seconds from the first write's send."""

    converged: bool
    final_write: str | None
    winner_region: str | None
    later_write_won: bool | None  # None: the order of the writes is too close to call
    converge_low_s: float | None
    converge_high_s: float | None
    disagreed_s: float | None
    loser_write: str | None  # the other region's last write, which the winner overwrote
    loser_seen_remotely: bool | None
    loser_visible_s: float | None  # how long the loser's own region showed it
    winner_lag_low_s: float | None  # the winner's replication lag to the loser's region
    winner_lag_high_s: float | None

    @property
    def converge_s(self) -> float | None:
        if self.converge_low_s is None or self.converge_high_s is None:
            return None
        return (self.converge_low_s + self.converge_high_s) / 2


def conflict_verdict(writes: Sequence[Op], reads: Sequence[Op],
                     stamps: Mapping[str, float] | None = None) -> ConflictVerdict:
    """Judge one trial: the write each region ends on, and whether the later write won.

    Under last-writer-wins the item ends as the image of the latest write anywhere;
    every region's own latest write is a candidate, so the winner is compared with
    each other region's last write.
    """
    regions = sorted({w.region for w in writes})
    by_region = {r: [x for x in reads if x.region == r] for r in regions}
    final = agreed_write(reads, regions, max(w.received_ns for w in writes))
    converged = final is not None
    winner = next((w for w in writes if w.write_id == final), None)
    start = min(w.sent_ns for w in writes)
    if winner is None:
        return ConflictVerdict(converged, final, None, None, None, None, None, None, None,
                               None, None, None)
    rivals = [max((w for w in writes if w.region == r and w.result != "fail"),
                  key=lambda w: w.sent_ns) for r in regions if r != winner.region]
    orders = [order(winner, rival, stamps) for rival in rivals]
    later_won = False if False in orders else None if None in orders else True
    switches = {r: switch_bound(rs, str(final)) for r, rs in by_region.items()}
    lows = [max(s[0], winner.sent_ns) for s in switches.values() if s]
    highs = [s[1] for s in switches.values() if s]
    loser = rivals[0] if rivals else None
    seen = visible = lag_low = lag_high = None
    if loser is not None:
        seen = any(x.write_id == loser.write_id for r, rs in by_region.items()
                   if r != loser.region for x in rs if x.result == "ok")
        switch = switches.get(loser.region)
        if switch is not None:
            visible = ((max(switch[0] - loser.received_ns, 0) + switch[1] - loser.sent_ns)
                       / 2 / NS)
            lag_low = max(switch[0] - winner.received_ns, 0) / NS
            lag_high = (switch[1] - winner.sent_ns) / NS
    end = max(highs) if len(highs) == len(regions) else max(x.received_ns for x in reads)
    return ConflictVerdict(
        converged, final, winner.region, later_won,
        (max(lows) - start) / NS if len(lows) == len(regions) else None,
        (max(highs) - start) / NS if len(highs) == len(regions) else None,
        disagreement_ns(by_region, start, end) / NS,
        loser.write_id if loser else None, seen, visible, lag_low, lag_high)
