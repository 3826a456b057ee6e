"""Replica write capacity: what a provisioned replica rehearses about replication under
load.

On AWS a replicated write consumes write capacity in the replica it reaches, like any
write there; a replica with too little capacity falls behind, and ReplicationLatency
grows (DynamoDB developer guide, "Monitoring global tables"; AWS knowledge center,
"replication delay global table dynamodb"). On-demand replicas scale: a new on-demand
table takes up to 4,000 write request units per second at once and double its
previous peak within 30 minutes, up to the table's throughput quota (40,000 by
default) (developer guide, "DynamoDB on-demand capacity mode"; knowledge center,
"on-demand table throttling dynamodb"). The emulator sustains a few hundred writes
per second, far below 4,000, so an on-demand replica here never falls behind for
capacity.

A provisioned replica is modelled as one server per (account, table, region) that
applies replicated writes at ``wcu`` write units per second, in arrival order: a
write that arrives while the replica is busy waits its turn. Burst capacity is not
modelled: AWS gives it "on a best-effort basis" and advises not to count on it.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from typing import Any

from gtbench.emulator.values import number

UNIT_BYTES = 1024  # one write unit per KB of item, rounded up
MAX_WCU = 40_000.0  # the default table throughput quota


def write_units(image: Mapping[str, Any] | None) -> int:
    """Write units a replicated write costs: 1 per KB of the item (a deletion: 1).
    The item's size is approximated as attribute names plus values as sent on the wire,
    which is at least DynamoDB's own count."""
    if not image:
        return 1
    size = sum(len(name.encode()) + len(json.dumps(value, separators=(",", ":")).encode())
               for name, value in image.items())
    return max(1, math.ceil(size / UNIT_BYTES))


class Capacity:
    """Write capacity per replica region (absent: on-demand, unlimited here), and when
    each replica is next free to apply a replicated write."""

    def __init__(self, wcu: Mapping[str, float] | None = None) -> None:
        self._lock = threading.Lock()
        self._wcu: dict[str, float] = {}
        self._free_at: dict[tuple[str, str, str], float] = {}
        for region, units in (wcu or {}).items():
            self.set(region, units)

    def set(self, region: str, wcu: float | None) -> None:
        """Give each table's replica in ``region`` ``wcu`` units per second, or make it
        on-demand again (None). Writes already queued keep their turn."""
        with self._lock:
            if wcu is None:
                self._wcu.pop(region, None)
            else:
                self._wcu[region] = number(wcu, f"wcu {region}", low=0.1, high=MAX_WCU)

    def on_demand(self) -> None:
        """Every replica on-demand again."""
        with self._lock:
            self._wcu.clear()

    def admit(self, account: str, table: str, region: str, arrives_at: float,
              units: int) -> float:
        """When a replicated write that reaches the replica at ``arrives_at`` is applied:
        at once if it is on-demand or idle, else after the writes ahead of it."""
        with self._lock:
            wcu = self._wcu.get(region)
            if wcu is None:
                return arrives_at
            key = (account, table, region)
            starts = max(arrives_at, self._free_at.get(key, 0.0))
            self._free_at[key] = starts + units / wcu
            return starts

    def backlog_s(self, now: float) -> dict[str, float]:
        """Per region, how far behind its busiest provisioned replica is (0: keeping up)."""
        with self._lock:
            out = {region: 0.0 for region in self._wcu}
            for (_, _, region), free in self._free_at.items():
                if region in out:
                    out[region] = max(out[region], free - now)
            return out

    def clear(self) -> None:
        """Forget the queues (the configured capacities stay, as the lag does)."""
        with self._lock:
            self._free_at.clear()

    def describe(self, now: float) -> dict[str, Any]:
        with self._lock:
            wcu = dict(self._wcu)
        return {"wcu": wcu, "backlog_s": self.backlog_s(now)}
