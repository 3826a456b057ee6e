"""outage: a region cut off, the recovery point, and how the table heals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from gtbench.analysis.heartbeat import ObservedCut
from gtbench.analysis.stats import NS, median, midpoint
from gtbench.history import FAIL, INFO, Op, Outcome

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
    # The recovery point split by when its writes were sent: during the cut (what an
    # architect's RPO means) or before it (replication was already behind when the cut
    # began: the oldest acknowledged this long before the cut's start).
    recovery_point_during: int | None = None
    recovery_point_before: int | None = None
    recovery_point_oldest_before_cut_s: float | None = None
    # Seconds from the outage's start to the cut being asked for, to its observed start
    # (the first heartbeat of the region that did not get through) and to its observed
    # end (another region saw one again); None where not measured.
    cut_requested_s: float | None = None
    cut_observed_s: float | None = None
    cut_observed_end_s: float | None = None
    stall_s: float | None = None  # the silence that counted as a cut
    # Measured against the emulator's ground truth (None where there is none): part of
    # the summary, so ``report --check`` recomputes it like every other verdict.
    against_truth: list[TruthCheck] | None = None


@dataclass(frozen=True)
class TruthCheck:
    """One measured figure beside the emulator's: the counts, and whether the very same
    writes were found (None when the figure was not measured: no comparison then)."""

    figure: str  # "recovery point" or "lost writes"
    measured: int | None
    true: int
    same_writes: bool | None


def against_truth(summary: OutageSummary, recovery_point: Sequence[str],
                  lost: Sequence[str]) -> list[TruthCheck]:
    """The measured recovery point and lost writes beside the ground truth's."""
    def check(figure: str, measured: int | None, found: Sequence[str],
              true: Sequence[str]) -> TruthCheck:
        same = None if measured is None else sorted(found) == sorted(true)
        return TruthCheck(figure, measured, len(true), same)

    return [check("recovery point", summary.recovery_point_writes, summary.recovery_point,
                  recovery_point),
            check("lost writes", summary.lost_writes, [x.write_id for x in summary.lost],
                  lost)]


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
    # No cut was started (the run stopped in its lead): none held, whatever the clock
    # says now. Documents from before heartbeats have no observed cut: as requested.
    held_cut = end_ns > start_ns and (observed is None or observed.start_ns is not None)

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
        recovery_point_during=(sum(1 for w in point if _during(w.op, start_ns, end_ns))
                               if measured else None),
        recovery_point_before=(sum(1 for w in point if w.op.sent_ns < start_ns)
                               if measured else None),
        recovery_point_oldest_before_cut_s=(
            max((start_ns - w.op.received_ns) / NS for w in point
                if w.op.sent_ns < start_ns) if any(w.op.sent_ns < start_ns for w in point)
            else None),
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
