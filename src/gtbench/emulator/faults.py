"""The emulator's nemesis: region outages, throttling and replication pauses.

Faults are declared over ``/_gtbench/faults`` (or ``gtbench local fault``) and end
when cleared or, with ``duration_s``, by themselves. Nothing here knows HTTP or
moto: the server asks what a request meets, the replicator asks what it must hold.

- outage of a region: its requests fail with HTTP 503 ``ServiceUnavailable``
  (``mode: error``) or a dropped connection (``mode: drop``), and replication to
  and from it is held until the outage ends; nothing is lost.
- throttle of a region (or of some of its operations): a share of its requests
  fail with ``ThrottlingException`` or ``ProvisionedThroughputExceededException``;
  in a BatchWriteItem, each item is throttled alone and comes back in
  ``UnprocessedItems``, as DynamoDB does.
- pause of a direction (source to target): its deliveries are held.
- isolate a region: what AWS FIS's ``aws:dynamodb:global-table-pause-replication``
  does. Replication to and from the region is held; on an MREC table the region
  goes on serving every request; on an MRSC table, cut off from every other
  participant, its writes and strongly consistent reads fail with HTTP 500
  ``InternalServerError`` (eventually consistent reads are served).
"""

from __future__ import annotations

import functools
import itertools
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from gtbench.emulator.clock import Clock, Timer
from gtbench.emulator.values import number, region

OUTAGE = "outage"
THROTTLE = "throttle"
PAUSE = "pause"
ISOLATE = "isolate"
OUTAGE_MODES = ("error", "drop")
THROTTLE_CODES = ("ThrottlingException", "ProvisionedThroughputExceededException")
THROTTLE_MESSAGES = {
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "ProvisionedThroughputExceededException":
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
}
MAX_DURATION_S = 86_400.0  # a fault that outlasts a day is a typo, not an experiment
ENDED_KEPT = 1000  # ended faults kept for the record, newest last
_FIELDS = {
    OUTAGE: {"kind", "region", "mode", "duration_s"},
    THROTTLE: {"kind", "region", "share", "code", "operations", "duration_s"},
    PAUSE: {"kind", "source", "target", "duration_s"},
    ISOLATE: {"kind", "region", "duration_s"},
}


@dataclass(frozen=True)
class Fault:
    id: int
    kind: str
    region: str | None = None  # outage, throttle
    source: str | None = None  # pause
    target: str | None = None  # pause
    mode: str | None = None  # outage: error or drop
    share: float | None = None  # throttle: the share of requests refused
    code: str | None = None  # throttle: the error they get
    operations: tuple[str, ...] | None = None  # throttle: only these calls (None: all)
    started_at: float = 0.0  # wall clock
    ends_at: float | None = None  # wall clock; None until cleared
    effective_at: float | None = None  # isolate with a FIS delay: when it takes hold

    def active(self, now: float) -> bool:
        if self.effective_at is not None and now < self.effective_at:
            return False
        return self.ends_at is None or now < self.ends_at

    def describe(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if v is not None}


def _region(spec: dict[str, Any], name: str) -> str:
    return region(spec.get(name), name)


def parse(spec: Any, fault_id: int, now: float) -> Fault:
    """A fault from its JSON declaration; ValueError (one sentence) if it is not one."""
    if not isinstance(spec, dict):
        raise ValueError("a fault is a JSON object with a kind")
    kind = spec.get("kind")
    if kind not in _FIELDS:
        raise ValueError(f"kind must be one of {', '.join(_FIELDS)}, not {kind!r}")
    unknown = sorted(set(spec) - _FIELDS[kind])
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} for a {kind} "
                         f"(fields: {', '.join(sorted(_FIELDS[kind]))})")
    duration = spec.get("duration_s")
    if duration is not None:
        duration = number(duration, "duration_s", low=0, high=MAX_DURATION_S, above=True)
    ends_at = now + duration if duration is not None else None
    if kind == OUTAGE:
        mode = spec.get("mode", "error")
        if mode not in OUTAGE_MODES:
            raise ValueError(f"mode must be one of {', '.join(OUTAGE_MODES)}, not {mode!r}")
        return Fault(fault_id, kind, region=_region(spec, "region"), mode=mode,
                     started_at=now, ends_at=ends_at)
    if kind == THROTTLE:
        share = number(spec.get("share", 1.0), "share", low=0, high=1, above=True)
        code = spec.get("code", THROTTLE_CODES[0])
        if code not in THROTTLE_CODES:
            raise ValueError(f"code must be one of {', '.join(THROTTLE_CODES)}, not {code!r}")
        operations = spec.get("operations")
        if operations is not None and (not isinstance(operations, list) or not operations
                                       or not all(isinstance(o, str) for o in operations)):
            raise ValueError("operations must be a list of DynamoDB operation names, such as "
                             f"[\"PutItem\", \"UpdateItem\"], not {operations!r}")
        unknown = sorted(set(operations or ()) - dynamodb_operations())
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a DynamoDB operation (such as PutItem, "
                             "UpdateItem, GetItem, Query)")
        return Fault(fault_id, kind, region=_region(spec, "region"), share=share,
                     code=code, operations=tuple(operations) if operations else None,
                     started_at=now, ends_at=ends_at)
    if kind == ISOLATE:
        return Fault(fault_id, kind, region=_region(spec, "region"), started_at=now,
                     ends_at=ends_at)
    source, target = _region(spec, "source"), _region(spec, "target")
    if source == target:
        raise ValueError("a pause needs two different regions")
    return Fault(fault_id, kind, source=source, target=target, started_at=now,
                 ends_at=ends_at)


class Faults:
    """The faults in force. ``on_change`` runs whenever one starts or ends, so held
    deliveries are looked at again."""

    def __init__(self, on_change: Callable[[], None] = lambda: None,
                 seed: int | None = None, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._faults: dict[int, Fault] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._on_change = on_change
        self._timers: dict[int, Timer] = {}
        # Rehearsing AWS FIS: an isolate fault takes hold after a random delay of up to
        # this many seconds (FIS: "up to 5 minutes") and lingers a little when removed
        # (its deny statements leave the resource policy only as the experiment ends).
        self.fis_delay_s = 0.0
        # Every fault that ended, as it was in force: the ground truth of when a cut took
        # hold and when it let go, which an experiment's record is judged against.
        self._ended: deque[Fault] = deque(maxlen=ENDED_KEPT)

    def add(self, spec: Any) -> Fault:
        with self._lock:
            fault = parse(spec, next(self._ids), self._clock.time())
            if fault.kind == ISOLATE and self.fis_delay_s > 0:
                fault = replace(fault, effective_at=fault.started_at
                                + self._rng.uniform(0, self.fis_delay_s))
                self._later(fault.effective_at, self._on_change)  # type: ignore[arg-type]
            self._faults[fault.id] = fault
            if fault.ends_at is not None:
                # Ends by itself: wake the replicator then, not at the next request.
                self._timers[fault.id] = self._later(fault.ends_at, self._expire, fault.id)
        self._on_change()
        return fault

    def _later(self, at: float, call: Callable[..., None], *args: Any) -> Timer:
        return self._clock.call_at(at, call, *args)

    def _expire(self, fault_id: int) -> None:
        with self._lock:
            fault = self._faults.pop(fault_id, None)
            self._timers.pop(fault_id, None)
            if fault is not None:
                self._ended.append(fault)
        self._on_change()

    def _end(self, fault: Fault, now: float) -> None:
        """Record ``fault`` as ended ``now`` (or at its own end, if that came first)."""
        ends = now if fault.ends_at is None else min(fault.ends_at, now)
        self._ended.append(replace(fault, ends_at=ends))

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            fault = self._faults.get(fault_id)
            now = self._clock.time()
            if (fault is not None and fault.effective_at is not None
                    and now >= fault.effective_at):
                # A FIS cut in force ends a little after it is asked to.
                ends = now + self._rng.uniform(0, min(1.0, self.fis_delay_s / 10))
                self._faults[fault_id] = replace(fault, ends_at=ends)
                old = self._timers.pop(fault_id, None)
                if old is not None:
                    old.cancel()
                self._timers[fault_id] = self._later(ends, self._expire, fault_id)
                return True
            gone = self._faults.pop(fault_id, None)
            if gone is not None:
                self._end(gone, now)
            timer = self._timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        if gone is not None:
            self._on_change()
        return gone is not None

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            now = self._clock.time()
            for fault in self._faults.values():
                self._end(fault, now)
            self._faults.clear()
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
        self._on_change()
        return count

    def _active(self) -> list[Fault]:
        now = self._clock.time()
        with self._lock:
            return [f for f in self._faults.values() if f.active(now)]

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self._active()]

    def ended(self) -> list[dict[str, Any]]:
        """The faults that ended, oldest first: each with ``started_at``, ``ends_at``
        (when it let go) and, for an isolate under a FIS delay, ``effective_at`` (when it
        took hold; after ``ends_at`` if it never did)."""
        with self._lock:
            return [f.describe() for f in self._ended]

    def reset(self) -> None:
        """End every fault and forget the ended ones: a fresh emulator's faults."""
        self.clear()
        with self._lock:
            self._ended.clear()

    def outage(self, region: str) -> Fault | None:
        return next((f for f in self._active() if f.kind == OUTAGE and f.region == region),
                    None)

    def isolated(self, region: str) -> bool:
        """Whether ``region``'s replication is cut off (an ``isolate`` fault)."""
        return any(f.kind == ISOLATE and f.region == region for f in self._active())

    def throttling(self, region: str, operation: str) -> Fault | None:
        return next((f for f in self._active() if f.kind == THROTTLE and f.region == region
                     and (f.operations is None or operation in f.operations)), None)

    def draw(self, share: float) -> bool:
        """One throttling decision: True with probability ``share``."""
        with self._lock:
            return self._rng.random() < share

    def holds(self, source: str, target: str) -> bool:
        """Whether a delivery from ``source`` to ``target`` must wait."""
        for f in self._active():
            if f.kind in (OUTAGE, ISOLATE) and f.region in (source, target):
                return True
            if f.kind == PAUSE and (f.source, f.target) == (source, target):
                return True
        return False


@functools.cache
def dynamodb_operations() -> frozenset[str]:
    """Every DynamoDB operation name, from botocore's service model (what a throttle
    may name)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    return frozenset(model.operation_names)
