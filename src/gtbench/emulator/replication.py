"""Asynchronous replication: stamps, lag, delivery lanes and the ground-truth log.

Nothing here knows about moto or HTTP. A write that the emulator accepted becomes
one ``Delivery`` per other replica; each is due ``written_at + lag`` and is handed
to an ``apply`` callback by the lane of its target region, which decides the
outcome (applied, superseded or dropped) under last-writer-wins.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from gtbench.emulator.capacity import Capacity, write_units
from gtbench.emulator.clock import Clock
from gtbench.emulator.health import Health
from gtbench.emulator.values import number

log = logging.getLogger(__name__)

APPLIED = "applied"
SUPERSEDED = "superseded"
DROPPED = "dropped"  # the target stopped being a replica before the delivery was due

ItemKey = tuple[tuple[str, str, Any], ...]
SETTLE_TIMEOUT_S = 30.0  # waiting for another thread's delivery: far beyond any real one


@dataclass(frozen=True)
class LagModel:
    """How long a delivery takes: normal around ``lag_ms`` with spread ``jitter_ms``.

    ``pairs`` overrides both for a (source, target) region pair. Samples are cut at
    zero, so the median stays ``lag_ms`` while ``lag_ms`` exceeds the jitter.
    """

    lag_ms: float = 1000.0
    jitter_ms: float = 250.0
    pairs: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    # Add half the round trip between the two regions (the distance table): a write
    # cannot arrive sooner than the network between them allows. Off for tests that set
    # exact lags; on for `gtbench local serve`.
    network: bool = False

    MAX_MS = 3_600_000.0  # an hour: past it a lag is a typo (and infinity kills a lane)

    def __post_init__(self) -> None:
        for name, value in [("lag_ms", self.lag_ms), ("jitter_ms", self.jitter_ms),
                            *((f"lag_ms {s}>{t}", v) for (s, t), pair in self.pairs.items()
                              for v in pair)]:
            number(value, name, low=0, high=self.MAX_MS)

    def network_ms(self, source: str, target: str) -> float:
        """The floor the network sets: half the pair's round trip, if counted and known."""
        if not self.network:
            return 0.0
        from gtbench.emulator.distance import measured_rtt_ms

        return (measured_rtt_ms(source, target) or 0.0) / 2

    def median_ms(self, source: str, target: str) -> float:
        lag, _ = self.pairs.get((source, target), (self.lag_ms, self.jitter_ms))
        return lag + self.network_ms(source, target)

    def sample_s(self, source: str, target: str, rng: random.Random) -> float:
        lag, jitter = self.pairs.get((source, target), (self.lag_ms, self.jitter_ms))
        sampled = max(lag, 0.0) if jitter <= 0 else max(rng.gauss(lag, jitter), 0.0)
        return (sampled + self.network_ms(source, target)) / 1000.0

    def describe(self, regions: Sequence[str] = ()) -> dict[str, Any]:
        """The model, and (for ``regions``) the median lag of each ordered pair."""
        return {
            "lag_ms": self.lag_ms,
            "jitter_ms": self.jitter_ms,
            "pairs": {f"{s}>{t}": {"lag_ms": lag, "jitter_ms": j}
                      for (s, t), (lag, j) in self.pairs.items()},
            "network": self.network,
            "median_ms": {f"{s}>{t}": self.median_ms(s, t)
                          for s in regions for t in regions if s != t},
        }


def _canonical(attr: Mapping[str, Any]) -> tuple[str, Any]:
    ((kind, value),) = attr.items()
    if kind == "N":
        # "1", "1.0" and "1E0" name the same item in DynamoDB.
        try:
            return kind, Decimal(value).normalize()
        except InvalidOperation:
            return kind, value
    return kind, value


def item_key(attrs: Mapping[str, Any], key_names: Sequence[str]) -> ItemKey:
    """A hashable identity for the item that ``attrs`` (an item or a key) names."""
    return tuple((name, *_canonical(attrs[name])) for name in key_names)


@dataclass
class Delivery:
    """One write on its way from one replica to another, and what became of it."""

    seq: int
    account: str
    table: str
    key: dict[str, Any]
    ident: ItemKey
    source_region: str
    target_region: str
    image: dict[str, Any] | None  # the full item after the write; None for a deletion
    stamp_ns: int
    due_at: float
    applied_at: float | None = None
    outcome: str | None = None
    # The stamp of the version this write replaced in its own region (None: the item was
    # new there): the ground truth of which writes each image descends from.
    parent_ns: int | None = None

    @property
    def written_at(self) -> float:
        return self.stamp_ns / 1e9

    def record(self, image: bool = False) -> dict[str, Any]:
        return ({"image": self.image} if image else {}) | {
            "table": self.table,
            "key": self.key,
            "source_region": self.source_region,
            "target_region": self.target_region,
            "kind": "delete" if self.image is None else "put",
            "written_at": self.written_at,
            "due_at": self.due_at,
            "applied_at": self.applied_at,
            "outcome": self.outcome,
            "seq": self.seq,
            "stamp_ns": self.stamp_ns,
            "parent_stamp_ns": self.parent_ns,
        }


ApplyFn = Callable[[Delivery], str]


class _Lane:
    """Deliveries due in one target region, applied in due order by one thread.

    A lane per region, so a slow request in one region delays no other region's
    deliveries.
    """

    def __init__(self, region: str, owner: Replicator) -> None:
        self.region = region
        self._owner = owner
        self._heap: list[tuple[float, int, Delivery]] = []
        self._held: list[Delivery] = []  # due, but their link is cut (a fault)
        self._cond = threading.Condition()
        name = f"gtbench-lane-{region}"
        self._thread = threading.Thread(target=owner.health.guard(name, self._run),
                                        name=name, daemon=True)
        self._thread.start()

    def push(self, delivery: Delivery) -> None:
        with self._cond:
            heapq.heappush(self._heap, (delivery.due_at, delivery.seq, delivery))
            self._cond.notify()

    def wake(self) -> None:
        """Look again at everything, held deliveries too (a fault started or ended)."""
        with self._cond:
            for d in self._held:
                heapq.heappush(self._heap, (d.due_at, d.seq, d))
            self._held.clear()
            self._cond.notify()

    def pending(self) -> list[Delivery]:
        with self._cond:
            return [d for _, _, d in self._heap] + list(self._held)

    def held_count(self) -> int:
        with self._cond:
            return len(self._held)

    def remove(self, predicate: Callable[[Delivery], bool], *,
               claim: bool = False) -> list[Delivery]:
        """Take out the deliveries ``predicate`` picks. With ``claim`` they are marked as
        being applied in the same step, so no other caller can see them neither queued
        nor applying (and read a replica that lacks them)."""
        with self._cond:
            gone = [d for _, _, d in self._heap if predicate(d)]
            gone += [d for d in self._held if predicate(d)]
            if gone:
                self._heap = [e for e in self._heap if not predicate(e[2])]
                heapq.heapify(self._heap)
                self._held = [d for d in self._held if not predicate(d)]
                if claim:
                    self._owner.applying.enter(gone)
            return gone

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self._held.clear()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        owner = self._owner
        while True:
            with self._cond:
                if owner.stopped:
                    return
                # Held, the clock's ``advance`` applies what falls due (``run_due``).
                if owner.paused or not self._heap or owner.clock.held:
                    self._cond.wait()
                    continue
                due = self._heap[0][0]
                if due > owner.clock.time():
                    owner.clock.wait(self._cond, due)
                    continue
                _, _, delivery = heapq.heappop(self._heap)
                if owner.holds(delivery.source_region, delivery.target_region):
                    self._held.append(delivery)  # back in the heap when the fault ends
                    continue
                owner.applying.enter([delivery])  # before the lane's lock is let go
            owner.deliver(delivery)


class _Applying:
    """Deliveries taken from their lane and not yet settled, whoever applies them (a
    lane's thread, or a request catching its region up). A strong read waits for them
    all, not only for the ones it applies itself: two readers catching up the same item
    at once must both return the write."""

    def __init__(self) -> None:
        self._picked: dict[int, Delivery] = {}  # by Delivery.seq
        self._cond = threading.Condition()

    def enter(self, deliveries: Sequence[Delivery]) -> None:
        with self._cond:
            for d in deliveries:
                self._picked[d.seq] = d

    def leave(self, delivery: Delivery) -> None:
        with self._cond:
            self._picked.pop(delivery.seq, None)
            self._cond.notify_all()

    def busy(self) -> bool:
        with self._cond:
            return bool(self._picked)

    def wait(self, predicate: Callable[[Delivery], bool], timeout: float) -> bool:
        """Wait until no delivery ``predicate`` picks is being applied; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not any(predicate(d) for d in self._picked.values()), timeout)


class Replicator:
    """Schedules deliveries, applies them when due, and keeps the ground-truth log."""

    def __init__(self, apply: ApplyFn, lag: LagModel, *, seed: int | None = None,
                 log_limit: int = 100_000,
                 holds: Callable[[str, str], bool] = lambda source, target: False,
                 on_settled: Callable[[Delivery], None] | None = None,
                 health: Health | None = None, capacity: Capacity | None = None,
                 clock: Clock | None = None) -> None:
        self.lag = lag
        self.clock = clock or Clock()
        self.capacity = capacity or Capacity()  # a provisioned table queues replicated writes
        self.health = health or Health()
        self.holds = holds  # whether a (source, target) link is cut right now
        self._on_settled = on_settled  # told of each delivery once its outcome is logged
        self.stopped = False
        self.paused = False
        self._apply = apply
        self._rng = random.Random(seed)
        self._seq = itertools.count(1)
        self._lanes: dict[str, _Lane] = {}
        self._lanes_guard = threading.Lock()
        self._log: deque[Delivery] = deque(maxlen=log_limit)
        self._log_lock = threading.Lock()
        self.applying = _Applying()
        self._settled = threading.Condition()  # told whenever a delivery settles
        self.clock.add_stepper(self, self.wake)

    # -- scheduling ---------------------------------------------------------
    def schedule(self, *, account: str, table: str, key: dict[str, Any], ident: ItemKey,
                 source: str, targets: Sequence[str], image: dict[str, Any] | None,
                 stamp_ns: int, parent_ns: int | None = None) -> list[Delivery]:
        """Queue one delivery of a write to each target, each with its own lag, and
        behind the writes a provisioned target is still applying."""
        out = []
        units = write_units(image)
        for target in targets:
            arrives = stamp_ns / 1e9 + self.lag.sample_s(source, target, self._rng)
            due = self.capacity.admit(account, table, target, arrives, units)
            delivery = Delivery(next(self._seq), account, table, key, ident, source, target,
                                image, stamp_ns, due, parent_ns=parent_ns)
            out.append(delivery)
        self._enqueue(out)
        return out

    def fork(self, *, account: str, table: str, via: str, to: str) -> int:
        """Copy every pending delivery for ``via`` to ``to`` as well.

        A new replica is backfilled from ``via``; writes still on their way to
        ``via`` from other replicas must reach the new one too.
        """
        lane = self._lane(via)
        copies = [
            Delivery(next(self._seq), d.account, d.table, d.key, d.ident, d.source_region, to,
                     d.image, d.stamp_ns, d.due_at, parent_ns=d.parent_ns)
            for d in lane.pending()
            if d.account == account and d.table == table and d.source_region != to
        ]
        self._enqueue(copies)
        return len(copies)

    def drop(self, *, account: str, table: str, target: str) -> int:
        """Settle every pending delivery to a replica that is going away."""
        lane = self._lane(target)
        gone = lane.remove(lambda d: d.account == account and d.table == table)
        now = self.clock.time()
        with self._log_lock:
            for d in gone:
                d.outcome, d.applied_at = DROPPED, now
        return len(gone)

    def _enqueue(self, deliveries: Sequence[Delivery]) -> None:
        with self._log_lock:
            self._log.extend(deliveries)
        for d in deliveries:
            self._lane(d.target_region).push(d)

    def _lane(self, region: str) -> _Lane:
        with self._lanes_guard:
            lane = self._lanes.get(region)
            if lane is None:
                lane = self._lanes[region] = _Lane(region, self)
            return lane

    def deliver(self, delivery: Delivery) -> None:
        """Apply a delivery already entered in ``applying``, log it, and let it go."""
        try:
            try:
                outcome = self._apply(delivery)
            except Exception:  # a bug; keep the lane alive and the failure visible
                log.exception("applying %s failed", delivery.record())
                outcome = "failed"
            with self._log_lock:
                delivery.outcome, delivery.applied_at = outcome, self.clock.time()
        finally:
            self.applying.leave(delivery)
            with self._settled:
                self._settled.notify_all()
        if self._on_settled is not None:
            self._on_settled(delivery)

    def deliver_now(self, predicate: Callable[[Delivery], bool],
                    despite_holds: Callable[[Delivery], bool] | None = None) -> int:
        """Apply the pending deliveries ``predicate`` picks at once, in the calling thread,
        oldest write first (MRSC: a write reaching a quorum, a strong read catching up).
        A delivery held by a fault stays held, unless ``despite_holds`` says it may come
        another way. One that a lane or another caller is applying right now is waited
        for, so the caller must not hold the target region's lock."""
        count = 0

        def free(d: Delivery) -> bool:
            if despite_holds is not None and despite_holds(d):
                return True
            return not self.paused and not self.holds(d.source_region, d.target_region)

        for lane in self._all_lanes():
            picked = lane.remove(lambda d: predicate(d) and free(d), claim=True)
            for delivery in sorted(picked, key=lambda d: d.stamp_ns):
                self.deliver(delivery)
                count += 1
        if not self.applying.wait(predicate, SETTLE_TIMEOUT_S):
            log.error("a delivery took over %s s to apply", SETTLE_TIMEOUT_S)
        return count

    def deliver_next(self, count: int | None = None) -> int:
        """Apply the next ``count`` pending deliveries (all if None) in the calling thread,
        in the order the lanes would (due time, then sequence), paused or not; one that a
        fault holds stays held. Returns how many were applied."""
        waiting = sorted((d for lane in self._all_lanes() for d in lane.pending()
                          if not self.holds(d.source_region, d.target_region)),
                         key=lambda d: (d.due_at, d.seq))
        picked = {d.seq for d in (waiting if count is None else waiting[:count])}
        claimed = [d for lane in self._all_lanes()
                   for d in lane.remove(lambda d: d.seq in picked, claim=True)]
        for delivery in sorted(claimed, key=lambda d: (d.due_at, d.seq)):
            self.deliver(delivery)
        return len(claimed)

    # -- held time (the clock's stepper) ------------------------------------
    def _free(self, delivery: Delivery) -> bool:
        return not self.paused and not self.holds(delivery.source_region,
                                                  delivery.target_region)

    def next_due(self) -> float | None:
        """When the next delivery that could be applied now falls due (None: none)."""
        return min((d.due_at for lane in self._all_lanes() for d in lane.pending()
                    if self._free(d)), default=None)

    def run_due(self, now: float) -> None:
        """Apply every free delivery due by ``now``, in due order, in this thread."""
        due = {d.seq for lane in self._all_lanes() for d in lane.pending()
               if d.due_at <= now and self._free(d)}
        if not due:
            return
        claimed = [d for lane in self._all_lanes()
                   for d in lane.remove(lambda d: d.seq in due, claim=True)]
        for delivery in sorted(claimed, key=lambda d: (d.due_at, d.seq)):
            self.deliver(delivery)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending or being applied; False on timeout. Woken by each
        delivery that settles (the short wait also sees a lane emptied another way)."""
        deadline = time.monotonic() + timeout
        with self._settled:
            while self.pending_count() or self.applying.busy():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._settled.wait(min(left, 0.05))
        return True

    # -- control ------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.wake()

    def wake(self) -> None:
        """Every lane looks again at its held deliveries (a fault started or ended)."""
        for lane in self._all_lanes():
            lane.wake()

    def stop(self) -> None:
        self.stopped = True
        lanes = self._all_lanes()
        for lane in lanes:
            lane.wake()
        for lane in lanes:
            lane.join(2.0)

    def reset(self) -> None:
        """Forget every pending delivery and the log (for tests and ``/_gtbench/reset``)."""
        for lane in self._all_lanes():
            lane.clear()
        with self._log_lock:
            self._log.clear()
        self.capacity.clear()
        self.paused = False

    def _all_lanes(self) -> list[_Lane]:
        with self._lanes_guard:
            return list(self._lanes.values())

    # -- ground truth -------------------------------------------------------
    def pending_count(self) -> int:
        return sum(len(lane.pending()) for lane in self._all_lanes())

    def held_count(self) -> int:
        return sum(lane.held_count() for lane in self._all_lanes())

    def records(self, *, table: str | None = None, since: float | None = None,
                limit: int | None = None, images: bool = False) -> list[dict[str, Any]]:
        with self._log_lock:
            rows = [d.record(images) for d in self._log
                    if (table is None or d.table == table)
                    and (since is None or d.written_at >= since)]
        return rows[-limit:] if limit else rows

    def clear_log(self) -> int:
        """Forget settled deliveries; pending ones stay, so nothing in flight is lost."""
        with self._log_lock:
            kept = [d for d in self._log if d.applied_at is None]
            removed = len(self._log) - len(kept)
            self._log.clear()
            self._log.extend(kept)
        return removed
