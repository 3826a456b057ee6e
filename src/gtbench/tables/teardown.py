"""Teardown of a global table gtbench made: replicas first, then the table; only what
carries gtbench's tag (``--force`` to override), and deletion protection lifted only
where gtbench set it. Reads the state before acting, so a run cut short can be
repeated to finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from gtbench.awsrules import STRONG
from gtbench.errors import GtbenchError
from gtbench.probes.handler import LOAD_PARTITIONS, load_pk
from gtbench.regions import Regions, Settings
from gtbench.tables.provision import (
    OWNER_TAG,
    PROTECTION_TAG,
    Reporter,
    Timing,
    describe,
    replica_entries,
    replica_gone,
    table_active,
    tags_of,
    wait_for,
)


@dataclass
class TeardownPlan:
    table: str
    home: str
    arn: str
    replicas: list[str]
    owned: bool
    protected: bool
    protection_ours: bool
    strong: bool = False
    witness: str | None = None
    # Deletion protection is each replica's own (never synchronized): the replicas that
    # have it, and whether gtbench set it there (its tag on that replica).
    replica_protection: dict[str, bool] = field(default_factory=dict)


def strong_removal(plan: TeardownPlan) -> dict[str, Any]:
    """The one UpdateTable that dissolves an MRSC table: AWS refuses to remove a single
    replica or the witness, so every replica and the witness leave in the same call."""
    params: dict[str, Any] = {
        "TableName": plan.table,
        "ReplicaUpdates": [{"Delete": {"RegionName": r}} for r in plan.replicas]}
    if plan.witness:
        params["GlobalTableWitnessUpdates"] = [{"Delete": {"RegionName": plan.witness}}]
    return params


def plan(regions: Regions, settings: Settings, *, force: bool) -> TeardownPlan:
    description = describe(regions.home, settings.table)
    if description is None:
        raise GtbenchError(f"table {settings.table} does not exist in {settings.home}",
                           hint="check --table and --regions (the first is the home region)")
    tags = tags_of(regions.home, description["TableArn"])
    owned = OWNER_TAG in tags
    protected = bool(description.get("DeletionProtectionEnabled"))
    witnesses = [w["RegionName"] for w in description.get("GlobalTableWitnesses", [])]
    plan = TeardownPlan(settings.table, settings.home, description["TableArn"],
                        list(replica_entries(description, settings.home)), owned, protected,
                        tags.get(PROTECTION_TAG) == "set",
                        description.get("MultiRegionConsistency") == STRONG,
                        witnesses[0] if witnesses else None)
    if not owned and not force:
        raise GtbenchError(f"table {settings.table} was not created by gtbench (no "
                           f"{OWNER_TAG} tag); refusing to delete it",
                           hint="pass --force to delete it anyway")
    if protected and not plan.protection_ours and not force:
        raise GtbenchError(f"table {settings.table} has deletion protection that gtbench did "
                           "not set; refusing to turn it off", hint="pass --force to do so")
    for region in plan.replicas:
        replica = describe(regions.client(region), settings.table)
        if replica is None or not replica.get("DeletionProtectionEnabled"):
            continue
        ours = tags_of(regions.client(region), replica["TableArn"]).get(PROTECTION_TAG) == "set"
        if not ours and not force:
            raise GtbenchError(f"the replica of {settings.table} in {region} has deletion "
                               "protection that gtbench did not set; refusing to turn it off "
                               "(nothing was removed)", hint="pass --force to do so")
        plan.replica_protection[region] = ours
    return plan


SOURCE_REGION_HELP = (
    "AWS keeps a replica that served as the source for a replica added in the last 24 "
    "hours. Wait until 24 hours after the newest replica was added, then run teardown "
    "again; what was already removed stays removed."
)


def run(regions: Regions, settings: Settings, plan: TeardownPlan, *,
        timing: Timing | None = None, reporter: Reporter | None = None) -> None:
    timing = timing or Timing()
    reporter = reporter or Reporter()
    home = regions.home
    # Every member's protection goes first, so nothing is removed if one cannot be lifted.
    for region in [plan.home] * plan.protected + list(plan.replica_protection):
        reporter.step(f"turning off deletion protection in {region}")
        regions.client(region).update_table(TableName=plan.table,
                                            DeletionProtectionEnabled=False)
        wait_for("deletion protection off", table_active(plan.home), regions, settings,
                 timing, reporter)
    # Watch the regions the table really has, whatever --regions said.
    actual = Settings(settings.target, settings.endpoint_url, (plan.home, *plan.replicas),
                      plan.table, settings.profile)
    if plan.strong:
        # MRSC members leave two at a time: every replica (and the witness) in one call.
        wait_for("table ready for a replica update", table_active(plan.home), regions,
                 actual, timing, reporter)
        gone = ", ".join(plan.replicas) + (f" and witness {plan.witness}"
                                           if plan.witness else "")
        reporter.step(f"removing replicas {gone} together")
        try:
            home.update_table(**strong_removal(plan))
        except ClientError as exc:
            # AWS documents the 24-hour source rule for MREC replicas only; should it
            # refuse an MRSC table's dissolution the same way, say so the same way.
            if "acted as a source" in exc.response["Error"].get("Message", ""):
                raise GtbenchError(f"AWS will not yet remove the replicas {gone}: "
                                   f"{SOURCE_REGION_HELP}") from exc
            raise
        for region in plan.replicas:
            wait_for(f"replica {region} removed", replica_gone(region, plan.home), regions,
                     actual, timing, reporter)
    for region in reversed(plan.replicas if not plan.strong else []):
        wait_for("table ready for a replica update", table_active(plan.home), regions,
                 actual, timing, reporter)
        reporter.step(f"removing replica {region}")
        try:
            home.update_table(TableName=plan.table,
                              ReplicaUpdates=[{"Delete": {"RegionName": region}}])
        except ClientError as exc:
            message = exc.response["Error"].get("Message", "")
            if "acted as a source" in message:
                raise GtbenchError(f"AWS will not yet remove the replica in {region}: "
                                   f"{SOURCE_REGION_HELP}") from exc
            raise
        wait_for(f"replica {region} removed", replica_gone(region, plan.home), regions,
                 actual, timing, reporter)
    reporter.step(f"deleting table {plan.table} in {plan.home}")
    home.delete_table(TableName=plan.table)
    home.get_waiter("table_not_exists").wait(
        TableName=plan.table,
        WaiterConfig={"Delay": max(1, round(timing.poll_s)),
                      "MaxAttempts": max(1, int(timing.timeout_s / max(timing.poll_s, 1)))})


# The partitions gtbench's runs write into a table: race, conflict, outage (with its
# heartbeats), load (its round-trip item, and its writes spread over partitions), and
# every run's marker. The workshop's own items are elsewhere.
RUN_PARTITIONS = ("gtbench-race", "gtbench-conflict", "gtbench-outage", "gtbench-load",
                  *(load_pk(n) for n in range(LOAD_PARTITIONS)), "gtbench-runs")


def run_items(client: Any, table: str) -> dict[str, list[dict[str, Any]]]:
    """The keys of every item gtbench's runs left in ``table`` (in ``client``'s region),
    by partition."""
    found: dict[str, list[dict[str, Any]]] = {}
    for pk in RUN_PARTITIONS:
        keys: list[dict[str, Any]] = []
        for page in client.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ProjectionExpression="PK, SK", ConsistentRead=True):
            keys += page.get("Items", [])
        if keys:
            found[pk] = keys
    return found


def remove_run_items(client: Any, table: str, keys: list[dict[str, Any]]) -> int:
    """Delete ``keys`` in 25-key batches (unprocessed ones sent again); how many."""
    from gtbench.tables import batch

    return sum(batch.write_chunk(client, table, chunk, delete=True)
               for chunk in batch.chunks(keys, batch.WRITE_BATCH))
