"""compare: the two kinds of global table side by side, from their histories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from gtbench.analysis.conflict import ConflictSummary
from gtbench.analysis.race import RaceVerdict, censored_percentile, floors
from gtbench.analysis.stats import NS, median_interval, percentile
from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.history import FAIL, Op

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
    # The median's order-statistic interval (at least 95% once there are 6 requests).
    p50_low_s: float | None = None
    p50_high_s: float | None = None


def latency_stats(ops: Sequence[Op]) -> list[LatencyStats]:
    """Per operation and region, in a stable order (operation, then region)."""
    groups: dict[tuple[Operation, str], list[float]] = {}
    for op in ops:
        if op.ok:
            groups.setdefault((operation_of(op), op.region), []).append(
                (op.received_ns - op.sent_ns) / NS)
    return [LatencyStats(kind, region, len(times), percentile(times, 50),
                         percentile(times, 99), max(times),
                         *_interval(times))
            for (kind, region), times in sorted(
                groups.items(), key=lambda kv: (OPERATIONS.index(kv[0][0]), kv[0][1]))]


def _interval(times: Sequence[float]) -> tuple[float | None, float | None]:
    found = median_interval(times, times)
    return (found.low_s, found.high_s) if found else (None, None)


def _overlap(a: LatencyStats, b: LatencyStats) -> bool:
    if (a.p50_low_s is None or a.p50_high_s is None or b.p50_low_s is None
            or b.p50_high_s is None):
        return False  # saved before intervals: not called noise
    return a.p50_low_s <= b.p50_high_s and b.p50_low_s <= a.p50_high_s


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
    # Race trials not seen within the timeout make the strong readers' lag figures
    # lower bounds ("> 10000 ms"), as in race.
    lag_p50_censored: bool = False
    lag_p99_censored: bool = False


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
    cut = floors(verdicts)
    (lag_p50, p50_cut), (lag_p99, p99_cut) = (censored_percentile(lags, cut, q)
                                              for q in (50, 99))
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
        lag_p50_s=lag_p50, lag_p99_s=lag_p99, lag_p50_censored=p50_cut,
        lag_p99_censored=p99_cut,
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
    # The two medians' intervals overlap: the difference is inside the noise, no cost.
    noise: bool = False


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
                                         y.p50_s - x.p50_s, _overlap(x, y)))
    return CompareSummary(list(modes), costs, cost("write_p50_s"),
                          cost("strong_read_p50_s"), cost("eventual_read_p50_s"))
