"""Multi-Region strong consistency (MRSC): the rules AWS applies, and in-flight writes.

A table becomes MRSC in one UpdateTable: two ReplicaUpdates Create entries, or one
and a GlobalTableWitnessUpdates Create, with ``MultiRegionConsistency="STRONG"``, on
an empty single-region table; exactly three regions from the set MRSC supports.
The mode never changes, no replica is added later, and a single replica or the
witness cannot be removed; removing two members leaves a single-region table.

Writes return once another participant has the change (one round trip to the
nearest), strong reads return the latest acknowledged write (the same round trip),
and a write to an item that another region is still writing is refused with
``ReplicatedWriteConflictException``. Nothing here knows HTTP or moto.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from gtbench.emulator.distance import measured_rtt_ms

DEFAULT_RTT_MS = 30.0  # a pair the measured table lacks; said in the emulator's status
CONFLICT_MESSAGE = ("The request was rejected because one or more items in the request are "
                    "being modified by a request in another Region.")


def rtt_ms(a: str, b: str, overrides: dict[tuple[str, str], float] | None = None) -> float:
    """The round trip between two participants: configured, else measured, else a default."""
    for pair in ((a, b), (b, a)):
        if overrides and pair in overrides:
            return overrides[pair]
    measured = measured_rtt_ms(a, b)
    return DEFAULT_RTT_MS if measured is None else measured


def nearest(region: str, participants: Iterable[str],
            overrides: dict[tuple[str, str], float] | None = None) -> tuple[str, float]:
    """The nearest other participant of ``region`` and the round trip to it."""
    others = [(rtt_ms(region, p, overrides), p) for p in participants if p != region]
    ms, peer = min(others)
    return peer, ms


class InFlight:
    """Items being written, by which region, until when: the conflict window. Several
    writes from one region may hold an item at once (they are not conflicts); the item
    is free for another region only when the last of them has returned."""

    def __init__(self) -> None:
        self._writes: dict[Hashable, dict[int, tuple[str, float]]] = {}
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()

    def claim(self, items: Sequence[Hashable], region: str, until: float) -> int | None:
        """Take ``items`` for ``region`` until ``until`` (monotonic): a token to release
        them with, or None (nothing taken) if another region is still writing one."""
        now = time.monotonic()
        with self._lock:
            for item in items:
                for held_region, held_until in self._writes.get(item, {}).values():
                    if held_region != region and held_until > now:
                        return None
            token = next(self._tokens)
            for item in items:
                self._writes.setdefault(item, {})[token] = (region, until)
            return token

    def release(self, items: Sequence[Hashable], token: int) -> None:
        with self._lock:
            for item in items:
                holders = self._writes.get(item)
                if holders is not None:
                    holders.pop(token, None)
                    if not holders:
                        del self._writes[item]

    def held(self) -> int:
        """How many items are being written now (for tests that stage a conflict)."""
        with self._lock:
            return len(self._writes)

    def clear(self) -> None:
        with self._lock:
            self._writes.clear()


def describe_witnesses(witness: str | None, status: str) -> list[dict[str, Any]]:
    return [{"RegionName": witness, "WitnessStatus": status}] if witness else []


class Committed:
    """MRSC writes committed, by (account, table, item, stamp): applied in their region
    and on their way to the nearest participant, so every strong read from then on
    returns them, and a region catching up takes them past a fault. Bounded: a write
    older than the newest ``limit`` has long been delivered everywhere it can be."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._keys: dict[Hashable, None] = {}
        self._lock = threading.Lock()

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._keys[key] = None
            while len(self._keys) > self.limit:
                del self._keys[next(iter(self._keys))]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


class StrongState:
    """What an emulator's MRSC side remembers: the items being written, the writes
    committed, and the log of strong writes (commits and refused conflicts)."""

    def __init__(self, log_limit: int) -> None:
        self.inflight = InFlight()
        self.committed = Committed()
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._log_lock = threading.Lock()

    def record(self, entries: Iterable[dict[str, Any]]) -> None:
        with self._log_lock:
            self._log.extend(entries)

    def entries(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._log)

    def clear(self) -> None:
        self.inflight.clear()
        self.committed.clear()
        with self._log_lock:
            self._log.clear()
