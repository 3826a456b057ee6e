"""Who wrote an item last, and the locks that guard it: last-writer-wins stamps, the
clock that makes them, and one lock per region (moto's backends are plain dicts)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gtbench.emulator.clock import Clock
from gtbench.emulator.replication import ItemKey


class StampClock:
    """The emulator clock's nanoseconds, never repeated and never going back.

    The clock can return the same value twice (always, while a test holds it);
    last-writer-wins needs a strict order. Real time is the wall clock: the ground
    truth is compared with clients in other processes.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the last stamp (every stamped item is gone: the clock may go back)."""
        with self._lock:
            self._last = 0

    def now_ns(self) -> int:
        with self._lock:
            now = max(self._clock.time_ns(), self._last + 1)
            self._last = now
            return now


class RegionLocks:
    """One re-entrant lock per (account, region): moto's backends are plain dicts."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._guard = threading.Lock()

    def get(self, account: str, region: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault((account, region), threading.RLock())

    @contextmanager
    def hold(self, account: str, *regions: str) -> Iterator[None]:
        # A fixed order, so two callers holding two regions cannot deadlock.
        locks = [self.get(account, r) for r in sorted(set(regions))]
        for lock in locks:
            lock.acquire()
        try:
            yield
        finally:
            for lock in reversed(locks):
                lock.release()


class Stamps:
    """The last-writer-wins stamp of every replicated item, per region (tombstones too).

    Read and written only under the region lock of the region concerned.
    """

    def __init__(self) -> None:
        self._stamps: dict[tuple[str, str, str, ItemKey], int] = {}

    def get(self, account: str, region: str, table: str, ident: ItemKey) -> int | None:
        return self._stamps.get((account, region, table, ident))

    def set(self, account: str, region: str, table: str, ident: ItemKey, stamp: int) -> None:
        self._stamps[(account, region, table, ident)] = stamp

    def of_table(self, account: str, region: str, table: str) -> dict[ItemKey, int]:
        return {k[3]: v for k, v in list(self._stamps.items())
                if k[0] == account and k[1] == region and k[2] == table}

    def forget_table(self, account: str, region: str, table: str) -> None:
        for k in [k for k in list(self._stamps) if k[:3] == (account, region, table)]:
            del self._stamps[k]

    def clear(self) -> None:
        self._stamps.clear()
