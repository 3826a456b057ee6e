"""Global tables version 2019.11.21 on top of moto: replica groups and their lifecycle.

A *group* is the set of regions that hold a replica of one table in one account.
``UpdateTable(ReplicaUpdates=...)`` creates (and backfills) or deletes replicas;
status moves CREATING -> ACTIVE and ACTIVE -> DELETING -> gone after a
configurable delay, as AWS reports them, while DescribeTable shows ``Replicas``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gtbench import awsrules
from gtbench.awsrules import known_regions
from gtbench.emulator import mrsc, store
from gtbench.emulator.clock import Timer
from gtbench.emulator.config import ReplicaSettings
from gtbench.emulator.replication import Replicator, item_key
from gtbench.emulator.stamps import RegionLocks, Stamps
from gtbench.emulator.wire import Reply, error_reply, json_reply

GLOBAL_TABLE_VERSION = "2019.11.21"

LOCAL_REGION_MESSAGE = (
    "Cannot add, delete, or update the local region through ReplicaUpdates. "
    "Use CreateTable, DeleteTable, or UpdateTable as required."
)
CAPACITY_MESSAGE = "Table write capacity should either be Pay-Per-Request or AutoScaled."
NOT_A_REPLICA_MESSAGE = (
    "Update global table operation failed because one or more replicas were not part of "
    "the global table."
)
def protected_message(region: str) -> str:
    """The emulator's words for removing a replica that has deletion protection (AWS
    refuses it; its exact message is not documented)."""
    return (f"The replica in {region} cannot be deleted: deletion protection is enabled "
            "for it. Disable deletion protection on that replica first.")


SOURCE_HOLD_MESSAGE = (
    "Replica cannot be deleted because it has acted as a source region for new replica(s) "
    "being added to the table in the last 24 hours."
)


@dataclass
class Member:
    region: str
    status: str  # CREATING, ACTIVE or DELETING; "current" below resolves time
    since: float
    ready_at: float
    source: str | None = None  # the region it was backfilled from

    def current(self, now: float) -> str:
        if self.status == "CREATING" and now >= self.ready_at:
            self.status = "ACTIVE"
        return self.status

    def describe(self, now: float) -> dict[str, Any]:
        status = self.current(now)
        out: dict[str, Any] = {"RegionName": self.region, "ReplicaStatus": status}
        if status == "CREATING":
            span = max(self.ready_at - self.since, 1e-9)
            out["ReplicaStatusPercentProgress"] = str(int(100 * (now - self.since) / span))
        return out


@dataclass
class Group:
    account: str
    table: str
    members: dict[str, Member] = field(default_factory=dict)
    updating_until: float = 0.0
    consistency: str = awsrules.EVENTUAL
    witness: Member | None = None  # MRSC: a region that votes but holds no table

    @property
    def participants(self) -> list[str]:
        return [*self.members, *([self.witness.region] if self.witness else [])]

    def targets(self, source: str) -> list[str]:
        """Regions a write accepted in ``source`` must reach."""
        if source not in self.members or self.members[source].status == "DELETING":
            return []
        return [r for r, m in self.members.items() if r != source and m.status != "DELETING"]



class ReplicaManager:
    """The registry of groups, and UpdateTable / DescribeTable / DeleteTable for them."""

    def __init__(self, locks: RegionLocks, stamps: Stamps, replicator: Replicator,
                 settings: ReplicaSettings) -> None:
        self.settings = settings
        self._clock = replicator.clock
        self._locks = locks
        self._stamps = stamps
        self._replicator = replicator
        self._groups: dict[tuple[str, str], Group] = {}
        self._guard = threading.RLock()
        self._timers: list[Timer] = []

    # -- queries used on every write ----------------------------------------
    def targets(self, account: str, table: str, region: str) -> list[str]:
        with self._guard:
            group = self._groups.get((account, table))
            return group.targets(region) if group else []

    def members(self, account: str, table: str) -> list[str]:
        """The regions holding a live replica, the table's first region first."""
        with self._guard:
            group = self._groups.get((account, table))
            return [r for r, m in group.members.items() if m.status != "DELETING"] \
                if group else []

    def delete_table(self, account: str, region: str, name: str) -> Reply | None:
        """DeleteTable on a replica: that region's replica goes (DELETING, then gone) and
        the others go on, under the 24-hour source rule. None: not a global table."""
        now = self._clock.time()
        with self._guard:
            group = self._groups.get((account, name))
            member = group.members.get(region) if group else None
            if group is None or member is None or len(group.members) < 2:
                return None
            if member.status == "DELETING":
                return error_reply("ResourceInUseException",
                                   f"Attempt to change a resource which is still in use: "
                                   f"Table is being deleted: {name}")
            if any(m.source == region and now - m.since < self.settings.source_hold_s
                   for m in group.members.values() if m.region != region):
                return error_reply("ValidationException", SOURCE_HOLD_MESSAGE)
        table = store.find_table(account, region, name)
        if table is None:
            return None
        with self._locks.hold(account, region):
            description = store.describe(table, "TableDescription")["TableDescription"]
        description["TableStatus"] = "DELETING"
        self._delete(account, name, region)
        return json_reply({"TableDescription": description})

    def replicated_tables(self, account: str, region: str) -> list[str]:
        """The tables whose writes in ``region`` replicate somewhere."""
        with self._guard:
            return [g.table for (a, _), g in self._groups.items()
                    if a == account and g.targets(region)]

    def strong(self, account: str, table: str) -> list[str] | None:
        """An MRSC table's participants (replicas, then the witness); None otherwise."""
        with self._guard:
            group = self._groups.get((account, table))
            if group is None or group.consistency != awsrules.STRONG:
                return None
            return group.participants

    def creating(self, account: str, table: str, region: str) -> bool:
        """Whether ``region``'s replica of ``table`` is still being created."""
        now = self._clock.time()
        with self._guard:
            group = self._groups.get((account, table))
            member = group.members.get(region) if group else None
            return member is not None and member.current(now) == "CREATING"

    def complete_creations(self) -> int:
        """Every replica still being created is ACTIVE now, as if its delay had passed
        (for tests that hold a replica in CREATING, then let it finish); how many."""
        now = self._clock.time()
        done = 0
        with self._guard:
            for group in self._groups.values():
                for member in group.members.values():
                    if member.current(now) == "CREATING":
                        member.ready_at, done = now, done + 1
                group.updating_until = min(group.updating_until, now)
        return done

    def is_replica(self, account: str, table: str, region: str) -> bool:
        """Whether ``region`` holds a replica that still receives writes."""
        with self._guard:
            group = self._groups.get((account, table))
            member = group.members.get(region) if group else None
            return member is not None and member.status != "DELETING"

    def decorate(self, account: str, region: str, description: dict[str, Any]) -> None:
        """Add what AWS shows of a global table to a DescribeTable-shaped dict."""
        now = self._clock.time()
        with self._guard:
            group = self._groups.get((account, description.get("TableName", "")))
            if group is None or region not in group.members:
                return
            me = group.members[region]
            description["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
            description["Replicas"] = [m.describe(now) for r, m in group.members.items()
                                       if r != region]
            status = me.current(now)
            if status == "ACTIVE" and now < group.updating_until:
                status = "UPDATING"
            description["TableStatus"] = status
            description["MultiRegionConsistency"] = group.consistency
            if group.witness is not None:
                description["GlobalTableWitnesses"] = mrsc.describe_witnesses(
                    group.witness.region, group.witness.current(now))

    def is_updating(self, account: str, table: str) -> bool:
        with self._guard:
            group = self._groups.get((account, table))
            return group is not None and self._clock.time() < group.updating_until

    # -- UpdateTable(ReplicaUpdates=...) ------------------------------------
    def update(self, account: str, region: str, payload: dict[str, Any]) -> Reply:
        name = str(payload.get("TableName", ""))
        with self._locks.hold(account, region):
            table = store.find_table(account, region, name)
        if table is None:
            return error_reply("ResourceNotFoundException",
                               f"Requested resource not found: Table: {name} not found")
        name = table.name
        extra = set(payload) - {"TableName", "ReplicaUpdates", "GlobalTableWitnessUpdates",
                                "MultiRegionConsistency"}
        if extra:
            return error_reply(
                "ValidationException",
                "The gtbench emulator applies ReplicaUpdates alone; send "
                f"{', '.join(sorted(extra))} in a separate UpdateTable call.")
        if self.is_updating(account, name):
            return error_reply(
                "ResourceInUseException",
                f"Attempt to change a resource which is still in use: Table is being updated: "
                f"{name}")
        actions = payload.get("ReplicaUpdates") or []
        witness_actions = payload.get("GlobalTableWitnessUpdates") or []
        with self._guard:
            group = self._groups.get((account, name))
            strong_now = group is not None and group.consistency == awsrules.STRONG
        if strong_now or witness_actions or payload.get("MultiRegionConsistency") == \
                awsrules.STRONG:
            problem = self._validate_strong(account, region, table, payload, actions,
                                            witness_actions, group)
            if problem is not None:
                return problem
            if strong_now:
                self._dissolve(account, name, actions, witness_actions)
            else:
                for action in actions:
                    self._create(account, region, table, action["Create"]["RegionName"])
                self._make_strong(account, name, [w["Create"]["RegionName"]
                                                  for w in witness_actions])
        else:
            if payload.get("MultiRegionConsistency") not in (None, awsrules.EVENTUAL):
                return error_reply("ValidationException",
                                   "MultiRegionConsistency must be EVENTUAL or STRONG")
            if "MultiRegionConsistency" in payload and (group is not None or not actions):
                return error_reply("ValidationException", awsrules.conversion_problem(
                    region, [], [], False, False, already_global=True) or "")
            problem = self._validate(account, region, table, actions)
            if problem is not None:
                return problem
            for action in actions:
                if "Create" in action:
                    self._create(account, region, table, action["Create"]["RegionName"])
                elif "Delete" in action:
                    self._delete(account, name, action["Delete"]["RegionName"])
        with self._locks.hold(account, region):
            description = store.describe(table, "TableDescription")["TableDescription"]
        self.decorate(account, region, description)
        return json_reply({"TableDescription": description})

    def _validate(self, account: str, region: str, table: Any,
                  actions: list[dict[str, Any]]) -> Reply | None:
        now = self._clock.time()
        with self._guard:
            group = self._groups.get((account, table.name))
            members = set(group.members) if group else {region}
        for action in actions:
            if len(action) != 1 or next(iter(action)) not in ("Create", "Update", "Delete"):
                return error_reply("ValidationException",
                                   "Each ReplicaUpdates entry takes exactly one of Create, "
                                   "Update or Delete.")
            verb, spec = next(iter(action.items()))
            target = str(spec.get("RegionName", ""))
            if target == region:
                return error_reply("ValidationException", LOCAL_REGION_MESSAGE)
            if target not in known_regions():
                return error_reply("ValidationException",
                                   f"Invalid region name in ReplicaUpdates: {target!r}")
            if verb == "Create":
                if store.billing_mode(table) != "PAY_PER_REQUEST":
                    return error_reply("ValidationException", CAPACITY_MESSAGE)
                if target in members or store.find_table(account, target, table.name):
                    return error_reply(
                        "ValidationException",
                        f"Failed to create a the new replica of table with name: "
                        f"'{table.name}' because one or more replicas already existed as "
                        "tables.")
            elif target not in members:
                return error_reply("ValidationException", NOT_A_REPLICA_MESSAGE)
            elif verb == "Delete" and group is not None and any(
                m.source == target and now - m.since < self.settings.source_hold_s
                for m in group.members.values() if m.region != target
            ):
                return error_reply("ValidationException", SOURCE_HOLD_MESSAGE)
            elif verb == "Delete" and self._protected(account, target, table.name):
                return error_reply("ValidationException", protected_message(target))
        return None

    @staticmethod
    def _protected(account: str, region: str, name: str) -> bool:
        """Deletion protection is a replica's own setting (never synchronized)."""
        replica = store.find_table(account, region, name)
        return bool(replica is not None and getattr(replica, "deletion_protection_enabled",
                                                    False))

    def _validate_strong(self, account: str, region: str, table: Any,
                         payload: dict[str, Any], actions: list[dict[str, Any]],
                         witness_actions: list[dict[str, Any]], group: Group | None
                         ) -> Reply | None:
        """Every refusal AWS makes around MRSC, as a ValidationException."""
        def refuse(message: str) -> Reply:
            return error_reply("ValidationException", message)

        verbs = [next(iter(a), "") for a in actions]
        witness_verbs = [next(iter(w), "") for w in witness_actions]
        if group is not None and group.consistency == awsrules.STRONG:
            if payload.get("MultiRegionConsistency") not in (None, awsrules.STRONG):
                return refuse(awsrules.conversion_problem(region, [], [], False, False, True)
                              or "")
            if "Create" in verbs or "Create" in witness_verbs:
                return refuse("Replicas cannot be added to a multi-Region strongly "
                              "consistent table")
            removed = len(actions) + len(witness_actions)
            if removed != 2 or set(verbs + witness_verbs) != {"Delete"}:
                return refuse("A multi-Region strongly consistent table loses members two "
                              "at a time: remove a single replica or the witness together "
                              "with another member, which leaves a single-Region table")
            gone = [a["Delete"]["RegionName"] for a in actions]
            protected = [r for r in gone if self._protected(account, r, table.name)]
            if protected:
                return refuse(protected_message(protected[0]))
            if any(r not in group.members or r == region for r in gone) or (
                    witness_actions and (group.witness is None or group.witness.region
                                         != witness_actions[0]["Delete"]["RegionName"])):
                return refuse(NOT_A_REPLICA_MESSAGE)
            return None
        if payload.get("MultiRegionConsistency") != awsrules.STRONG:
            return refuse("GlobalTableWitnessUpdates needs MultiRegionConsistency=STRONG")
        if set(verbs) - {"Create"} or set(witness_verbs) - {"Create"}:
            return refuse("A table becomes multi-Region strongly consistent only by "
                          "creating its replicas (and witness)")
        creates = [a["Create"]["RegionName"] for a in actions]
        witnesses = [w["Create"]["RegionName"] for w in witness_actions]
        with self._locks.hold(account, region):
            has_items = bool(store.all_images(table)[:1])
        problem = awsrules.conversion_problem(region, creates, witnesses, has_items,
                                          bool(table.indexes), group is not None)
        if problem:
            return refuse(problem)
        return self._validate(account, region, table, actions)

    def _make_strong(self, account: str, name: str, witnesses: list[str]) -> None:
        now = self._clock.time()
        with self._guard:
            group = self._groups[(account, name)]
            group.consistency = awsrules.STRONG
            if witnesses:
                delay = self.settings.create_delay_s
                group.witness = Member(witnesses[0], "CREATING", now, now + delay)

    def _dissolve(self, account: str, name: str, actions: list[dict[str, Any]],
                  witness_actions: list[dict[str, Any]]) -> None:
        """Two members removed from an MRSC table: what is left is a single-Region table."""
        with self._guard:
            group = self._groups[(account, name)]
            if witness_actions:
                group.witness = None
        for action in actions:
            self._delete(account, name, action["Delete"]["RegionName"])

    def _create(self, account: str, source: str, table: Any, target: str) -> None:
        now = self._clock.time()
        delay = self.settings.create_delay_s
        with self._locks.hold(account, source, target):
            replica = store.create_like(table, account, target)
            keys = store.key_names(table)
            stamps = self._stamps.of_table(account, source, table.name)
            for attrs in store.all_images(table):
                store.put_image(replica, attrs)
                ident = item_key(attrs, keys)
                if ident in stamps:
                    self._stamps.set(account, target, table.name, ident, stamps[ident])
            with self._guard:
                group = self._groups.setdefault((account, table.name),
                                                Group(account, table.name))
                group.members.setdefault(source, Member(source, "ACTIVE", now, now))
                group.members[target] = Member(target, "CREATING", now, now + delay, source)
                group.updating_until = now + delay
            # Inside the locks: no write to ``source`` slips between backfill and fork.
            self._replicator.fork(account=account, table=table.name, via=source, to=target)

    def _delete(self, account: str, name: str, target: str) -> None:
        now = self._clock.time()
        delay = self.settings.delete_delay_s
        with self._guard:
            group = self._groups[(account, name)]
            member = group.members[target]
            member.status, member.since, member.ready_at = "DELETING", now, now + delay
            group.updating_until = now + delay
        self._replicator.drop(account=account, table=name, target=target)
        self._after(delay, lambda: self._finish_delete(account, name, target))

    def _finish_delete(self, account: str, name: str, target: str) -> None:
        with self._locks.hold(account, target):
            store.drop_table(account, target, name)
            self.forget(account, name, target)

    def forget(self, account: str, name: str, region: str) -> None:
        """``region`` no longer holds a replica (deleted by replica update or DeleteTable)."""
        self._stamps.forget_table(account, region, name)
        self._replicator.drop(account=account, table=name, target=region)
        with self._guard:
            group = self._groups.get((account, name))
            if group is None:
                return
            group.members.pop(region, None)
            if len(group.members) <= 1:
                del self._groups[(account, name)]

    def _after(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            action()
            return
        self._timers.append(self._clock.call_at(self._clock.time() + delay, action))

    def reset(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        with self._guard:
            self._groups.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        now = self._clock.time()
        with self._guard:
            return [{"account": g.account, "table": g.table,
                     "replicas": [m.describe(now) for m in g.members.values()]}
                    for g in self._groups.values()]
