"""The race: each trial's lag bound and verdict, and the summaries per pair and run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gtbench.analysis.stats import (
    NS,
    Bound,
    MedianInterval,
    median,
    median_interval,
    percentile,
)
from gtbench.history import FAIL, Op


@dataclass(frozen=True)
class LagBound(Bound):
    """A race trial's ``Bound``: with the write sent at ``ws`` and acknowledged at
    ``wa``, every stale read sent at ``ss`` and every fresh read received at ``fr`` (one
    monotonic clock): lag >= max(ss) - wa and lag <= min(fr) - ws."""

    stale_reads: int


def lag_bound(write: Op, reads: Sequence[Op], value: int, clock_error_s: float = 0.0
              ) -> LagBound | None:
    """The bound for ``write`` of ``value``, or None if no read saw it. With the write
    and the reads timed on two clocks (probes), each within ``clock_error_s`` of true
    time, the window widens by twice that: ``[ss - wa - 2e, fr - ws + 2e]``."""
    ok = [r for r in reads if r.ok]
    fresh = [r for r in ok if r.value == value]
    if not fresh:
        return None
    stale = [r for r in ok if r.value != value]
    slack = round(2 * clock_error_s * NS)
    window = ((max(r.sent_ns for r in stale) if stale else write.received_ns) - slack,
              min(r.received_ns for r in fresh) + slack)
    bound = Bound.after(write.sent_ns, write.received_ns, window)
    return LagBound(bound.low_s, bound.high_s, len(stale))


def round_trip_bound(write: Op, reads: Sequence[Op], echo_write: Op, echo_reads: Sequence[Op],
                     value: int) -> Bound | None:
    """Ping-pong: A writes ``value`` (``write``), B reads until it sees it (``reads``) and
    writes it back (``echo_write``), A reads until it sees that (``echo_reads``). The sum
    lag(A to B) + lag(B to A) lies in

        [(a_ss - a_wa) - (b_wa - b_ss), (a_fr - a_ws) - (b_ws - b_fr)]

    with A's times on A's monotonic clock and B's on B's: each difference is taken on
    one clock, so no clock error enters. None without both fresh reads."""
    a = _mono_window(echo_reads, value)
    b = _mono_window(reads, value)
    if a is None or b is None or write.mono_sent_ns is None or not write.ok \
            or not echo_write.ok or echo_write.mono_sent_ns is None:
        return None
    assert write.mono_received_ns is not None and echo_write.mono_received_ns is not None
    (a_ss, a_fr), (b_ss, b_fr) = a, b
    a_ss = max(a_ss, write.mono_received_ns)  # no stale read yet: the write's answer
    low = (a_ss - write.mono_received_ns) - (echo_write.mono_received_ns - b_ss)
    high = (a_fr - write.mono_sent_ns) - (echo_write.mono_sent_ns - b_fr)
    return Bound(max(low, 0) / NS, high / NS)


def _mono_window(reads: Sequence[Op], value: int) -> tuple[int, int] | None:
    """(last stale read sent, first fresh read received) on the reader's monotonic clock;
    the stale end is 0 when no read was stale."""
    ok = [r for r in reads if r.ok and r.mono_sent_ns is not None]
    fresh = [r.mono_received_ns for r in ok if r.value == value and r.mono_received_ns]
    if not fresh:
        return None
    first = min(fresh)
    stale = [r.mono_sent_ns for r in ok if r.value != value and r.mono_sent_ns is not None
             and r.mono_sent_ns < first]
    return (max(stale) if stale else 0), first


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
    # With probes (``via: "probes"``): the clock error the bound allows for, and the
    # ping-pong: the write echoed back, the return lag, and the round trip (the sum of
    # both lags) bounded on each probe's own clock. ``clocks_agree`` is False when the
    # one-way bounds summed miss the round trip: the clock error was too small.
    clock_error_s: float = 0.0
    return_lag_low_s: float | None = None
    return_lag_high_s: float | None = None
    round_trip_low_s: float | None = None
    round_trip_high_s: float | None = None
    clocks_agree: bool | None = None
    # A trial not seen within its timeout: its lag exceeds this (the last read that still
    # showed the old value, after the write's acknowledgement). Censored, not unknown.
    censored_at_s: float | None = None


def stale_after_ack(write: Op, reads: Sequence[Op], value: int) -> int:
    """Answered reads sent after ``write`` was acknowledged that did not show ``value``."""
    if not write.ok:
        return 0
    return sum(1 for r in reads if r.ok and r.value != value and r.sent_ns > write.received_ns)


def echo_verdict(write: Op, reads: Sequence[Op], echo: tuple[Op, Sequence[Op]] | None,
                 value: int, clock_error_s: float) -> dict[str, Any]:
    """A probe trial's ping-pong: the return lag (two clocks), the round trip (one clock
    each), and whether the one-way bounds summed meet the round trip."""
    if echo is None:
        return {}
    echo_write, echo_reads = echo
    forward = lag_bound(write, reads, value, clock_error_s) if write.ok else None
    back = lag_bound(echo_write, echo_reads, value, clock_error_s) if echo_write.ok else None
    trip = round_trip_bound(write, reads, echo_write, echo_reads, value)
    # A constant offset between the clocks lengthens one direction as much as it
    # shortens the other, so it cancels in the sum: the round trip catches clocks that
    # drift or step during a trial, and an offset past the shorter lag (a lag that
    # would have to be negative); a smaller steady offset only the clock error covers.
    agree = None
    if forward is not None and back is not None and trip is not None:
        agree = (forward.high_s >= 0 and back.high_s >= 0
                 and forward.low_s + back.low_s <= trip.high_s
                 and trip.low_s <= forward.high_s + back.high_s)
    return {"clock_error_s": clock_error_s,
            "return_lag_low_s": back.low_s if back else None,
            "return_lag_high_s": back.high_s if back else None,
            "round_trip_low_s": trip.low_s if trip else None,
            "round_trip_high_s": trip.high_s if trip else None, "clocks_agree": agree}


def race_verdict(write: Op, all_reads: Sequence[Op], value: int,
                 true_lag_s: float | None = None, clock_error_s: float = 0.0,
                 echo: tuple[Op, Sequence[Op]] | None = None) -> RaceVerdict:
    """The trial's status and lag come from its strongly consistent reads; its eventually
    consistent reads, if any, are judged beside them. A probe trial's write and reads
    were timed on two clocks within ``clock_error_s``, and ``echo`` is its ping-pong."""
    reads = [r for r in all_reads if r.consistent]
    eventual = [r for r in all_reads if not r.consistent]
    seen = lag_bound(write, eventual, value) if write.ok and eventual else None
    by_eventual: dict[str, Any] = {
        "eventual_reads": len(eventual),
        "eventual_lag_s": seen.point_s if seen else None,
        "eventual_lag_low_s": seen.low_s if seen else None,
        "eventual_lag_high_s": seen.high_s if seen else None,
        "eventual_stale_after_ack": stale_after_ack(write, eventual, value),
        **echo_verdict(write, reads, echo, value, clock_error_s)}
    ok = [r for r in reads if r.ok]
    failed = len(reads) - len(ok)
    bound = lag_bound(write, reads, value, clock_error_s) if write.ok else None
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
    censored_at: float | None = None
    if write.result == FAIL:
        status: RaceStatus = "failed"
    else:
        last = max(reads, key=lambda r: r.sent_ns, default=None)
        # "Never replicated in time" needs a reader that still answered at the end.
        status = "timed_out" if write.ok and last is not None and last.ok else "indeterminate"
        stale = [r.sent_ns for r in ok if r.value != value]
        if status == "timed_out" and stale:
            slack = round(2 * clock_error_s * NS)
            censored_at = max(0, max(stale) - write.received_ns - slack) / NS
    return RaceVerdict(censored_at_s=censored_at,
        status=status, lag_s=None, lag_low_s=None, lag_high_s=None,
        stale_reads=sum(1 for r in ok if r.value != value), reads=len(reads),
        failed_reads=failed, write_rtt_s=rtt, true_lag_s=true_lag_s, error_s=None,
        true_in_bound=None, stale_after_ack=after_ack, **by_eventual)


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
    # A figure that takes in a trial not seen within its timeout is a lower bound: the
    # true figure is above it ("> 10.0 s"). stdev_s is None then: no bound holds for it.
    min_censored: bool
    p50_censored: bool
    p90_censored: bool
    p99_censored: bool
    max_censored: bool
    mean_censored: bool


def censored_percentile(seen: Sequence[float], censored: Sequence[float], q: float
                        ) -> tuple[float | None, bool]:
    """The nearest-rank percentile over every trial, seen or not: (figure, censored). A
    trial not seen lasted longer than its ``censored_at_s``: placed there, the rank gives
    a lower bound; placed at infinity, an upper one. When the two agree the figure is
    exact; otherwise it is the lower bound, and says so."""
    if not seen and not censored:
        return None, False
    low = percentile([*seen, *censored], q)
    high = percentile([*seen, *(math.inf for _ in censored)], q)
    return low, high != low


def floors(verdicts: Sequence[RaceVerdict]) -> list[float]:
    """The trials not seen within their timeout: each lag's floor (``censored_at_s``)."""
    return [v.censored_at_s for v in verdicts
            if v.status == "timed_out" and v.censored_at_s is not None]


def lag_stats(verdicts: Sequence[RaceVerdict]) -> LagStats:
    done = [v.lag_s for v in verdicts if v.lag_s is not None]
    cut = floors(verdicts)

    def count(status: RaceStatus) -> int:
        return sum(1 for v in verdicts if v.status == status)

    (min_s, min_c), (p50, p50_c), (p90, p90_c), (p99, p99_c), (top, top_c) = (
        censored_percentile(done, cut, q) for q in (0, 50, 90, 99, 100))
    every = [*done, *cut]
    return LagStats(
        trials=len(verdicts), replicated=count("replicated"), timed_out=count("timed_out"),
        indeterminate=count("indeterminate"), failed=count("failed"),
        min_s=min_s, p50_s=p50, p90_s=p90, p99_s=p99, max_s=top,
        mean_s=statistics.fmean(every) if every else None,
        stdev_s=statistics.stdev(done) if len(done) > 1 and not cut else None,
        min_censored=min_c, p50_censored=p50_c, p90_censored=p90_c, p99_censored=p99_c,
        max_censored=top_c, mean_censored=bool(cut))


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
    # With probes: the ping-pong round trip (no clock enters it), its bound width, and
    # the trials whose one-way bounds summed missed it (the clock error too small).
    round_trip_p50_s: float | None = None
    round_trip_width_p50_s: float | None = None
    clocks_disagree: int = 0
    # Where the true median lag lies (order statistics over the trials' bounds, the
    # unseen ones unbounded above), and with what confidence: the noise around p50_s.
    p50_low_s: float | None = None
    p50_high_s: float | None = None
    p50_confidence: float | None = None


def median_width(verdicts: Sequence[RaceVerdict]) -> float | None:
    """The median width of the trials' lag bounds (None if no trial has one)."""
    return median([v.lag_high_s - v.lag_low_s for v in verdicts
                   if v.lag_high_s is not None and v.lag_low_s is not None])


def pair_summary(pair: tuple[str, str], verdicts: Sequence[RaceVerdict],
                 cloudwatch: CloudWatchStats | None = None) -> PairSummary:
    errors = [abs(v.error_s) for v in verdicts if v.error_s is not None]
    writes = [v.write_rtt_s for v in verdicts if v.write_rtt_s is not None]
    seen = [v.eventual_lag_s for v in verdicts if v.eventual_lag_s is not None]
    stats = lag_stats(verdicts)
    trips = [(v.round_trip_low_s, v.round_trip_high_s) for v in verdicts
             if v.round_trip_low_s is not None and v.round_trip_high_s is not None]
    interval = lag_median_interval(verdicts)
    return PairSummary(
        **vars(stats), from_region=pair[0], to_region=pair[1],
        median_bound_width_s=median_width(verdicts), median_abs_error_s=median(errors),
        true_in_bound=sum(1 for v in verdicts if v.true_in_bound),
        with_truth=sum(1 for v in verdicts if v.true_lag_s is not None and v.lag_s is not None),
        cloudwatch=cloudwatch,
        write_p50_s=percentile(writes, 50) if writes else None,
        write_p99_s=percentile(writes, 99) if writes else None,
        stale_after_ack=sum(v.stale_after_ack for v in verdicts),
        eventual_reads=sum(v.eventual_reads for v in verdicts),
        eventual_p50_s=percentile(seen, 50) if seen else None,
        eventual_p99_s=percentile(seen, 99) if seen else None,
        eventual_stale_after_ack=sum(v.eventual_stale_after_ack for v in verdicts),
        round_trip_p50_s=percentile([(lo + hi) / 2 for lo, hi in trips], 50) if trips
        else None,
        round_trip_width_p50_s=percentile([hi - lo for lo, hi in trips], 50) if trips
        else None,
        clocks_disagree=sum(1 for v in verdicts if v.clocks_agree is False),
        p50_low_s=interval.low_s if interval else None,
        p50_high_s=interval.high_s if interval else None,
        p50_confidence=interval.confidence if interval else None)


def lag_median_interval(verdicts: Sequence[RaceVerdict]) -> MedianInterval | None:
    """The median lag's interval over every trial with a bound, or seen late."""
    bounds: list[tuple[float, float | None]] = [
        (v.lag_low_s, v.lag_high_s) for v in verdicts
        if v.lag_low_s is not None and v.lag_high_s is not None]
    bounds += [(floor, None) for floor in floors(verdicts)]
    return median_interval([lo for lo, _ in bounds], [hi for _, hi in bounds])


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
    p50_censored: bool = False
    p90_censored: bool = False
    p99_censored: bool = False
    max_censored: bool = False
    pairs: list[PairSummary] = field(default_factory=list)
    # With probes: per pair, the ping-pong round trip lag(A to B) + lag(B to A).
    pingpong: list[PingPong] = field(default_factory=list)


@dataclass(frozen=True)
class PingPong:
    """A pair's summed round trip, from the echoes: the median of the trials' midpoints,
    bounded by the medians of their lower and upper bounds (no clock enters it)."""

    from_region: str
    to_region: str
    trials: int
    p50_s: float
    low_s: float
    high_s: float


def pingpong(pair: tuple[str, str], verdicts: Sequence[RaceVerdict]) -> PingPong | None:
    trips = [(v.round_trip_low_s, v.round_trip_high_s) for v in verdicts
             if v.round_trip_low_s is not None and v.round_trip_high_s is not None]
    if not trips:
        return None
    return PingPong(pair[0], pair[1], len(trips),
                    percentile([(lo + hi) / 2 for lo, hi in trips], 50),
                    percentile([lo for lo, _ in trips], 50),
                    percentile([hi for _, hi in trips], 50))


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
        p50_censored=every.p50_censored, p90_censored=every.p90_censored,
        p99_censored=every.p99_censored, max_censored=every.max_censored,
        pairs=[pair_summary(pair, [v for p, v in trials if p == pair],
                            (cloudwatch or {}).get(pair)) for pair in pairs],
        pingpong=[trip for pair in pairs
                  if (trip := pingpong(pair, [v for p, v in trials if p == pair]))])


@dataclass(frozen=True)
class LoadSummary(LagStats):
    """One step of ``race --load``: lag at a background write rate. ``reached_wps`` is
    the load's own count (acknowledged writes per second over the step)."""

    rate_wps: float
    reached_wps: float | None
    median_bound_width_s: float | None
    true_p50_s: float | None  # the emulator's ground truth, where known


def load_summary(trials: Sequence[tuple[float | None, RaceVerdict]],
                 reached: Mapping[float, float]) -> list[LoadSummary]:
    """Per rate, in the order first run: ``trials`` are (rate, verdict), ``reached`` the
    rate each step reached."""
    rates = list(dict.fromkeys(r for r, _ in trials if r is not None))
    out = []
    for rate in rates:
        verdicts = [v for r, v in trials if r == rate]
        truths = [v.true_lag_s for v in verdicts if v.true_lag_s is not None]
        out.append(LoadSummary(**vars(lag_stats(verdicts)), rate_wps=rate,
                               reached_wps=reached.get(rate),
                               median_bound_width_s=median_width(verdicts),
                               true_p50_s=percentile(truths, 50) if truths else None))
    return out
