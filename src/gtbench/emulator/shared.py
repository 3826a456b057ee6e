"""Settings that replicas share, and the TTL sweeper.

AWS synchronizes some table settings to every replica of a global table (capacity
mode, write capacity, global secondary indexes created or deleted later, streams,
TTL, encryption, warm throughput) and keeps others per replica (table class,
deletion protection, tags, point-in-time recovery). moto knows nothing of
replicas, so the emulator replays the shared part of each such change in every
other replica. TTL deletions happen in one region and replicate like any write.
Nothing here knows HTTP or moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gtbench.emulator.health import Health

# UpdateTable fields that reach every replica; the rest stay where they were sent.
SYNCED_UPDATE_FIELDS = ("AttributeDefinitions", "GlobalSecondaryIndexUpdates", "BillingMode",
                        "ProvisionedThroughput", "StreamSpecification", "SSESpecification",
                        "OnDemandThroughput", "WarmThroughput")
SYNCED_OPERATIONS = frozenset({"UpdateTable", "UpdateTimeToLive"})


def synced_part(op: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a settings change every replica receives, or None if there is none."""
    if op == "UpdateTimeToLive":
        return payload
    shared = {k: v for k, v in payload.items() if k in SYNCED_UPDATE_FIELDS}
    return {"TableName": payload.get("TableName"), **shared} if shared else None


class TtlSweeper:
    """Calls ``sweep`` every ``period_s`` seconds on a thread of its own, until stopped.
    The period can change while it runs (``/_gtbench/config``)."""

    def __init__(self, sweep: Callable[[], None], period_s: float,
                 name: str = "gtbench-ttl", health: Health | None = None) -> None:
        self.period_s = period_s
        self._sweep = sweep
        self._stop = threading.Event()
        self._wake = threading.Event()
        target = (health or Health()).guard(name, self._run)
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def set_period(self, period_s: float) -> None:
        self.period_s = period_s
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.period_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._sweep()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(2.0)
