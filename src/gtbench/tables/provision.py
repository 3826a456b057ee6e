"""Setup, status and teardown of the global table: the side effects, without the UI.

Each step reads the current state from DescribeTable before acting, so any run
can be interrupted and the same command run again to finish the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from gtbench import __version__
from gtbench.awsrules import STRONG
from gtbench.errors import GtbenchError
from gtbench.regions import Regions, Settings
from gtbench.tables import batch, dataset

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        KeySchemaElementTypeDef,
        TagTypeDef,
    )

OWNER_TAG = "gtbench:created-by"
# What a region not enabled for the account answers to valid credentials.
OPT_IN_CODES = frozenset({"UnrecognizedClientException", "InvalidClientTokenId",
                          "AuthFailure"})
PROTECTION_TAG = "gtbench:deletion-protection"
KEY_SCHEMA: list[KeySchemaElementTypeDef] = [{"AttributeName": "PK", "KeyType": "HASH"},
                                              {"AttributeName": "SK", "KeyType": "RANGE"}]
ATTRIBUTES: list[AttributeDefinitionTypeDef] = [{"AttributeName": "PK", "AttributeType": "S"},
                                                {"AttributeName": "SK", "AttributeType": "S"}]


@dataclass(frozen=True)
class RegionState:
    """One region's view of the global table at one poll."""

    region: str
    table_status: str | None  # None: no table in that region
    replica_status: str | None = None  # as the home region reports it
    progress: str | None = None


class Reporter:
    """What provisioning tells the user while it works. The base class stays silent."""

    def step(self, message: str) -> None:
        """A step begins or ends."""

    def poll(self, title: str, states: Sequence[RegionState], elapsed: float) -> None:
        """One round of a wait: the current state of every region."""

    def wait_over(self) -> None:
        """The wait that ``poll`` was reporting has ended."""

    def progress(self, title: str, done: int, total: int) -> None:
        """Progress of a counted job, such as seeding."""


@dataclass(frozen=True)
class Timing:
    """How long to wait and how often to look: minutes on AWS, moments locally."""

    timeout_s: float = 3600.0
    poll_s: float = 5.0


# -- reading state ------------------------------------------------------------------------

def describe(client: Any, table: str) -> dict[str, Any] | None:
    try:
        description: dict[str, Any] = client.describe_table(TableName=table)["Table"]
        return description
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def replica_entries(description: dict[str, Any], own_region: str) -> dict[str, dict[str, Any]]:
    """Replicas other than ``own_region`` (AWS lists the others; tolerate both forms)."""
    return {r["RegionName"]: r for r in description.get("Replicas", [])
            if r["RegionName"] != own_region}


def tags_of(client: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        response = client.list_tags_of_resource(**kwargs)
        tags.update({t["Key"]: t["Value"] for t in response.get("Tags", [])})
        if not response.get("NextToken"):
            return tags
        kwargs["NextToken"] = response["NextToken"]


def check_keys(description: dict[str, Any], table: str) -> None:
    attrs = {a["AttributeName"]: a["AttributeType"]
             for a in description.get("AttributeDefinitions", [])}
    schema = [(k["AttributeName"], k["KeyType"]) for k in description["KeySchema"]]
    if schema != [("PK", "HASH"), ("SK", "RANGE")] or attrs.get("PK") != "S" \
            or attrs.get("SK") != "S":
        found = ", ".join(f"{n} {t} ({attrs.get(n, '?')})" for n, t in schema)
        raise GtbenchError(f"table {table} exists with other keys ({found}); gtbench needs "
                           "PK (string, HASH) and SK (string, RANGE)",
                           hint="choose another name with --table")


def states(regions: Regions, settings: Settings) -> list[RegionState]:
    """Every configured region's state, from DescribeTable in each region."""
    home = describe(regions.home, settings.table)
    if home is None:
        return [RegionState(r, None) for r in settings.regions]
    replicas = replica_entries(home, settings.home)
    out = [RegionState(settings.home, home["TableStatus"])]
    for region in settings.replicas:
        entry = replicas.get(region)
        own = describe(regions.client(region), settings.table) if entry else None
        out.append(RegionState(region, own["TableStatus"] if own else None,
                               entry.get("ReplicaStatus") if entry else None,
                               entry.get("ReplicaStatusPercentProgress") if entry else None))
    return out


def wait_for(title: str, done: Callable[[list[RegionState]], bool], regions: Regions,
             settings: Settings, timing: Timing, reporter: Reporter) -> list[RegionState]:
    """Poll every region until ``done`` holds, reporting each round, or fail at the deadline."""
    started = time.monotonic()
    try:
        while True:
            current = states(regions, settings)
            elapsed = time.monotonic() - started
            reporter.poll(title, current, elapsed)
            if done(current):
                return current
            if elapsed > timing.timeout_s:
                raise GtbenchError(
                    f"{title}: not done after {timing.timeout_s:.0f} s",
                    hint="AWS carries on; run the same command again to keep waiting, or "
                         "raise --wait-timeout")
            time.sleep(timing.poll_s)
    finally:
        reporter.wait_over()


def table_active(region: str) -> Callable[[list[RegionState]], bool]:
    return lambda s: any(x.region == region and x.table_status == "ACTIVE" for x in s)


def replica_ready(region: str, home: str) -> Callable[[list[RegionState]], bool]:
    def ready(current: list[RegionState]) -> bool:
        by_region = {x.region: x for x in current}
        return (by_region[home].table_status == "ACTIVE"
                and by_region[region].replica_status == "ACTIVE"
                and by_region[region].table_status == "ACTIVE")
    return ready


def replica_gone(region: str, home: str) -> Callable[[list[RegionState]], bool]:
    def gone(current: list[RegionState]) -> bool:
        by_region = {x.region: x for x in current}
        return (by_region[home].table_status == "ACTIVE"
                and by_region[region].replica_status is None
                and by_region[region].table_status is None)
    return gone


# -- setup --------------------------------------------------------------------------------

@dataclass
class SetupResult:
    created: bool
    owned: bool
    replicas_added: list[str] = field(default_factory=list)
    items_written: int = 0
    items_expected: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    states: list[RegionState] = field(default_factory=list)




def strong_problem(settings: Settings, witness: str | None) -> str | None:
    """Why AWS would refuse to make this region set strongly consistent, or None."""
    from gtbench.awsrules import conversion_problem

    return conversion_problem(settings.home, list(settings.replicas),
                              [witness] if witness else [], False, False, False)


def make_strong(regions: Regions, settings: Settings, witness: str | None,
                reporter: Reporter) -> list[str]:
    """Convert the empty single-Region table to MRSC in one UpdateTable, as AWS requires;
    nothing to do if it already is. Returns the replicas added."""
    description = describe(regions.home, settings.table) or {}
    if description.get("MultiRegionConsistency") == STRONG:
        reporter.step(f"{settings.table} is already multi-Region strongly consistent")
        return []
    if replica_entries(description, settings.home):
        raise GtbenchError(f"table {settings.table} is already an eventually consistent global "
                           "table, and a global table's mode can never change",
                           hint="choose another --table")
    if count_items(regions.home, settings.table):
        raise GtbenchError(f"table {settings.table} holds items: a table must be empty to "
                           "become strongly consistent", hint="choose another --table")
    what = ", ".join(settings.replicas) + (f" and a witness in {witness}" if witness else "")
    reporter.step(f"making {settings.table} strongly consistent: replicas {what}")
    params: dict[str, Any] = {
        "TableName": settings.table, "MultiRegionConsistency": STRONG,
        "ReplicaUpdates": [{"Create": {"RegionName": r}} for r in settings.replicas]}
    if witness:
        params["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": witness}}]
    try:
        regions.home.update_table(**params)
    except ClientError as exc:
        error = exc.response["Error"]
        raise GtbenchError(f"AWS refused the strongly consistent table: "
                           f"{error.get('Message', error.get('Code'))}") from exc
    return list(settings.replicas)


def setup(regions: Regions, settings: Settings, *, bookmarks: int = 0,
          deletion_protection: bool = False, timing: Timing = Timing(),
          reporter: Reporter | None = None, strong: bool = False,
          witness: str | None = None, tags: Sequence[TagTypeDef] = ()) -> SetupResult:
    """Create (or complete) the global table, seed it, and check every replica has the data.

    ``strong``: a multi-Region strongly consistent table (MRSC), converted in one call
    while still empty, with ``witness`` as its third region if given. ``tags`` go on a
    table this call creates, beside gtbench's own."""
    reporter = reporter or Reporter()
    home = regions.home
    check_regions_enabled(regions, settings, witness)
    description = describe(home, settings.table)
    created = description is None
    if description is None:
        reporter.step(f"creating table {settings.table} in {settings.home}")
        ours: list[TagTypeDef] = [{"Key": OWNER_TAG, "Value": f"gtbench {__version__}"},
                                  *tags]
        if deletion_protection:
            ours.append({"Key": PROTECTION_TAG, "Value": "set"})
        home.create_table(TableName=settings.table, KeySchema=KEY_SCHEMA,
                          AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST",
                          DeletionProtectionEnabled=deletion_protection, Tags=ours)
        owned = True
    else:
        check_keys(description, settings.table)
        owned = OWNER_TAG in tags_of(home, description["TableArn"])
        reporter.step(f"table {settings.table} exists in {settings.home}"
                      + ("" if owned else " (not created by gtbench: used as it is)"))
    wait_for(f"table {settings.table} in {settings.home}", table_active(settings.home),
             regions, settings, timing, reporter)

    result = SetupResult(created=created, owned=owned)
    if strong:
        try:
            result.replicas_added = make_strong(regions, settings, witness, reporter)
        except GtbenchError as exc:
            if not created:
                raise
            # Leave nothing half-made: the empty table made a moment ago is gtbench's own.
            reporter.step(f"removing the empty table {settings.table} made a moment ago")
            if deletion_protection:
                home.update_table(TableName=settings.table, DeletionProtectionEnabled=False)
                wait_for(f"table {settings.table} in {settings.home}",
                         table_active(settings.home), regions, settings, timing, reporter)
            home.delete_table(TableName=settings.table)
            home.get_waiter("table_not_exists").wait(
                TableName=settings.table, WaiterConfig={
                    "Delay": max(1, round(timing.poll_s)),
                    "MaxAttempts": max(1, int(timing.timeout_s / max(timing.poll_s, 1)))})
            raise GtbenchError(f"{exc}; the empty table {settings.table} that setup had "
                               f"just created in {settings.home} was removed") from exc
    for region in settings.replicas:
        current = {s.region: s for s in states(regions, settings)}
        if current[region].replica_status is None and not strong:
            wait_for("table ready for a replica update", table_active(settings.home),
                     regions, settings, timing, reporter)
            reporter.step(f"adding replica {region}")
            try:
                home.update_table(TableName=settings.table,
                                  ReplicaUpdates=[{"Create": {"RegionName": region}}])
            except ClientError as exc:
                error = exc.response["Error"]
                raise GtbenchError(f"AWS refused to add a replica in {region}: "
                                   f"{error.get('Message', error.get('Code'))}") from exc
            result.replicas_added.append(region)
        wait_for(f"replica {region}", replica_ready(region, settings.home), regions, settings,
                 timing, reporter)
        if deletion_protection and region in result.replicas_added:
            protect_replica(regions, settings, region, reporter)

    items = dataset.workshop_items() + dataset.synthetic_bookmarks(bookmarks)
    result.items_expected = len(items)
    result.items_written = seed(regions.batch(settings.home), settings.table, items, reporter)
    for region in settings.replicas:
        await_items(regions.batch(region), settings.table, items, region, timing, reporter)
    result.states = states(regions, settings)
    result.counts = {r: count_items(regions.batch(r), settings.table) for r in settings.regions}
    return result


def protect_replica(regions: Regions, settings: Settings, region: str,
                    reporter: Reporter) -> None:
    """Deletion protection is each replica's own setting: set it there and tag that
    replica, so teardown knows it may lift it."""
    client = regions.client(region)
    reporter.step(f"turning on deletion protection in {region}")
    client.update_table(TableName=settings.table, DeletionProtectionEnabled=True)
    arn = (describe(client, settings.table) or {}).get("TableArn")
    if arn:
        client.tag_resource(ResourceArn=arn, Tags=[{"Key": PROTECTION_TAG, "Value": "set"}])


def check_regions_enabled(regions: Regions, settings: Settings,
                          witness: str | None = None) -> None:
    """Every region answers: one that is not enabled for the account (an opt-in region)
    rejects the credentials that the home region accepts. Checked before anything is
    made."""
    for region in (*settings.regions, *([witness] if witness else [])):
        try:
            regions.client(region).list_tables(Limit=1)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in OPT_IN_CODES and region != settings.home:
                # Two causes answer alike (IAM, SetSecurityTokenServicePreferences):
                # the region is not enabled, or it is and the session's token came from
                # STS's global endpoint as version 1, valid only in default regions.
                raise GtbenchError(
                    f"{region} is not enabled for this AWS account, or the session's token "
                    f"is not valid there (an opt-in region; it answered {code} to "
                    f"credentials that {settings.home} accepts)",
                    hint=f"enable it with `aws account enable-region --region-name {region}` "
                         "or in the console under Account, AWS Regions, then wait until "
                         "it is ENABLED; if it is, the token came from STS's global "
                         "endpoint as version 1: use a regional STS endpoint "
                         "(AWS_STS_REGIONAL_ENDPOINTS=regional) or set version 2 tokens "
                         "with `aws iam set-security-token-service-preferences "
                         "--global-endpoint-token-version v2Token`") from exc
            raise


def seed(client: Any, table: str, items: Sequence[dataset.Item], reporter: Reporter) -> int:
    """Write the items that are missing; existing items (and their changes) are kept."""
    existing = batch.present_keys(client, table, [dataset.key_of(i) for i in items])
    missing = [i for i in items if batch.key_tuple(dataset.key_of(i)) not in existing]
    if not missing:
        reporter.step(f"all {len(items)} seed items are already present")
        return 0
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        reporter.progress("seeding", done, len(missing))

    reporter.progress("seeding", 0, len(missing))
    return batch.write_all(client, table, missing, on_progress=advance)


def await_items(client: Any, table: str, items: Sequence[dataset.Item], region: str,
                timing: Timing, reporter: Reporter) -> None:
    """Wait until every item is readable in ``region`` (replication is asynchronous)."""
    keys = [dataset.key_of(i) for i in items]
    pending = {batch.key_tuple(k): k for k in keys}
    started = time.monotonic()
    title = f"seed items replicated to {region}"
    while True:
        found = batch.present_keys(client, table, list(pending.values()))
        for key in found:
            pending.pop(key, None)
        reporter.progress(title, len(keys) - len(pending), len(keys))
        if not pending:
            return
        if time.monotonic() - started > timing.timeout_s:
            raise GtbenchError(f"{len(pending)} seed items had not reached {region} after "
                               f"{timing.timeout_s:.0f} s", hint="run setup again to re-check")
        time.sleep(min(timing.poll_s, 1.0))


def count_items(client: Any, table: str) -> int:
    """Exact item count by a COUNT scan (DescribeTable's ItemCount lags by hours on AWS)."""
    total = 0
    kwargs: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    while True:
        page = batch.patient(client.scan, **kwargs)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- status -------------------------------------------------------------------------------

@dataclass
class Agreement:
    method: str  # "full" or "sample"
    compared: int
    differing: list[dict[str, Any]]

    @property
    def agree(self) -> bool:
        return not self.differing


def scan_items(client: Any, table: str, limit: int | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = batch.patient(client.scan, **kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
            return items[:limit] if limit is not None else items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def compare_replicas(regions: Regions, settings: Settings, counts: dict[str, int], *,
                     full_limit: int = 5000, sample: int = 200) -> Agreement:
    """Compare the replicas item by item when small, else a sample of the home's items."""
    table = settings.table
    if max(counts.values(), default=0) <= full_limit:
        views = {r: {batch.key_tuple(dataset.key_of(i)): i
                     for i in scan_items(regions.client(r), table)} for r in settings.regions}
        method = "full"
    else:
        picked = scan_items(regions.home, table, limit=sample)
        keys = [dataset.key_of(i) for i in picked]
        views = {}
        for region in settings.regions:
            found: dict[batch.KeyTuple, dict[str, Any]] = {}
            for chunk in batch.chunks(keys, batch.GET_BATCH):
                for item in batch.get_chunk(regions.batch(region), table, chunk, True):
                    found[batch.key_tuple(dataset.key_of(item))] = item
            views[region] = found
        method = "sample"
    all_keys = set().union(*(set(v) for v in views.values()))
    differing = []
    for key in sorted(all_keys):
        versions = {r: views[r].get(key) for r in settings.regions}
        first = versions[settings.home]
        if any(v != first for v in versions.values()):
            differing.append({"key": dict(key), "regions": {
                r: ("missing" if v is None else "differs" if v != first else "same")
                for r, v in versions.items()}})
    return Agreement(method, len(all_keys), differing)
