"""Bounds, percentiles and summaries computed from histories. No I/O, no boto3, no rich."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.heartbeat import ObservedCut
from gtbench.history import FAIL, INFO, Op, Outcome

NS = 1e9


def midpoint(low: float, high: float) -> float:
    """The point estimate inside a bound: with symmetric round trips, the middle."""
    return (low + high) / 2


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
        return midpoint(self.low_s, self.high_s)

    @property
    def width_s(self) -> float:
        return self.high_s - self.low_s


def lag_bound(write: Op, reads: Sequence[Op], value: int) -> LagBound | None:
    """The bound for ``write`` of ``value``, or None if no read saw it."""
    ok = [r for r in reads if r.ok]
    fresh = [r for r in ok if r.value == value]
    if not fresh:
        return None
    stale = [r for r in ok if r.value != value]
    high = (min(r.received_ns for r in fresh) - write.sent_ns) / NS
    low = ((max(r.sent_ns for r in stale) - write.received_ns) / NS) if stale else 0.0
    return LagBound(max(low, 0.0), high, len(stale))


RaceStatus = Literal["replicated", "timed_out", "indeterminate", "failed"]


@dataclass(frozen=True)
class RaceVerdict:
    """One race trial, judged from its write and reads (and the truth, where known).

    - replicated: the write was acknowledged and a read saw it: the lag is bounded.
    - timed_out: the write was acknowledged and the reader, answering to the end,
      never saw it.
    - indeterminate: the outcome cannot be known: the write's fate is unknown (a
      timeout or dropped connection), or the reads were failing when the trial ended.
    - failed: DynamoDB refused the write (throttled after retries): nothing to time.
    """

    status: RaceStatus
    lag_s: float | None
    lag_low_s: float | None
    lag_high_s: float | None
    stale_reads: int
    reads: int
    failed_reads: int
    write_rtt_s: float | None
    true_lag_s: float | None
    error_s: float | None
    true_in_bound: bool | None
    # Strongly consistent reads sent after the write was acknowledged that still showed
    # the old value: replication lag on an eventual table, a violation on a strong one.
    stale_after_ack: int
    # The same race seen by eventually consistent reads, when the trial made them
    # (``race --eventual``): the bound on when such a reader first saw the write.
    eventual_reads: int = 0
    eventual_lag_s: float | None = None
    eventual_lag_low_s: float | None = None
    eventual_lag_high_s: float | None = None
    eventual_stale_after_ack: int = 0


def stale_after_ack(write: Op, reads: Sequence[Op], value: int) -> int:
    """Answered reads sent after ``write`` was acknowledged that did not show ``value``."""
    if not write.ok:
        return 0
    return sum(1 for r in reads if r.ok and r.value != value and r.sent_ns > write.received_ns)


def race_verdict(write: Op, all_reads: Sequence[Op], value: int,
                 true_lag_s: float | None = None) -> RaceVerdict:
    """The trial's status and lag come from its strongly consistent reads; its eventually
    consistent reads, if any, are judged beside them."""
    reads = [r for r in all_reads if r.consistent]
    eventual = [r for r in all_reads if not r.consistent]
    seen = lag_bound(write, eventual, value) if write.ok and eventual else None
    by_eventual: dict[str, Any] = {
        "eventual_reads": len(eventual),
        "eventual_lag_s": seen.point_s if seen else None,
        "eventual_lag_low_s": seen.low_s if seen else None,
        "eventual_lag_high_s": seen.high_s if seen else None,
        "eventual_stale_after_ack": stale_after_ack(write, eventual, value)}
    ok = [r for r in reads if r.ok]
    failed = len(reads) - len(ok)
    bound = lag_bound(write, reads, value) if write.ok else None
    rtt = (write.received_ns - write.sent_ns) / NS if write.ok else None
    after_ack = stale_after_ack(write, reads, value)
    if bound is not None:
        return RaceVerdict(
            status="replicated", lag_s=bound.point_s, lag_low_s=bound.low_s,
            lag_high_s=bound.high_s, stale_reads=bound.stale_reads, reads=len(reads),
            failed_reads=failed, write_rtt_s=rtt, true_lag_s=true_lag_s,
            error_s=None if true_lag_s is None else bound.point_s - true_lag_s,
            true_in_bound=(None if true_lag_s is None
                           else bound.low_s <= true_lag_s <= bound.high_s),
            stale_after_ack=after_ack, **by_eventual)
    if write.result == FAIL:
        status: RaceStatus = "failed"
    else:
        last = max(reads, key=lambda r: r.sent_ns, default=None)
        # "Never replicated in time" needs a reader that still answered at the end.
        status = "timed_out" if write.ok and last is not None and last.ok else "indeterminate"
    return RaceVerdict(
        status=status, lag_s=None, lag_low_s=None, lag_high_s=None,
        stale_reads=sum(1 for r in ok if r.value != value), reads=len(reads),
        failed_reads=failed, write_rtt_s=rtt, true_lag_s=true_lag_s, error_s=None,
        true_in_bound=None, stale_after_ack=after_ack, **by_eventual)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (a value that was observed, never an interpolation)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50) if values else None


@dataclass(frozen=True)
class LagStats:
    """Statistics of the replicated trials' lags, and how many trials ended each way."""

    trials: int
    replicated: int
    timed_out: int
    indeterminate: int
    failed: int
    min_s: float | None
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    max_s: float | None
    mean_s: float | None
    stdev_s: float | None


def lag_stats(verdicts: Sequence[RaceVerdict]) -> LagStats:
    done = [v.lag_s for v in verdicts if v.lag_s is not None]

    def count(status: RaceStatus) -> int:
        return sum(1 for v in verdicts if v.status == status)

    def stat(q: float) -> float | None:
        return percentile(done, q) if done else None

    return LagStats(
        trials=len(verdicts), replicated=count("replicated"), timed_out=count("timed_out"),
        indeterminate=count("indeterminate"), failed=count("failed"),
        min_s=min(done) if done else None, p50_s=stat(50), p90_s=stat(90), p99_s=stat(99),
        max_s=max(done) if done else None,
        mean_s=statistics.fmean(done) if done else None,
        stdev_s=statistics.stdev(done) if len(done) > 1 else None)


@dataclass(frozen=True)
class CloudWatchPeriod:
    """One datapoint of CloudWatch ``ReplicationLatency``: AWS's figures for one period."""

    start: float  # wall clock, the period's start
    average_s: float
    minimum_s: float
    maximum_s: float


@dataclass(frozen=True)
class CloudWatchStats:
    """CloudWatch ``ReplicationLatency`` over a run: measured by AWS, not by gtbench, over
    every replicated write of the table in each period (not only gtbench's)."""

    average_s: float | None  # the mean of the periods' averages (AWS gives no weights)
    maximum_s: float | None
    minimum_s: float | None = None
    period_s: float | None = None
    covered: bool = False  # a datapoint arrived for every period the run touched
    waited_s: float = 0.0
    periods: tuple[CloudWatchPeriod, ...] = ()

    @classmethod
    def of(cls, points: Sequence[CloudWatchPeriod], period_s: float, covered: bool,
           waited_s: float) -> CloudWatchStats:
        if not points:
            return cls(None, None, None, period_s, covered, waited_s, ())
        return cls(statistics.fmean(p.average_s for p in points),
                   max(p.maximum_s for p in points), min(p.minimum_s for p in points),
                   period_s, covered, waited_s, tuple(points))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CloudWatchStats:
        """From a document; format-2 files before 0.x stored a SampleCount, now dropped
        (not a statistic DynamoDB publishes for this metric)."""
        periods = tuple(CloudWatchPeriod(**p) for p in data.get("periods", ()))
        return cls(data.get("average_s"), data.get("maximum_s"), data.get("minimum_s"),
                   data.get("period_s"), bool(data.get("covered", False)),
                   float(data.get("waited_s", 0.0)), periods)


@dataclass(frozen=True)
class PairSummary(LagStats):
    from_region: str
    to_region: str
    median_bound_width_s: float | None
    median_abs_error_s: float | None
    true_in_bound: int
    with_truth: int
    cloudwatch: CloudWatchStats | None
    write_p50_s: float | None  # how long the writes took to be acknowledged
    write_p99_s: float | None
    stale_after_ack: int
    # Eventually consistent readers, when the race had them: when they saw the write.
    eventual_reads: int = 0
    eventual_p50_s: float | None = None
    eventual_p99_s: float | None = None
    eventual_stale_after_ack: int = 0


def pair_summary(pair: tuple[str, str], verdicts: Sequence[RaceVerdict],
                 cloudwatch: CloudWatchStats | None = None) -> PairSummary:
    widths = [v.lag_high_s - v.lag_low_s for v in verdicts
              if v.lag_high_s is not None and v.lag_low_s is not None]
    errors = [abs(v.error_s) for v in verdicts if v.error_s is not None]
    writes = [v.write_rtt_s for v in verdicts if v.write_rtt_s is not None]
    seen = [v.eventual_lag_s for v in verdicts if v.eventual_lag_s is not None]
    stats = lag_stats(verdicts)
    return PairSummary(
        **vars(stats), from_region=pair[0], to_region=pair[1],
        median_bound_width_s=median(widths), median_abs_error_s=median(errors),
        true_in_bound=sum(1 for v in verdicts if v.true_in_bound),
        with_truth=sum(1 for v in verdicts if v.true_lag_s is not None and v.lag_s is not None),
        cloudwatch=cloudwatch,
        write_p50_s=percentile(writes, 50) if writes else None,
        write_p99_s=percentile(writes, 99) if writes else None,
        stale_after_ack=sum(v.stale_after_ack for v in verdicts),
        eventual_reads=sum(v.eventual_reads for v in verdicts),
        eventual_p50_s=percentile(seen, 50) if seen else None,
        eventual_p99_s=percentile(seen, 99) if seen else None,
        eventual_stale_after_ack=sum(v.eventual_stale_after_ack for v in verdicts))


@dataclass(frozen=True)
class RaceSummary:
    trials: int
    replicated: int
    timed_out: int
    indeterminate: int
    failed: int
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    max_s: float | None
    pairs: list[PairSummary] = field(default_factory=list)


def race_summary(trials: Sequence[tuple[tuple[str, str], RaceVerdict]],
                 pairs: Sequence[tuple[str, str]],
                 cloudwatch: Mapping[tuple[str, str], CloudWatchStats] | None = None
                 ) -> RaceSummary:
    """Per pair and over all: ``trials`` are (pair, verdict) in run order."""
    every = lag_stats([v for _, v in trials])
    return RaceSummary(
        trials=every.trials, replicated=every.replicated, timed_out=every.timed_out,
        indeterminate=every.indeterminate, failed=every.failed, p50_s=every.p50_s,
        p90_s=every.p90_s, p99_s=every.p99_s, max_s=every.max_s,
        pairs=[pair_summary(pair, [v for p, v in trials if p == pair],
                            (cloudwatch or {}).get(pair)) for pair in pairs])


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


def first_seen_bound(reads: Sequence[Op], write_id: str) -> tuple[int, int] | None:
    """When a region first showed ``write_id``, whether or not it kept it: (low, high) ns.

    ``low`` is the last read before it that showed anything else (sent), ``high`` the
    first read that showed it (received); None if no read ever did.
    """
    ok = sorted((r for r in reads if r.ok), key=lambda r: r.sent_ns)
    first = next((i for i, r in enumerate(ok) if r.write_id == write_id), None)
    if first is None:
        return None
    return (ok[first - 1].sent_ns if first > 0 else 0), ok[first].received_ns


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


ConflictStatus = Literal["converged", "timed_out", "indeterminate", "failed"]
REPLICATED_CONFLICT = "ReplicatedWriteConflictException"
OrderSource = Literal["ground truth", "send-ack windows"]


@dataclass(frozen=True)
class WriteTruth:
    """What the emulator's log says of one write: its stamp, and whether and when it
    was applied in another region."""

    stamp: float
    delivered: bool
    lag_s: float | None  # to its first applied delivery
    # The lag the emulator gave its first delivery, applied or not: how long it took to
    # reach another region, even when it lost there on arrival.
    due_lag_s: float | None = None


@dataclass(frozen=True)
class FinalImage:
    """Increment mode: the converged item's value and its per-region update counters."""

    value: int
    kept: dict[str, int]


@dataclass(frozen=True)
class IncrementCount:
    expected: int  # the sum of every acknowledged update
    final: int
    updates: int  # acknowledged updates
    kept: dict[str, int]  # per region, the updates the final image contains
    lost_updates: int


def increment_count(writes: Sequence[Op], increments: Mapping[str, int],
                    final: FinalImage) -> IncrementCount:
    """Expected and final values, and how many acknowledged updates the image lacks.

    Updates of unknown fate (``info``) are left out: they may or may not count.
    """
    landed = [w for w in writes if w.ok]
    kept = {region: final.kept.get(region, 0) for region in sorted({w.region for w in writes})}
    return IncrementCount(
        expected=sum(increments.get(str(w.write_id), 0) for w in landed), final=final.value,
        updates=len(landed), kept=kept, lost_updates=len(landed) - sum(kept.values()))


@dataclass(frozen=True)
class ConflictVerdict:
    """What a conflict trial shows; times in seconds from the first write's send.

    ``status`` is converged (both regions ended on one write), timed_out (they were
    read to the end and still differed), indeterminate (reads were failing at the
    end) or failed (every write was refused). ``contested``: both regions made a
    write that may have landed, so there was a conflict to resolve.
    """

    status: ConflictStatus
    contested: bool
    converged: bool
    final_write: str | None
    final_value: int | None
    winner_region: str | None
    later_write_won: bool | None  # None: the order of the writes is too close to call
    order_from: OrderSource
    converge_s: float | None
    converge_low_s: float | None
    converge_high_s: float | None
    disagreed_s: float | None
    loser_region: str | None
    loser_write: str | None  # the other region's last write, which the winner overwrote
    loser_seen_remotely: bool | None
    loser_delivered: bool | None  # ground truth: was it ever applied in another region
    loser_visible_s: float | None  # how long the loser's own region showed it
    winner_lag_s: float | None  # the winner's replication lag to the loser's region
    winner_lag_low_s: float | None
    winner_lag_high_s: float | None
    winner_true_lag_s: float | None
    earlier_discarded_unseen: bool  # the earlier write lost, never seen outside its region
    # The earlier of the two writes, and its replication lag to the other region: what
    # decides whether it is lost unseen. Measured where it was seen there; from the
    # emulator's log whether or not it was.
    earlier_write: str | None
    earlier_lag_s: float | None
    earlier_lag_low_s: float | None
    earlier_lag_high_s: float | None
    earlier_true_lag_s: float | None
    # MRSC: writes refused because another region was writing the item, and how long
    # the refusal took (its round trip); nothing vanishes, it is refused instead.
    refused_writes: int
    refused_after_s: float | None
    increment: IncrementCount | None


def _status(writes: Sequence[Op], reads: Sequence[Op], regions: Sequence[str],
            converged: bool, after_ns: int) -> ConflictStatus:
    if all(w.result == FAIL for w in writes):
        return "failed"
    if converged:
        return "converged"
    for region in regions:
        mine = [r for r in reads if r.region == region and r.sent_ns > after_ns]
        last = max(mine, key=lambda r: r.sent_ns, default=None)
        if last is None or not last.ok:
            return "indeterminate"
    return "timed_out"


def conflict_verdict(writes: Sequence[Op], reads: Sequence[Op], *,
                     truth: Mapping[str, WriteTruth] | None = None,
                     increments: Mapping[str, int] | None = None,
                     final: FinalImage | None = None) -> ConflictVerdict:
    """Judge one trial: the write each region ends on, and whether the later write won.

    Under last-writer-wins the item ends as the image of the latest write anywhere;
    every region's own latest write is a candidate, so the winner is compared with
    each other region's last write that may have landed.
    """
    regions = sorted({w.region for w in writes})
    by_region = {r: [x for x in reads if x.region == r] for r in regions}
    acked = max(w.received_ns for w in writes)
    refused = [w for w in writes if w.error == REPLICATED_CONFLICT]
    refused_after = median([(w.received_ns - w.sent_ns) / NS for w in refused])
    agreed = agreed_write(reads, regions, acked)
    converged = agreed is not None
    status = _status(writes, reads, regions, converged, acked)
    live = [w for w in writes if w.result != FAIL]
    contested = len({w.region for w in live}) > 1
    stamps = {k: t.stamp for k, t in (truth or {}).items()}
    winner = next((w for w in writes if w.write_id == agreed), None)
    start = min(w.sent_ns for w in writes)
    order_from: OrderSource = ("ground truth" if winner is not None and stamps
                               and all(str(w.write_id) in stamps for w in live)
                               else "send-ack windows")
    if winner is None:
        return ConflictVerdict(
            status=status, contested=contested, converged=converged, final_write=agreed,
            final_value=None, winner_region=None, later_write_won=None, order_from=order_from,
            converge_s=None, converge_low_s=None, converge_high_s=None,
            disagreed_s=None, loser_region=None, loser_write=None, loser_seen_remotely=None,
            loser_delivered=None, loser_visible_s=None, winner_lag_s=None,
            winner_lag_low_s=None, winner_lag_high_s=None, winner_true_lag_s=None,
            earlier_discarded_unseen=False, earlier_write=None, earlier_lag_s=None,
            earlier_lag_low_s=None, earlier_lag_high_s=None, earlier_true_lag_s=None,
            refused_writes=len(refused), refused_after_s=refused_after, increment=None)
    rivals = [max((w for w in live if w.region == r), key=lambda w: w.sent_ns)
              for r in regions if r != winner.region and any(w.region == r for w in live)]
    orders = [order(winner, rival, stamps) for rival in rivals]
    later_won = (None if not rivals else False if False in orders
                 else None if None in orders else True)
    switches = {r: switch_bound(rs, str(agreed)) for r, rs in by_region.items()}
    lows = [max(s[0], winner.sent_ns) for s in switches.values() if s]
    highs = [s[1] for s in switches.values() if s]
    loser = rivals[0] if rivals else None
    seen = visible = lag_low = lag_high = None
    if loser is not None:
        seen = any(x.write_id == loser.write_id for r, rs in by_region.items()
                   if r != loser.region for x in rs if x.ok)
        switch = switches.get(loser.region)
        if switch is not None:
            visible = midpoint(max(switch[0] - loser.received_ns, 0),
                               switch[1] - loser.sent_ns) / NS
            lag_low = max(switch[0] - winner.received_ns, 0) / NS
            lag_high = (switch[1] - winner.sent_ns) / NS
    complete = len(highs) == len(regions)
    converge_low = (max(lows) - start) / NS if complete else None
    converge_high = (max(highs) - start) / NS if complete else None
    end = max(highs) if complete else max(x.received_ns for x in reads)
    loser_truth = (truth or {}).get(str(loser.write_id)) if loser else None
    winner_truth = (truth or {}).get(str(winner.write_id))
    # Earlier by the known order; by send order where that is too close to call.
    earlier_lost = bool(
        loser is not None and seen is False
        and (later_won if later_won is not None else loser.sent_ns <= winner.sent_ns))
    count = (increment_count(writes, increments or {}, final)
             if final is not None else None)
    earlier = None
    if loser is not None:
        earlier_is_loser = later_won if later_won is not None else (
            loser.sent_ns <= winner.sent_ns)
        earlier = loser if earlier_is_loser else winner
    early_low = early_high = None
    if earlier is not None:
        elsewhere = [x for x in reads if x.region != earlier.region]
        seen_at = first_seen_bound(elsewhere, str(earlier.write_id))
        if seen_at is not None:
            early_low = max(seen_at[0] - earlier.received_ns, 0) / NS
            early_high = (seen_at[1] - earlier.sent_ns) / NS
    earlier_truth = (truth or {}).get(str(earlier.write_id)) if earlier else None
    return ConflictVerdict(
        status=status, contested=contested, converged=converged, final_write=agreed,
        final_value=count.final if count is not None else winner.value,
        winner_region=winner.region, later_write_won=later_won, order_from=order_from,
        converge_s=(midpoint(converge_low, converge_high)
                    if converge_low is not None and converge_high is not None else None),
        converge_low_s=converge_low, converge_high_s=converge_high,
        disagreed_s=disagreement_ns(by_region, start, end) / NS,
        loser_region=loser.region if loser else None,
        loser_write=loser.write_id if loser else None, loser_seen_remotely=seen,
        loser_delivered=loser_truth.delivered if loser_truth else None,
        loser_visible_s=visible,
        winner_lag_s=(midpoint(lag_low, lag_high)
                      if lag_low is not None and lag_high is not None else None),
        winner_lag_low_s=lag_low, winner_lag_high_s=lag_high,
        winner_true_lag_s=winner_truth.lag_s if winner_truth and loser is not None else None,
        earlier_discarded_unseen=earlier_lost,
        earlier_write=earlier.write_id if earlier else None,
        earlier_lag_s=(midpoint(early_low, early_high)
                       if early_low is not None and early_high is not None else None),
        earlier_lag_low_s=early_low, earlier_lag_high_s=early_high,
        earlier_true_lag_s=earlier_truth.due_lag_s if earlier_truth else None,
        refused_writes=len(refused), refused_after_s=refused_after, increment=count)


@dataclass(frozen=True)
class ConflictCounts:
    """How a set of conflict trials ended (the labels the terminal table uses follow).

    - converged ("agreed"): both regions ended on one write.
    - lww_held ("later won"): the later write was the one both ended on.
    - lww_violated ("earlier won"): the earlier write was; last-writer-wins broken.
    - too_close: contested and converged, but the order of the writes is unknown.
    - earlier_discarded_unseen ("lost unseen"): the earlier write lost and was never
      read outside its own region.
    - loser_seen_remotely: the losing write was read in the other region first.
    """

    trials: int
    converged: int
    timed_out: int
    indeterminate: int
    failed: int
    contested: int
    lww_held: int
    lww_violated: int
    too_close: int
    earlier_discarded_unseen: int
    loser_seen_remotely: int
    median_disagreed_s: float | None
    median_winner_lag_s: float | None
    # the earlier write's lag, true (emulator) where known, else measured where seen
    median_earlier_lag_s: float | None
    refused_writes: int  # MRSC: ReplicatedWriteConflictException


def earlier_lag(v: ConflictVerdict) -> float | None:
    return v.earlier_true_lag_s if v.earlier_true_lag_s is not None else v.earlier_lag_s


def conflict_counts(verdicts: Sequence[ConflictVerdict]) -> ConflictCounts:
    def count(predicate: Callable[[ConflictVerdict], bool]) -> int:
        return sum(1 for v in verdicts if predicate(v))

    return ConflictCounts(
        trials=len(verdicts), converged=count(lambda v: v.status == "converged"),
        timed_out=count(lambda v: v.status == "timed_out"),
        indeterminate=count(lambda v: v.status == "indeterminate"),
        failed=count(lambda v: v.status == "failed"),
        contested=count(lambda v: v.contested),
        lww_held=count(lambda v: v.later_write_won is True),
        lww_violated=count(lambda v: v.later_write_won is False),
        too_close=count(lambda v: v.converged and v.contested and v.later_write_won is None),
        earlier_discarded_unseen=count(lambda v: v.earlier_discarded_unseen),
        loser_seen_remotely=count(lambda v: v.loser_seen_remotely is True),
        median_disagreed_s=median([v.disagreed_s for v in verdicts
                                   if v.disagreed_s is not None]),
        median_winner_lag_s=median([v.winner_lag_s for v in verdicts
                                    if v.winner_lag_s is not None]),
        median_earlier_lag_s=median([lag for v in verdicts
                                     if (lag := earlier_lag(v)) is not None]),
        refused_writes=sum(v.refused_writes for v in verdicts))


@dataclass(frozen=True)
class OffsetSummary(ConflictCounts):
    offset_ms: float


@dataclass(frozen=True)
class ConflictSummary(ConflictCounts):
    offsets: list[OffsetSummary]
    # increment mode only (None otherwise): summed over the trials' separate items
    updates: int | None
    expected: int | None
    final: int | None
    lost_updates: int | None


def conflict_summary(trials: Sequence[tuple[float, ConflictVerdict]],
                     offsets_ms: Sequence[float], increment_mode: bool) -> ConflictSummary:
    """Over all trials and per offset: ``trials`` are (offset_ms, verdict) in run order."""
    verdicts = [v for _, v in trials]
    counts = [v.increment for v in verdicts if v.increment is not None]

    def total(name: str) -> int | None:
        return sum(getattr(c, name) for c in counts) if increment_mode else None

    return ConflictSummary(
        **vars(conflict_counts(verdicts)),
        offsets=[OffsetSummary(**vars(conflict_counts([v for o, v in trials if o == offset])),
                               offset_ms=offset) for offset in offsets_ms],
        updates=total("updates"), expected=total("expected"), final=total("final"),
        lost_updates=total("lost_updates"))


# -- compare: the two kinds of global table, side by side -----------------------------

Operation = Literal["write", "strong read", "eventual read"]
OPERATIONS: tuple[Operation, ...] = ("write", "strong read", "eventual read")


def operation_of(op: Op) -> Operation:
    if op.kind == "write":
        return "write"
    return "strong read" if op.consistent else "eventual read"


@dataclass(frozen=True)
class LatencyStats:
    """How long one kind of request took in one region: answered requests only."""

    operation: Operation
    region: str
    requests: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None


def latency_stats(ops: Sequence[Op]) -> list[LatencyStats]:
    """Per operation and region, in a stable order (operation, then region)."""
    groups: dict[tuple[Operation, str], list[float]] = {}
    for op in ops:
        if op.ok:
            groups.setdefault((operation_of(op), op.region), []).append(
                (op.received_ns - op.sent_ns) / NS)
    return [LatencyStats(kind, region, len(times), percentile(times, 50),
                         percentile(times, 99), max(times))
            for (kind, region), times in sorted(
                groups.items(), key=lambda kv: (OPERATIONS.index(kv[0][0]), kv[0][1]))]


@dataclass(frozen=True)
class ModeSummary:
    """One kind of global table, measured by the same workloads as the other.

    - write_p50_s / strong_read_p50_s / eventual_read_p50_s: request latency over every
      region, from the race's own writes and reads.
    - stale_strong_reads: strongly consistent reads sent after a write's acknowledgement
      that returned the old value (replication lag on MREC; a violation on MRSC).
    - lag: when the other regions' readers first saw a write (strong and eventual reads).
    - conflicts: staged concurrent writes; lost_unseen (MREC's silent loss) against
      refused (MRSC's ReplicatedWriteConflictException).
    - lost_updates of updates in the read-modify-write workload.
    - requests: every request sent, and how many were refused (``fail``).
    """

    consistency: str
    table: str
    latency: list[LatencyStats]
    write_p50_s: float | None
    write_p99_s: float | None
    strong_read_p50_s: float | None
    eventual_read_p50_s: float | None
    stale_strong_reads: int
    strong_reads_after_ack: int
    stale_eventual_reads: int
    lag_p50_s: float | None
    lag_p99_s: float | None
    eventual_lag_p50_s: float | None
    eventual_lag_p99_s: float | None
    race_trials: int
    conflicts: int
    lost_unseen: int
    refused_writes: int
    updates: int | None
    lost_updates: int | None
    requests: int
    refused_requests: int
    requests_by_operation: dict[str, int]


def mode_summary(consistency: str, table: str, ops: Sequence[Op],
                 race: Sequence[tuple[Op, Sequence[Op], RaceVerdict]],
                 conflicts: ConflictSummary | None,
                 increments: ConflictSummary | None) -> ModeSummary:
    """``ops``: every request of the mode's runs (counted); ``race``: each race trial's
    write, reads and verdict. Request latency is the race's alone: its requests are
    spread evenly over the regions and never contend for one item, as the conflict
    workloads' do on purpose."""
    timed = [op for w, trial_reads, _ in race for op in (w, *trial_reads)]
    writes = [(w.received_ns - w.sent_ns) / NS for w, _, _ in race if w.ok]
    verdicts = [v for _, _, v in race]
    reads = [op for op in timed if op.kind == "read"]

    def p(values: Sequence[float], q: float) -> float | None:
        return percentile(values, q) if values else None

    def read_p50(consistent: bool) -> float | None:
        return p([(r.received_ns - r.sent_ns) / NS for r in reads
                  if r.ok and r.consistent is consistent], 50)

    lags = [v.lag_s for v in verdicts if v.lag_s is not None]
    seen = [v.eventual_lag_s for v in verdicts if v.eventual_lag_s is not None]
    after_ack = sum(1 for w, trial_reads, _ in race if w.ok for r in trial_reads
                    if r.ok and r.consistent and r.sent_ns > w.received_ns)
    by_operation: dict[str, int] = {}
    for op in ops:
        by_operation[operation_of(op)] = by_operation.get(operation_of(op), 0) + 1
    return ModeSummary(
        consistency=consistency, table=table, latency=latency_stats(timed),
        write_p50_s=p(writes, 50), write_p99_s=p(writes, 99),
        strong_read_p50_s=read_p50(True), eventual_read_p50_s=read_p50(False),
        stale_strong_reads=sum(v.stale_after_ack for v in verdicts),
        strong_reads_after_ack=after_ack,
        stale_eventual_reads=sum(v.eventual_stale_after_ack for v in verdicts),
        lag_p50_s=p(lags, 50), lag_p99_s=p(lags, 99),
        eventual_lag_p50_s=p(seen, 50), eventual_lag_p99_s=p(seen, 99),
        race_trials=len(verdicts),
        conflicts=conflicts.trials if conflicts else 0,
        lost_unseen=conflicts.earlier_discarded_unseen if conflicts else 0,
        refused_writes=((conflicts.refused_writes if conflicts else 0)
                        + (increments.refused_writes if increments else 0)),
        updates=increments.updates if increments else None,
        lost_updates=increments.lost_updates if increments else None,
        requests=len(ops), refused_requests=sum(1 for op in ops if op.result == FAIL),
        requests_by_operation=by_operation)


@dataclass(frozen=True)
class LatencyCost:
    """What strong consistency adds to one operation in one region: the difference of
    the two modes' median request latency (MRSC minus MREC)."""

    operation: Operation
    region: str
    eventual_p50_s: float
    strong_p50_s: float
    extra_s: float


@dataclass(frozen=True)
class CompareSummary:
    """Both kinds, and what strong consistency costs against eventual: per operation and
    region, and pooled over the regions (medians, MRSC minus MREC)."""

    modes: list[ModeSummary]
    costs: list[LatencyCost]
    write_cost_s: float | None
    strong_read_cost_s: float | None
    eventual_read_cost_s: float | None


def compare_summary(modes: Sequence[ModeSummary]) -> CompareSummary:
    by = {m.consistency: m for m in modes}
    eventual, strong = by.get(EVENTUAL), by.get(STRONG)

    def cost(name: str) -> float | None:
        if eventual is None or strong is None:
            return None
        a, b = getattr(eventual, name), getattr(strong, name)
        return None if a is None or b is None else b - a

    costs = []
    if eventual is not None and strong is not None:
        mrsc = {(x.operation, x.region): x for x in strong.latency}
        for x in eventual.latency:
            y = mrsc.get((x.operation, x.region))
            if y is not None and x.p50_s is not None and y.p50_s is not None:
                costs.append(LatencyCost(x.operation, x.region, x.p50_s, y.p50_s,
                                         y.p50_s - x.p50_s))
    return CompareSummary(list(modes), costs, cost("write_p50_s"),
                          cost("strong_read_p50_s"), cost("eventual_read_p50_s"))


# -- outage: a region cut off, and how the table heals --------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One read of every item of an outage run in one region (a paginated Query).

    ``items`` maps each item's sort key to the write that produced its image
    (``LastWrite``); ``writes``, in the snapshots that read them, to every write the
    image descends from (its ``Writes`` set): what makes a lost write visible."""

    region: str
    sent_ns: int
    received_ns: int
    result: Outcome
    items: dict[str, str] = field(default_factory=dict)
    writes: dict[str, list[str]] | None = None
    consistent: bool = True
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


@dataclass(frozen=True)
class OutageWrite:
    """One write of the workload: its operation and the item it went to."""

    op: Op
    key: str
    increment: bool


@dataclass(frozen=True)
class LostWrite:
    write_id: str
    region: str
    key: str
    acked_s: float  # after the cut began
    replaced_by: str | None  # the item's final write


@dataclass(frozen=True)
class RegionOutage:
    """One region's writes, over the whole run and while the cut was on."""

    region: str
    cut: bool
    acked: int
    refused: int
    indeterminate: int
    acked_during: int
    refused_during: int
    indeterminate_during: int
    strong_reads_during: int  # the strong-read probes sent while the cut was on
    failed_strong_reads_during: int
    failed_snapshots_during: int
    lost_writes: int | None


@dataclass(frozen=True)
class Divergence:
    """Second ``t_s`` after the cut began: items the regions disagreed on."""

    t_s: float
    differing: int
    regions: int  # how many regions' snapshots the second had


@dataclass(frozen=True)
class OutageSummary:
    region: str
    cut_s: float | None  # how long the cut lasted (None: it never took hold)
    regions: list[RegionOutage]
    recovery_point_writes: int | None  # None: the other regions were not read as it ended
    recovery_point_max_age_s: float | None
    recovery_point_median_age_s: float | None
    recovery_point: list[str]
    converge_s: float | None
    converge_low_s: float | None
    converge_high_s: float | None
    lost_writes: int | None
    lost_sent_during: int | None  # of those, sent while the cut was on
    lost: list[LostWrite]
    refused_writes: int
    indeterminate_writes: int
    indeterminate_landed: int | None
    updates: int
    lost_updates: int | None
    divergence: list[Divergence]
    # Seconds from the outage's start to the cut being asked for, to its observed start
    # (the first heartbeat of the region that did not get through) and to its observed
    # end (another region saw one again); None where not measured.
    cut_requested_s: float | None = None
    cut_observed_s: float | None = None
    cut_observed_end_s: float | None = None
    stall_s: float | None = None  # the silence that counted as a cut


def _during(op: Op, start_ns: int, end_ns: int) -> bool:
    return start_ns <= op.sent_ns < end_ns


def in_order(writes: Sequence[OutageWrite]) -> list[OutageWrite]:
    """Writes by the time they were sent: the live run collects them as they are
    answered, the document keeps them as they were sent."""
    return sorted(writes, key=lambda w: (w.op.sent_ns, str(w.op.write_id)))


def recovery_point(writes: Sequence[OutageWrite], region: str, held: Sequence[Snapshot],
                   end_ns: int) -> list[OutageWrite]:
    """Writes acknowledged in ``region`` by the end of the cut that no other region held
    then: in none of ``held``, the other regions' snapshots taken as the cut ended."""
    elsewhere: dict[str, set[str]] = {}
    for snap in held:
        for key, ids in (snap.writes or {}).items():
            elsewhere.setdefault(key, set()).update(ids)
    return [w for w in in_order(writes) if w.op.region == region and w.op.ok
            and w.op.received_ns <= end_ns
            and str(w.op.write_id) not in elsewhere.get(w.key, set())]


def lost_writes(writes: Sequence[OutageWrite], final: Snapshot, start_ns: int
                ) -> list[LostWrite]:
    """Acknowledged writes absent from the converged images: replaced by a write that
    never saw them (last writer wins), so no region holds them any more."""
    kept = {key: set(ids) for key, ids in (final.writes or {}).items()}
    return [LostWrite(str(w.op.write_id), w.op.region, w.key,
                      (w.op.received_ns - start_ns) / NS, final.items.get(w.key))
            for w in in_order(writes)
            if w.op.ok and str(w.op.write_id) not in kept.get(w.key, set())]


def agree(snapshots: Sequence[Snapshot]) -> bool:
    """Every region read, and every item the same, down to the writes it descends from."""
    if not snapshots or any(not s.ok for s in snapshots):
        return False
    first = snapshots[0]
    return all(s.items == first.items and (s.writes is None or first.writes is None or
                                           {k: sorted(v) for k, v in s.writes.items()}
                                           == {k: sorted(v) for k, v in first.writes.items()})
               for s in snapshots[1:])


def divergence(snapshots: Sequence[Snapshot], regions: Sequence[str], start_ns: int,
               step_s: float = 1.0) -> list[Divergence]:
    """Per ``step_s``, from each region's last good snapshot in it: the items whose image
    differs between the regions (an item missing in one counts as differing)."""
    bins: dict[int, dict[str, Snapshot]] = {}
    for snap in sorted(snapshots, key=lambda s: s.received_ns):
        if snap.ok:
            index = math.floor((snap.received_ns - start_ns) / NS / step_s)
            bins.setdefault(index, {})[snap.region] = snap
    out = []
    for index in sorted(bins):
        latest = bins[index]
        keys = set().union(*(s.items for s in latest.values()))
        differing = sum(1 for k in keys if len({latest[r].items.get(k) for r in latest}) > 1
                        or len(latest) < len(regions))
        out.append(Divergence(index * step_s, differing, len(latest)))
    return out


def outage_summary(region: str, regions: Sequence[str], writes: Sequence[OutageWrite],
                   reads: Sequence[Op], snapshots: Sequence[Snapshot], held: Sequence[Snapshot],
                   rounds: Sequence[Sequence[Snapshot]], start_ns: int, end_ns: int,
                   observed: ObservedCut | None = None, origin_ns: int = 0
                   ) -> OutageSummary:
    """The verdict of one outage run, from its operations alone.

    ``held``: the other regions as the cut ended; ``rounds``: every region read
    together after it, until they agreed (the last round) or the watch gave up."""
    # Without every other region read as the cut ended, the recovery point is unknown.
    measured = len(held) == len(regions) - 1 and all(h.ok for h in held)
    point = recovery_point(writes, region, held, end_ns) if measured else []
    ages = [(end_ns - w.op.received_ns) / NS for w in point]
    agreed = next((i for i, r in enumerate(rounds) if agree(r)), None)
    low = high = None
    final: Snapshot | None = None
    if agreed is not None:
        final = rounds[agreed][0]
        before = [s.sent_ns for r in rounds[:agreed] for s in r] or [end_ns]
        low = max(0.0, (max(before) - end_ns) / NS)
        high = (max(s.received_ns for s in rounds[agreed]) - end_ns) / NS
    lost = lost_writes(writes, final, start_ns) if final is not None else []
    landed = None
    if final is not None:
        kept = {i for ids in (final.writes or {}).values() for i in ids}
        landed = sum(1 for w in writes if w.op.result == INFO and str(w.op.write_id) in kept)

    def per_region(name: str) -> RegionOutage:
        mine = [w.op for w in writes if w.op.region == name]
        during = [o for o in mine if _during(o, start_ns, end_ns)]
        failed = [s for s in snapshots if s.region == name
                  and start_ns <= s.sent_ns < end_ns and not s.ok]
        probes = [o for o in reads if o.region == name and _during(o, start_ns, end_ns)]
        return RegionOutage(
            region=name, cut=name == region,
            acked=sum(1 for o in mine if o.ok),
            refused=sum(1 for o in mine if o.result == FAIL),
            indeterminate=sum(1 for o in mine if o.result == INFO),
            acked_during=sum(1 for o in during if o.ok),
            refused_during=sum(1 for o in during if o.result == FAIL),
            indeterminate_during=sum(1 for o in during if o.result == INFO),
            strong_reads_during=len(probes),
            failed_strong_reads_during=sum(1 for o in probes if not o.ok),
            failed_snapshots_during=len(failed),
            lost_writes=(sum(1 for x in lost if x.region == name)
                         if final is not None else None))

    increments = [w for w in writes if w.increment and w.op.ok]
    lost_ids = {x.write_id for x in lost}
    held_cut = observed is None or observed.start_ns is not None

    def since_origin(ns: int | None) -> float | None:
        return (ns - origin_ns) / NS if ns is not None and origin_ns else None

    return OutageSummary(
        region=region, cut_s=(end_ns - start_ns) / NS if held_cut else None,
        cut_requested_s=since_origin(observed.requested_ns) if observed else None,
        cut_observed_s=since_origin(observed.start_ns) if observed else None,
        cut_observed_end_s=since_origin(observed.end_ns) if observed else None,
        stall_s=observed.stall_s if observed else None,
        regions=[per_region(r) for r in regions],
        recovery_point_writes=len(point) if measured else None,
        recovery_point_max_age_s=max(ages) if ages else None,
        recovery_point_median_age_s=median(ages),
        recovery_point=[str(w.op.write_id) for w in point],
        converge_s=midpoint(low, high) if low is not None and high is not None else None,
        converge_low_s=low, converge_high_s=high,
        lost_writes=len(lost) if final is not None else None,
        lost_sent_during=(sum(1 for w in writes if str(w.op.write_id) in lost_ids
                              and _during(w.op, start_ns, end_ns))
                          if final is not None else None),
        lost=lost,
        refused_writes=sum(1 for w in writes if w.op.result == FAIL),
        indeterminate_writes=sum(1 for w in writes if w.op.result == INFO),
        indeterminate_landed=landed, updates=len(increments),
        lost_updates=(sum(1 for w in increments if str(w.op.write_id) in lost_ids)
                      if final is not None else None),
        divergence=divergence(snapshots, regions, start_ns))
