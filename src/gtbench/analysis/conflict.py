"""Conflicts: which write won, how long the regions disagreed, what was lost."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
from typing import Literal

from gtbench.analysis.stats import NS, Bound, Window, median, share_interval
from gtbench.history import FAIL, Op

# -- conflicts -------------------------------------------------------------------


def switch_bound(reads: Sequence[Op], write_id: str) -> Window | None:
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


def first_seen_bound(reads: Sequence[Op], write_id: str) -> Window | None:
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


def disagreement_bound_ns(reads_by_region: Mapping[str, Sequence[Op]], start_ns: int,
                          end_ns: int) -> tuple[int, int]:
    """How long, between start and end, the regions surely and possibly disagreed.

    A region never shows a write again once it has been replaced (each write is applied
    to a region at most once), so the instants it held write ``w`` form one interval,
    and that interval holds every instant from the first read showing ``w`` returning
    to the last one showing it being sent. Inside such known spans the regions' states
    are certain; elsewhere anything may have held. Low: some two regions surely held
    different writes. High: not every region surely held one and the same write.
    """
    known: dict[str, list[tuple[int, int, str | None]]] = {}
    for region, reads in reads_by_region.items():
        spans: dict[str | None, tuple[int, int]] = {}
        for r in reads:
            if r.result == "ok":
                lo, hi = spans.get(r.write_id, (r.received_ns, r.sent_ns))
                spans[r.write_id] = (min(lo, r.received_ns), max(hi, r.sent_ns))
        known[region] = [(lo, hi, w) for w, (lo, hi) in spans.items() if lo < hi]
    cuts = sorted({start_ns, end_ns, *(min(max(t, start_ns), end_ns)
                                       for held_spans in known.values()
                                       for lo, hi, _ in held_spans for t in (lo, hi))})
    low = high = 0
    for a, b in pairwise(cuts):
        at = (a + b) / 2
        held: list[str | None] = []
        unknown = False
        for held_spans in known.values():
            here = {w for lo, hi, w in held_spans if lo <= at <= hi}
            if len(here) == 1:
                held.append(next(iter(here)))
            else:  # no read pins it down (or the reads contradict the rule above)
                unknown = True
        if len(set(held)) > 1:
            low += b - a
        if unknown or len(set(held)) > 1:
            high += b - a
    return low, high


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


ConflictStatus = Literal["converged", "timed_out", "indeterminate", "failed", "incomplete"]
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
    end), failed (every write was refused) or incomplete (some of its writes were
    never sent: the run stopped first; such a trial gives no verdict). ``contested``:
    both regions made a write that may have landed, so there was a conflict to resolve.
    Each duration the reads measure is a ``Bound``; ``to_json`` writes it as a point
    and its two ends (``converge_s``, ``converge_low_s``, ``converge_high_s``).
    """

    status: ConflictStatus
    contested: bool
    converged: bool
    final_write: str | None
    final_value: int | None
    winner_region: str | None
    later_write_won: bool | None  # None: the order of the writes is too close to call
    order_from: OrderSource
    # When every region had come to hold the final write.
    converge: Bound | None
    # How long the regions disagreed: surely and possibly, from the reads, with the
    # point estimate between them (not the midpoint: each read stands for its region).
    disagreed: Bound | None
    disagreed_s: float | None
    loser_region: str | None
    loser_write: str | None  # the other region's last write, which the winner overwrote
    loser_seen_remotely: bool | None
    loser_delivered: bool | None  # ground truth: was it ever applied in another region
    loser_visible_s: float | None  # how long the loser's own region showed it
    winner_lag: Bound | None  # the winner's replication lag to the loser's region
    winner_true_lag_s: float | None
    earlier_discarded_unseen: bool  # the earlier write lost, never seen outside its region
    # The earlier of the two writes, and its replication lag to the other region: what
    # decides whether it is lost unseen. Measured where it was seen there; from the
    # emulator's log whether or not it was.
    earlier_write: str | None
    earlier_lag: Bound | None
    earlier_true_lag_s: float | None
    # MRSC: writes refused because another region was writing the item, and how long
    # the refusal took (its round trip); nothing vanishes, it is refused instead.
    refused_writes: int
    refused_after_s: float | None
    increment: IncrementCount | None

    @property
    def converge_s(self) -> float | None:
        return self.converge.point_s if self.converge else None

    @property
    def winner_lag_s(self) -> float | None:
        return self.winner_lag.point_s if self.winner_lag else None

    @property
    def earlier_lag_s(self) -> float | None:
        return self.earlier_lag.point_s if self.earlier_lag else None

    def to_json(self) -> dict[str, object]:
        """The verdict as a document's trial holds it: every field under its own name,
        in order, each bound as ``NAME_s``, ``NAME_low_s`` and ``NAME_high_s``."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _BOUNDS:
                out[f"{f.name}_s"] = getattr(self, f"{f.name}_s")
                out[f"{f.name}_low_s"] = value.low_s if value else None
                out[f"{f.name}_high_s"] = value.high_s if value else None
            elif f.name != "disagreed_s":  # written with its bound
                out[f.name] = asdict(value) if isinstance(value, IncrementCount) else value
        return out


# The verdict's fields that are Bounds (each has a point, NAME_s, beside it).
_BOUNDS = ("converge", "disagreed", "winner_lag", "earlier_lag")


def _status(writes: Sequence[Op], reads: Sequence[Op], regions: Sequence[str],
            converged: bool, after_ns: int, unsent: int = 0) -> ConflictStatus:
    if unsent or not writes:
        return "incomplete"
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
                     final: FinalImage | None = None, unsent: int = 0) -> ConflictVerdict:
    """Judge one trial: the write each region ends on, and whether the later write won.

    Under last-writer-wins the item ends as the image of the latest write anywhere;
    every region's own latest write is a candidate, so the winner is compared with
    each other region's last write that may have landed. A trial with ``unsent``
    writes (the run stopped before their moment) is incomplete and judged no
    further: what it would have shown never happened.
    """
    regions = sorted({w.region for w in writes})
    by_region = {r: [x for x in reads if x.region == r] for r in regions}
    acked = max((w.received_ns for w in writes), default=0)
    refused = [w for w in writes if w.error == REPLICATED_CONFLICT]
    refused_after = median([(w.received_ns - w.sent_ns) / NS for w in refused])
    incomplete = bool(unsent) or not writes
    agreed = None if incomplete else agreed_write(reads, regions, acked)
    converged = agreed is not None
    status = _status(writes, reads, regions, converged, acked, unsent)
    live = [w for w in writes if w.result != FAIL]
    contested = not incomplete and len({w.region for w in live}) > 1
    stamps = {k: t.stamp for k, t in (truth or {}).items()}
    winner = next((w for w in writes if w.write_id == agreed), None)
    start = min((w.sent_ns for w in writes), default=0)
    order_from: OrderSource = ("ground truth" if winner is not None and stamps
                               and all(str(w.write_id) in stamps for w in live)
                               else "send-ack windows")
    if winner is None:
        return ConflictVerdict(
            status=status, contested=contested, converged=converged, final_write=agreed,
            final_value=None, winner_region=None, later_write_won=None, order_from=order_from,
            converge=None, disagreed=None, disagreed_s=None, loser_region=None,
            loser_write=None, loser_seen_remotely=None, loser_delivered=None,
            loser_visible_s=None, winner_lag=None, winner_true_lag_s=None,
            earlier_discarded_unseen=False, earlier_write=None, earlier_lag=None,
            earlier_true_lag_s=None, refused_writes=len(refused),
            refused_after_s=refused_after, increment=None)
    rivals = [max((w for w in live if w.region == r), key=lambda w: w.sent_ns)
              for r in regions if r != winner.region and any(w.region == r for w in live)]
    orders = [order(winner, rival, stamps) for rival in rivals]
    later_won = (None if not rivals else False if False in orders
                 else None if None in orders else True)
    switches = {r: switch_bound(rs, str(agreed)) for r, rs in by_region.items()}
    lows = [max(s[0], winner.sent_ns) for s in switches.values() if s]
    highs = [s[1] for s in switches.values() if s]
    loser = rivals[0] if rivals else None
    seen = visible = winner_lag = None
    if loser is not None:
        seen = any(x.write_id == loser.write_id for r, rs in by_region.items()
                   if r != loser.region for x in rs if x.ok)
        switch = switches.get(loser.region)
        if switch is not None:
            visible = Bound.after(loser.sent_ns, loser.received_ns, switch).point_s
            winner_lag = Bound.after(winner.sent_ns, winner.received_ns, switch)
    complete = len(highs) == len(regions)
    converge = (Bound((max(lows) - start) / NS, (max(highs) - start) / NS) if complete
                else None)
    end = max(highs) if complete else max(x.received_ns for x in reads)
    loser_truth = (truth or {}).get(str(loser.write_id)) if loser else None
    winner_truth = (truth or {}).get(str(winner.write_id))
    # Earlier by the known order; by send order where that is too close to call.
    earlier_lost = bool(
        loser is not None and seen is False
        and (later_won if later_won is not None else loser.sent_ns <= winner.sent_ns))
    apart_low, apart_high = disagreement_bound_ns(by_region, start, end)
    apart = min(max(disagreement_ns(by_region, start, end), apart_low), apart_high)
    count = (increment_count(writes, increments or {}, final)
             if final is not None else None)
    earlier = None
    if loser is not None:
        earlier_is_loser = later_won if later_won is not None else (
            loser.sent_ns <= winner.sent_ns)
        earlier = loser if earlier_is_loser else winner
    earlier_lag = None
    if earlier is not None:
        elsewhere = [x for x in reads if x.region != earlier.region]
        seen_at = first_seen_bound(elsewhere, str(earlier.write_id))
        if seen_at is not None:
            earlier_lag = Bound.after(earlier.sent_ns, earlier.received_ns, seen_at)
    earlier_truth = (truth or {}).get(str(earlier.write_id)) if earlier else None
    return ConflictVerdict(
        status=status, contested=contested, converged=converged, final_write=agreed,
        final_value=count.final if count is not None else winner.value,
        winner_region=winner.region, later_write_won=later_won, order_from=order_from,
        converge=converge, disagreed=Bound(apart_low / NS, apart_high / NS),
        disagreed_s=apart / NS,
        loser_region=loser.region if loser else None,
        loser_write=loser.write_id if loser else None, loser_seen_remotely=seen,
        loser_delivered=loser_truth.delivered if loser_truth else None,
        loser_visible_s=visible, winner_lag=winner_lag,
        winner_true_lag_s=winner_truth.lag_s if winner_truth and loser is not None else None,
        earlier_discarded_unseen=earlier_lost,
        earlier_write=earlier.write_id if earlier else None, earlier_lag=earlier_lag,
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
    incomplete: int  # some writes never sent (the run stopped): no verdict
    contested: int
    lww_held: int
    lww_violated: int
    too_close: int
    earlier_discarded_unseen: int
    loser_seen_remotely: int
    median_disagreed_s: float | None
    # Medians of each trial's sure and possible disagreement: a bound on the median.
    median_disagreed_low_s: float | None
    median_disagreed_high_s: float | None
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
        incomplete=count(lambda v: v.status == "incomplete"),
        contested=count(lambda v: v.contested),
        lww_held=count(lambda v: v.later_write_won is True),
        lww_violated=count(lambda v: v.later_write_won is False),
        too_close=count(lambda v: v.converged and v.contested and v.later_write_won is None),
        earlier_discarded_unseen=count(lambda v: v.earlier_discarded_unseen),
        loser_seen_remotely=count(lambda v: v.loser_seen_remotely is True),
        median_disagreed_s=median([v.disagreed_s for v in verdicts
                                   if v.disagreed_s is not None]),
        median_disagreed_low_s=median([v.disagreed.low_s for v in verdicts
                                       if v.disagreed is not None]),
        median_disagreed_high_s=median([v.disagreed.high_s for v in verdicts
                                        if v.disagreed is not None]),
        median_winner_lag_s=median([v.winner_lag_s for v in verdicts
                                    if v.winner_lag_s is not None]),
        median_earlier_lag_s=median([lag for v in verdicts
                                     if (lag := earlier_lag(v)) is not None]),
        refused_writes=sum(v.refused_writes for v in verdicts))


@dataclass(frozen=True)
class OffsetSummary(ConflictCounts):
    offset_ms: float
    # The share of trials whose earlier write was lost unseen, as a 95% interval (Wilson):
    # with a few trials per offset, a difference between offsets can be noise.
    lost_unseen_low: float | None = None
    lost_unseen_high: float | None = None


@dataclass(frozen=True)
class ConflictSummary(ConflictCounts):
    offsets: list[OffsetSummary]
    # increment mode only (None otherwise): summed over the trials' separate items
    updates: int | None
    expected: int | None
    final: int | None
    lost_updates: int | None


def _offset_summary(verdicts: Sequence[ConflictVerdict], offset_ms: float) -> OffsetSummary:
    counts = conflict_counts(verdicts)
    judged = counts.trials - counts.incomplete
    interval = share_interval(counts.earlier_discarded_unseen, judged)
    return OffsetSummary(**vars(counts), offset_ms=offset_ms,
                         lost_unseen_low=interval[0] if interval else None,
                         lost_unseen_high=interval[1] if interval else None)


def conflict_summary(trials: Sequence[tuple[float, ConflictVerdict]],
                     offsets_ms: Sequence[float], increment_mode: bool) -> ConflictSummary:
    """Over all trials and per offset: ``trials`` are (offset_ms, verdict) in run order."""
    verdicts = [v for _, v in trials]
    counts = [v.increment for v in verdicts if v.increment is not None]

    def total(name: str) -> int | None:
        return sum(getattr(c, name) for c in counts) if increment_mode else None

    return ConflictSummary(
        **vars(conflict_counts(verdicts)),
        offsets=[_offset_summary([v for o, v in trials if o == offset], offset)
                 for offset in offsets_ms],
        updates=total("updates"), expected=total("expected"), final=total("final"),
        lost_updates=total("lost_updates"))
