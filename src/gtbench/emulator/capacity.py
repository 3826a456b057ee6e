"""Write capacity: what a provisioned global table rehearses about replication under
load.

AWS gives every replica of a global table one write capacity: a replica's own
setting (``ProvisionedThroughputOverride``) covers reads only, CloudFormation's
``WriteProvisionedThroughputSettings`` "will be applied to all replicas", and
"Monitoring global tables" asks for identical write capacity in every replica. A
replicated write consumes write capacity in the replica it reaches, like any write
there; a replica with too little falls behind, and ReplicationLatency grows
(developer guide, "Monitoring global tables"; knowledge center, "replication delay
global table dynamodb"). On-demand tables scale: a new one takes up to 4,000 write
units a second at once when its writes spread over partitions ("Pre-warming a table
for on-demand capacity mode"); the emulator sustains a few hundred writes a second,
so an on-demand replica here never falls behind for capacity.

The model: with ``wcu`` set, each replica of each replicated table (account, table,
region) is one server of ``wcu`` write units a second. A client's write is taken if
the server is less than a second behind (a second's worth may burst; AWS's burst
capacity is best effort and not counted on), else refused with
``ProvisionedThroughputExceededException``, as AWS refuses writes beyond capacity.
A replicated write is never refused: it waits its turn, so a replica that takes its
own writes beside the replicated ones falls behind. With one writing region, the
source refuses writes before a replica can fall behind: that is what AWS's equal
capacities imply.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping
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


BURST_S = 1.0  # a client's write is taken while its replica is at most this far behind
OVER_CAPACITY_MESSAGE = ("The level of configured provisioned throughput for the table was "
                         "exceeded. Consider increasing your provisioning level with the "
                         "UpdateTable API.")


def _take(free_at: dict[Any, float], where: Any, now: float, units: int,
          wcu: float) -> bool:
    """A client's write of ``units`` to the server ``where`` (free at ``free_at[where]``,
    ``wcu`` units a second): taken and counted while the server is at most a second
    behind, else refused. The caller holds the lock over ``free_at``."""
    free = free_at.get(where, 0.0)
    if free - now > BURST_S:
        return False
    free_at[where] = max(free, now) + units / wcu
    return True


PARTITION_WCU = 1000.0  # AWS: a partition takes at most 1,000 write units a second
HOT_KEY_MESSAGE = ("Throughput exceeds the current capacity for one or more partitions of "
                   "your table. Spread writes over more partition keys (gtbench emulator: "
                   "one partition key value took more than its partition's write units "
                   "a second)")


class KeyRanges:
    """What one partition takes: ``wcu`` write units a second for each partition key
    value (a second's worth bursts), on-demand or provisioned alike. AWS's partition
    holds many keys, so a value alone meeting the limit is the least AWS refuses."""

    def __init__(self, wcu: float = PARTITION_WCU) -> None:
        self._lock = threading.Lock()
        self.wcu = wcu
        self._free_at: dict[tuple[str, str, str, str], float] = {}

    def take(self, account: str, table: str, region: str, key: str, now: float,
             units: int) -> bool:
        """Whether a client's write of ``units`` to partition key value ``key`` fits."""
        with self._lock:
            if len(self._free_at) > 100_000:  # forget the idle keys: memory stays bounded
                self._free_at = {k: t for k, t in self._free_at.items() if t > now}
            return _take(self._free_at, (account, table, region, key), now, units, self.wcu)

    def clear(self) -> None:
        with self._lock:
            self._free_at.clear()


class Capacity:
    """One write capacity for every replica of every replicated table (None:
    on-demand, unlimited here), and when each replica is next free."""

    def __init__(self, wcu: float | None = None) -> None:
        self._lock = threading.Lock()
        self._wcu: float | None = None
        self._free_at: dict[tuple[str, str, str], float] = {}
        self.set(wcu)

    @property
    def wcu(self) -> float | None:
        return self._wcu

    def set(self, wcu: float | None) -> None:
        """Give every replica ``wcu`` write units a second, or make every one on-demand
        again (None). Writes already queued keep their turn."""
        with self._lock:
            self._wcu = None if wcu is None else number(wcu, "wcu", low=0.1, high=MAX_WCU)

    def admit(self, account: str, table: str, region: str, arrives_at: float,
              units: int) -> float:
        """When a replicated write that reaches the replica at ``arrives_at`` is applied:
        at once if on-demand or idle, else after the writes ahead of it."""
        with self._lock:
            if self._wcu is None:
                return arrives_at
            key = (account, table, region)
            starts = max(arrives_at, self._free_at.get(key, 0.0))
            self._free_at[key] = starts + units / self._wcu
            return starts

    def take(self, account: str, table: str, region: str, now: float, units: int) -> bool:
        """Whether a client's write of ``units`` is within the replica's capacity (it is
        then counted); False: refused, as AWS refuses writes beyond capacity."""
        with self._lock:
            return self._wcu is None or _take(self._free_at, (account, table, region), now,
                                              units, self._wcu)

    def backlog_s(self, now: float) -> dict[str, float]:
        """Per region, how far behind its busiest replica is (0: keeping up)."""
        with self._lock:
            out: dict[str, float] = {}
            for (_, _, region), free in self._free_at.items():
                out[region] = max(out.get(region, 0.0), free - now, 0.0)
            return out

    def clear(self) -> None:
        """Forget the queues (the capacity stays, as the lag does)."""
        with self._lock:
            self._free_at.clear()

    def describe(self, now: float, regions: Iterable[str] = ()) -> dict[str, Any]:
        """``wcu``: each replica region's write capacity (the same for all; {} when
        on-demand); ``table_wcu``: that one figure; ``backlog_s`` per region."""
        wcu = self._wcu
        backlog = self.backlog_s(now)
        return {"wcu": {r: wcu for r in sorted({*regions, *backlog})} if wcu else {},
                "table_wcu": wcu, "backlog_s": backlog}
