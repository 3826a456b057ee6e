"""Before a run: every writer has the table and every reader is an ACTIVE replica of it
(and whether the table is strongly consistent), and each region's read round trip (the
instrument's resolution). Shared by every experiment; knows none of them."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from gtbench import analysis
from gtbench.awsrules import EVENTUAL, STRONG, Consistency
from gtbench.errors import GtbenchError
from gtbench.experiments import polling
from gtbench.regions import Regions, Settings
from gtbench.tables import provision

Pair = tuple[str, str]
# A key no experiment writes: the round trip is timed on reads of nothing.
RESOLUTION_KEY = {"PK": {"S": "gtbench-race"}, "SK": {"S": "resolution"}}


def existing(regions: Regions, settings: Settings, region: str) -> dict[str, Any]:
    """The table's description in ``region``; one line saying how to make it if it is
    not there."""
    description = provision.describe(regions.client(region), settings.table)
    if description is None:
        raise GtbenchError(f"table {settings.table} does not exist in {region}",
                           hint="create it with `gtbench setup`")
    return description


def check_pairs(regions: Regions, settings: Settings, pairs: Sequence[Pair]) -> Consistency:
    """Every writer has the table, and every reader is an ACTIVE replica of it. Returns
    the table's MultiRegionConsistency (EVENTUAL unless AWS says STRONG)."""
    consistency: Consistency = EVENTUAL
    for source, target in pairs:
        description = existing(regions, settings, source)
        replicas = provision.replica_entries(description, source)
        replica = replicas.get(target)
        if replica is None:
            # Say what the table has: a table made for other regions (MRSC's default
            # three) is the usual cause, and the fix is to name them.
            held = ",".join([source, *sorted(r for r in replicas if r != source)])
            raise GtbenchError(f"{target} is not a replica of {settings.table} in {source} "
                               f"(its regions: {held.replace(',', ', ')})",
                               hint=f"run with `--regions {held}`, or add {target} with "
                                    f"`gtbench setup --regions {','.join(settings.regions)}`")
        if replica.get("ReplicaStatus") != "ACTIVE":
            raise GtbenchError(f"the replica in {target} is {replica.get('ReplicaStatus')}, "
                               "not ACTIVE", hint="wait for it with `gtbench setup`")
        if description.get("MultiRegionConsistency") == STRONG:
            consistency = STRONG
    return consistency


def round_trips_s(regions: Regions, table: str, names: Sequence[str],
                  pool: Executor) -> dict[str, float]:
    """``round_trip_s`` of every region in ``names``, all at once: each is its own
    endpoint on AWS, and a far region's reads (or an MRSC table's strong reads, a trip
    to the peer each) take seconds."""
    times = pool.map(lambda r: round_trip_s(regions.reader(r), table, r), names)
    return dict(zip(names, times, strict=True))


def round_trip_s(client: Any, table: str, region: str, samples: int = 15) -> float:
    """Median GetItem round trip: the instrument's resolution in that region."""
    reads = [polling.read_op(client, table, region, RESOLUTION_KEY, 0)
             for _ in range(samples)]
    times = [(r.received_ns - r.sent_ns) / analysis.NS for r in reads if r.ok]
    if not times:
        raise GtbenchError(f"every read in {region} failed ({reads[-1].error})",
                           hint="check the region with `gtbench status`")
    return analysis.percentile(times, 50)
