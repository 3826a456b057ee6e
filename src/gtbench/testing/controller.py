"""``GlobalTables``: a test's hold on the emulator. It makes global tables, sets the lag,
holds and delivers replication, injects faults, and reads the ground truth, all through
the emulator's control API (``/_gtbench/``, documented in docs/emulator.md)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

EVENTUAL, STRONG = "eventual", "strong"
DEFAULT_REGIONS = ("us-west-2", "eu-west-1")  # the workshop's Oregon and Ireland
# MRSC takes three regions of one set that supports it: the workshop's home first.
DEFAULT_STRONG_REGIONS = ("us-west-2", "us-east-1", "us-east-2")
DEFAULT_KEYS = (("PK", "HASH"), ("SK", "RANGE"))
ACCESS_KEY = "testing"  # the key and secret: dummies, as moto's own
_POLL_S = 0.01  # the emulator makes tables and replicas at once: poll close


class EmulatorError(RuntimeError):
    """The emulator refused a control request, or could not be reached."""

    def __init__(self, message: str, reachable: bool = True) -> None:
        super().__init__(message)
        self.reachable = reachable


@dataclass(frozen=True)
class LostWrite:
    """An acknowledged write that last-writer-wins threw away: no replica will show it.

    ``key`` and ``image`` are DynamoDB JSON (``{"S": ...}``), as the low-level client
    speaks; ``item`` is the image as plain Python values. ``image`` is None for a delete.
    ``lost_to_*`` is the write that won."""

    table: str
    region: str
    key: Mapping[str, Any]
    image: Mapping[str, Any] | None
    written_at: float
    lost_to_region: str
    lost_to_image: Mapping[str, Any] | None

    @property
    def item(self) -> dict[str, Any] | None:
        """The lost image as plain Python values (numbers as Decimal, as boto3's
        resource layer gives them); None for a delete."""
        return _plain(self.image)

    @property
    def lost_to_item(self) -> dict[str, Any] | None:
        """The winning image as plain Python values; None for a delete."""
        return _plain(self.lost_to_image)

    def __repr__(self) -> str:
        # What a failing assertion prints: plain values a person reads, not DynamoDB JSON.
        return (f"LostWrite(table={self.table!r}, region={self.region!r}, "
                f"item={_shown(self.item)}, written_at={self.written_at!r}, "
                f"lost_to_region={self.lost_to_region!r}, "
                f"lost_to_item={_shown(self.lost_to_item)})")


def _plain(image: Mapping[str, Any] | None) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    if image is None:
        return None
    plain = TypeDeserializer()
    return {name: plain.deserialize(value) for name, value in image.items()}


def _shown(item: dict[str, Any] | None) -> str:
    """``item`` with whole numbers as ints (600, not Decimal('600'))."""
    from decimal import Decimal

    if item is None:
        return "None (deleted)"
    return repr({k: int(v) if isinstance(v, Decimal) and v == v.to_integral_value() else v
                 for k, v in item.items()})


class GlobalTables:
    """The emulator at ``endpoint_url``, as a test controls it. Every method returns once
    the emulator has done what it says (a table ACTIVE, a fault in force)."""

    def __init__(self, endpoint_url: str, consistency: str = EVENTUAL) -> None:
        if consistency not in (EVENTUAL, STRONG):
            raise ValueError(f"consistency is {EVENTUAL!r} or {STRONG!r}, not {consistency!r}")
        self.endpoint_url = endpoint_url.rstrip("/")
        # The kind ``create_table`` makes unless told: the test's, under
        # ``@pytest.mark.global_tables(consistency=[...])``.
        self.consistency = consistency
        self._clients: dict[str, Any] = {}

    # -- AWS SDK ---------------------------------------------------------------------
    def client(self, region: str) -> Any:
        """A boto3 DynamoDB client for ``region`` on the emulator (dummy credentials)."""
        if region not in self._clients:
            import boto3

            self._clients[region] = boto3.client(
                "dynamodb", region_name=region, endpoint_url=self.endpoint_url,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=ACCESS_KEY)
        return self._clients[region]

    def resource(self, region: str) -> Any:
        """A boto3 DynamoDB service resource for ``region`` on the emulator."""
        import boto3

        return boto3.resource("dynamodb", region_name=region, endpoint_url=self.endpoint_url,
                              aws_access_key_id=ACCESS_KEY, aws_secret_access_key=ACCESS_KEY)

    # -- tables ----------------------------------------------------------------------
    def create_table(self, name: str, regions: Sequence[str] | None = None, *,
                     consistency: str | None = None,
                     key_schema: Sequence[Mapping[str, str]] | None = None,
                     attributes: Sequence[Mapping[str, str]] | None = None,
                     witness: str | None = None, timeout: float = 30.0) -> None:
        """A global table in ``regions`` (the first is where it is created), on demand,
        every replica ACTIVE when this returns. Keys: PK and SK strings unless
        ``key_schema`` (boto3's KeySchema; ``attributes`` default to strings) says
        otherwise. ``consistency="strong"`` (MRSC) takes three regions, or two and a
        ``witness``; it is made as AWS makes it, in one UpdateTable. Unsaid, the
        consistency is this object's (the test's), and the regions its kind's default:
        us-west-2 and eu-west-1, or us-west-2, us-east-1 and us-east-2 for MRSC."""
        consistency = self.consistency if consistency is None else consistency
        if regions is None:
            regions = DEFAULT_STRONG_REGIONS if consistency == STRONG else DEFAULT_REGIONS
        regions = list(regions)
        if consistency not in (EVENTUAL, STRONG):
            raise ValueError(f"consistency is {EVENTUAL!r} or {STRONG!r}, not {consistency!r}")
        if len(set(regions)) != len(regions) or not regions:
            raise ValueError(f"regions must be distinct, and at least one: {regions}")
        if consistency == STRONG and len(regions) + (witness is not None) != 3:
            raise ValueError("a strongly consistent (MRSC) table has exactly three "
                             "regions, or two and a witness")
        if witness is not None and consistency != STRONG:
            raise ValueError("a witness belongs to a strongly consistent (MRSC) table")
        schema = [dict(k) for k in key_schema] if key_schema is not None else [
            {"AttributeName": n, "KeyType": t} for n, t in DEFAULT_KEYS]
        definitions = [dict(a) for a in attributes] if attributes is not None else [
            {"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in schema]
        home, others = regions[0], regions[1:]
        client = self.client(home)
        client.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=definitions,
                            BillingMode="PAY_PER_REQUEST")
        deadline = time.monotonic() + timeout
        self._wait_active(name, home, [], deadline)
        if consistency == STRONG:
            # AWS: the replicas (and witness) and STRONG in one call, on an empty table.
            update: dict[str, Any] = {
                "TableName": name, "MultiRegionConsistency": "STRONG",
                "ReplicaUpdates": [{"Create": {"RegionName": r}} for r in others]}
            if witness is not None:
                update["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": witness}}]
            client.update_table(**update)
            self._wait_active(name, home, others, deadline)
            return
        for index, region in enumerate(others):  # one replica per UpdateTable, as AWS asks
            client.update_table(TableName=name,
                                ReplicaUpdates=[{"Create": {"RegionName": region}}])
            self._wait_active(name, home, others[:index + 1], deadline)

    def _wait_active(self, name: str, home: str, replicas: Sequence[str],
                     deadline: float) -> None:
        client = self.client(home)
        while True:
            table = client.describe_table(TableName=name)["Table"]
            states = {r["RegionName"]: r.get("ReplicaStatus") for r in table.get("Replicas", [])}
            if table["TableStatus"] == "ACTIVE" and all(
                    states.get(r) == "ACTIVE" for r in replicas):
                return
            if time.monotonic() > deadline:
                raise EmulatorError(f"table {name} is not ACTIVE everywhere in time: "
                                    f"{table['TableStatus']}, replicas {states}")
            time.sleep(_POLL_S)

    # -- replication -----------------------------------------------------------------
    def lag(self, ms: float, jitter_ms: float = 0.0, *, source: str | None = None,
            destination: str | None = None) -> None:
        """Replication takes ``ms`` (normal, spread ``jitter_ms``) from now on: for every
        direction, or for the one from ``source`` to ``destination``."""
        body: dict[str, Any] = {"lag_ms": ms, "jitter_ms": jitter_ms}
        if source is not None or destination is not None:
            body.update(source=source, destination=destination)
        self._call("POST", "lag", body)

    def capacity(self, wcu: float | None) -> None:
        """Make every global table provisioned with ``wcu`` write units a second in every
        replica, as AWS gives all replicas one write capacity: a write beyond it (1 unit
        per KB) is refused with ProvisionedThroughputExceededException, and replicated
        writes queue for it, so a replica that also takes its own writes falls behind.
        None: on-demand again (the default)."""
        self._call("POST", "capacity", {"wcu": wcu})

    def hold(self) -> None:
        """Replication waits: each replica keeps its own writes until ``release()`` or
        ``deliver()``. (An MRSC write still reaches its nearest replica before it
        returns, and a strong read still sees it: that is MRSC.)"""
        self._call("POST", "pause")

    def release(self) -> None:
        """Replication runs again; what waited is applied as it falls due."""
        self._call("POST", "resume")

    def deliver(self, n: int | None = None) -> int:
        """Apply the next ``n`` waiting replications (all if None) in the order they fall
        due, held or not; one that a fault holds stays. Returns how many were applied."""
        return int(self._call("POST", "deliver", {"count": n})["delivered"])

    # -- time ------------------------------------------------------------------------
    def clock(self, kind: str) -> None:
        """``"virtual"``: the emulator's time stands still from now on, and only
        ``advance`` moves it: a 500 ms lag takes ``advance(0.5)`` and no wall time, and
        nothing replicates (not even with lag 0), no fault ends and no TTL expires until
        then. ``"real"``: time runs again, from where it was advanced to (it never goes
        back; ``reset()`` puts it back on the wall clock)."""
        if kind not in ("virtual", "real"):
            raise ValueError(f"clock is 'virtual' or 'real', not {kind!r}")
        self._call("POST", "clock", {"hold": kind == "virtual"})

    def advance(self, seconds: float) -> float:
        """Move virtual time ``seconds`` on: every replication, fault end and TTL sweep
        due on the way happens at its own time, in order, before this returns. Returns
        the emulator's time (epoch seconds). Only under ``clock("virtual")``."""
        import math

        if (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                or not math.isfinite(seconds) or not 0 <= seconds <= 86400):
            raise ValueError(f"advance(seconds) takes 0 to 86400 seconds, not {seconds!r}")
        try:
            return float(self._call("POST", "clock", {"advance_s": seconds})["clock"]["now"])
        except EmulatorError as exc:
            if "hold it" in str(exc):
                raise EmulatorError("advance() needs clock('virtual') first") from None
            raise

    def now(self) -> float:
        """The emulator's time (epoch seconds): the wall clock's, or the virtual one."""
        return float(self._call("GET", "clock")["clock"]["now"])

    def pending(self) -> int:
        """Replications not yet applied."""
        return int(self._call("GET", "status")["pending"])

    def settle(self, timeout: float = 10.0) -> None:
        """Return once every replication is applied and every table's replicas agree;
        AssertionError saying why not otherwise (at once while ``hold()`` is in force).
        It waits on the emulator's own signal, never a fixed time. ``timeout`` is
        seconds, from 0 to an hour (ValueError otherwise)."""
        import math

        if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                or not math.isfinite(timeout) or not 0 <= timeout <= 3600):
            raise ValueError(f"settle(timeout) takes seconds from 0 to 3600, not {timeout!r}")
        state = self._call("POST", "settle", {"timeout_s": timeout}, wait_s=timeout)
        if state["settled"]:
            return
        if state["paused"] and state["pending"]:
            raise AssertionError(f"replication is held (hold()): {_count(state['pending'])}"
                                 " waiting; release() or deliver() first")
        problems = []
        if not state["idle"]:
            faults = "; ".join(_fault_text(f) for f in state["faults"]) or "none"
            problems.append(f"{_count(state['pending'])} still waiting after "
                            f"{timeout:g} s (faults in force: {faults})")
        problems += [_differ_text(table, rows)
                     for table, rows in state["differences"].items() if rows]
        raise AssertionError("the replicas did not settle: " + "; ".join(problems))

    def replicas_agree(self, table: str) -> bool:
        """Whether every replica of ``table`` holds the same items right now."""
        return not self.differences(table)

    def differences(self, table: str) -> list[dict[str, Any]]:
        """The items on which ``table``'s replicas differ now: ``{"key", "regions":
        {region: image or None}}`` each."""
        found: list[dict[str, Any]] = self._call(
            "GET", f"agreement?table={_quote(table)}")["differences"].get(table, [])
        return found

    def lost_writes(self, table: str) -> list[LostWrite]:
        """The writes to ``table`` that last-writer-wins discarded, from the ground truth:
        overwritten by a write that never saw them. Oldest first."""
        rows = self._call("GET", f"lost?table={_quote(table)}")["lost"]
        return [LostWrite(r["table"], r["region"], r["key"], r["image"], r["written_at"],
                          r["lost_to"]["region"], r["lost_to"]["image"]) for r in rows]

    def history(self, table: str | None = None) -> list[dict[str, Any]]:
        """The emulator's replication log: one row per write and target region (source,
        target, stamps, when due and applied, outcome), oldest first."""
        query = f"?table={_quote(table)}" if table is not None else ""
        rows: list[dict[str, Any]] = self._call("GET", "replications" + query)["replications"]
        return rows

    # -- faults ----------------------------------------------------------------------
    def isolate(self, region: str, *, seconds: float | None = None) -> None:
        """Cut ``region``'s replication off, as AWS FIS's pause-replication does: it goes
        on serving (on MRSC its writes and strong reads fail)."""
        self._fault({"kind": "isolate", "region": region}, seconds)

    def outage(self, region: str, *, seconds: float | None = None,
               mode: str = "error") -> None:
        """``region`` fails every request (HTTP 503, or a dropped connection with
        ``mode="drop"``); replication to and from it waits."""
        self._fault({"kind": "outage", "region": region, "mode": mode}, seconds)

    def pause(self, source: str, destination: str, *, seconds: float | None = None) -> None:
        """Replication from ``source`` to ``destination`` waits (one direction)."""
        self._fault({"kind": "pause", "source": source, "target": destination}, seconds)

    def throttle(self, region: str, share: float = 1.0, *,
                 operations: Sequence[str] | None = None, seconds: float | None = None
                 ) -> None:
        """A ``share`` of ``region``'s requests (of ``operations`` if named) fail with
        ThrottlingException."""
        spec: dict[str, Any] = {"kind": "throttle", "region": region, "share": share}
        if operations is not None:
            spec["operations"] = list(operations)
        self._fault(spec, seconds)

    def restore(self) -> None:
        """End every fault; what they held replicates as it falls due."""
        self._call("DELETE", "faults")

    def _fault(self, spec: dict[str, Any], seconds: float | None) -> None:
        if seconds is not None:
            spec["duration_s"] = seconds
        self._call("POST", "faults", spec)

    # -- the emulator ----------------------------------------------------------------
    def reset(self) -> None:
        """Empty: no tables, no faults, no history, lag 0, replication running."""
        self._call("POST", "config", {"replica_create_delay_s": 0, "replica_delete_delay_s": 0,
                                      "fis_delay_s": 0})
        self._call("POST", "lag", {"lag_ms": 0, "jitter_ms": 0, "reset_pairs": True})
        self._call("POST", "capacity", {"on_demand": True})
        self._call("POST", "reset")

    def _call(self, method: str, path: str, body: Any = None, wait_s: float = 0.0) -> Any:
        return call(self.endpoint_url, method, path, body, timeout=30 + wait_s)


def call(url: str, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
    """One request to the emulator's control API (``/_gtbench/PATH``), its JSON answer;
    EmulatorError with its reason otherwise (``reachable`` False: nothing answered)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/_gtbench/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise EmulatorError(f"the emulator refused {method} /_gtbench/{path}: {message}"
                            ) from None
    except (OSError, ValueError) as exc:
        raise EmulatorError(f"cannot reach the emulator at {url}: {exc}",
                            reachable=False) from None


def _count(n: int) -> str:
    return f"{n} replication{'' if n == 1 else 's'}"


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _fault_text(fault: Mapping[str, Any]) -> str:
    where = fault.get("region") or f"{fault.get('source')} to {fault.get('target')}"
    return f"{fault['kind']} {where}"


def _differ_text(table: str, rows: Sequence[Mapping[str, Any]]) -> str:
    def item(row: Mapping[str, Any]) -> str:
        key = json.dumps(row["key"], sort_keys=True)
        held = ", ".join(f"{region} {'(none)' if image is None else json.dumps(image)}"
                         for region, image in row["regions"].items())
        return f"key {key}: {held}"

    shown = "; ".join(item(r) for r in rows[:5])
    more = f"; and {len(rows) - 5} more" if len(rows) > 5 else ""
    items = f"{len(rows)} item{'' if len(rows) == 1 else 's'}"
    return f"the replicas of {table} differ on {items}: {shown}{more}"


# The environment an application's own boto3 code needs to reach the emulator unchanged:
# the endpoint for DynamoDB alone (other services stay as they are: moto, or none),
# dummy credentials (nothing real reaches the emulator or is printed), a region.
def environment(endpoint_url: str, region: str = DEFAULT_REGIONS[0]) -> dict[str, str | None]:
    """Variables to set (None: to remove) so that ``boto3.client("dynamodb")`` reaches
    the emulator."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # A real session's token or profile must not ride along; an SDK told to ignore
        # configured endpoints would send the application to AWS itself.
        "AWS_SESSION_TOKEN": None,
        "AWS_SECURITY_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": None,
    }


@contextmanager
def patched_environment(endpoint_url: str) -> Iterator[None]:
    """``environment`` in force inside, the previous values restored after (and boto3's
    default session, which caches credentials, started afresh both ways)."""
    import os

    import boto3

    changes = environment(endpoint_url)
    before = {name: os.environ.get(name) for name in changes}
    session = boto3.DEFAULT_SESSION
    try:
        for name, value in changes.items():
            _set(name, value)
        boto3.DEFAULT_SESSION = None
        yield
    finally:
        for name, value in before.items():
            _set(name, value)
        boto3.DEFAULT_SESSION = session


def _set(name: str, value: str | None) -> None:
    import os

    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
