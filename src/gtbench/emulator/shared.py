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

from collections.abc import Callable
from typing import Any

from gtbench.emulator.clock import Clock
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
    """Calls ``sweep`` every ``period_s`` seconds of the emulator's clock, until stopped
    (held, on ``advance``). The period can change while it runs (``/_gtbench/config``)."""

    def __init__(self, sweep: Callable[[], None], period_s: float, clock: Clock,
                 name: str = "gtbench-ttl", health: Health | None = None) -> None:
        self.period_s = period_s
        self._clock = clock
        self._sweep = (health or Health()).guard(name, sweep)
        self._timer = clock.call_every(lambda: self.period_s, self._sweep)

    def set_period(self, period_s: float) -> None:
        """From now on: the next sweep is ``period_s`` from now (also after the clock
        was reset, which would leave a sweep timed in a future that is gone)."""
        self.period_s = period_s
        self._timer.cancel()
        self._timer = self._clock.call_every(lambda: self.period_s, self._sweep)

    def stop(self) -> None:
        self._timer.cancel()
