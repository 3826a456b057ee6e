"""The emulator's HTTP front: a WSGI middleware in front of moto's server app.

Every request goes to moto unchanged, except that the emulator
- answers ``UpdateTable(ReplicaUpdates=...)`` itself (moto ignores it),
- adds ``Replicas``, ``GlobalTableVersion`` and the true ``TableStatus`` to table
  descriptions,
- stamps each accepted write to a replicated table and schedules its deliveries,
- serves its ground truth and controls under ``/_gtbench/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from gtbench.awsrules import table_name_problem
from gtbench.emulator import metrics, mrsc, store
from gtbench.emulator.distance import Distance
from gtbench.emulator.faults import THROTTLE_MESSAGES, Fault, Faults
from gtbench.emulator.replicas import ReplicaManager, ReplicaSettings
from gtbench.emulator.replication import (
    APPLIED,
    DROPPED,
    SUPERSEDED,
    Delivery,
    LagModel,
    RegionLocks,
    Replicator,
    StampClock,
    Stamps,
    item_key,
)
from gtbench.emulator.shared import SYNCED_OPERATIONS, TtlSweeper, synced_part
from gtbench.emulator.wire import (
    DYNAMODB_PREFIX,
    Environ,
    Reply,
    StartResponse,
    call_app,
    error_reply,
    parse_sigv4,
    read_body,
    rebuffered,
)

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_gtbench/"
WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                       "TransactWriteItems"})
# UpdateTable fields the emulator answers itself (moto ignores them).
GLOBAL_UPDATES = frozenset({"ReplicaUpdates", "GlobalTableWitnessUpdates",
                            "MultiRegionConsistency"})
PARTIQL_OPS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
_PARTIQL_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


CLAIM_GUARD_S = 60.0  # an MRSC write's claim on its items outlives any real request


@dataclass
class EmulatorConfig:
    lag: LagModel = field(default_factory=LagModel)
    replicas: ReplicaSettings = field(default_factory=ReplicaSettings)
    distance: Distance = field(default_factory=Distance)
    seed: int | None = None
    log_limit: int = 100_000
    ttl_sweep_s: float = 5.0  # how often expired items are deleted
    # MRSC round trips between two regions, over the measured table (either order)
    pair_rtt_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    # CloudWatch ReplicationLatency: DynamoDB's period and how late a period is published
    metric_period_s: float = metrics.DEFAULT_PERIOD_S
    metric_delay_s: float = metrics.DEFAULT_DELAY_S
    fis_delay_s: float = 0.0  # an isolate fault takes hold up to this late (rehearsing FIS)


@dataclass(frozen=True)
class Call:
    """One DynamoDB request, with where moto will file it."""

    op: str
    account: str
    region: str
    payload: dict[str, Any]


class EmulatorApp:
    """The WSGI app: global-table behaviour around moto's DynamoDB."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.config = config or EmulatorConfig()
        self.started_at = time.time()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.locks = RegionLocks()
        self.stamps = Stamps()
        self.clock = StampClock()
        self.faults = Faults(on_change=lambda: self.replicator.wake(), seed=self.config.seed)
        self.faults.fis_delay_s = self.config.fis_delay_s
        self.replicator = Replicator(self._apply, self.config.lag, seed=self.config.seed,
                                     log_limit=self.config.log_limit, holds=self.faults.holds,
                                     on_settled=self._published)
        self._ttl_tables: set[tuple[str, str, str]] = set()  # (account, region, table)
        self.inflight = mrsc.InFlight()  # MRSC items being written, and by which region
        self.committed = mrsc.Committed()  # MRSC writes committed (every strong read must see them)
        self.strong_log: deque[dict[str, Any]] = deque(maxlen=self.config.log_limit)
        self._log_lock = threading.Lock()
        self.ttl_sweeper = TtlSweeper(self.sweep_ttl, self.config.ttl_sweep_s)
        self.latency = metrics.ReplicationLatency(self._publish_latency,
                                                  self.config.metric_period_s,
                                                  self.config.metric_delay_s)
        self.metric_publisher = TtlSweeper(self._publish_due, 0.25, name="gtbench-metrics")
        self.replicas = ReplicaManager(self.locks, self.stamps, self.replicator,
                                       self.config.replicas)

    # -- WSGI ---------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, path[len(CONTROL_PREFIX):]).send(start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_PREFIX):
            return self.moto(environ, start_response)  # type: ignore[no-any-return]
        op = target[len(DYNAMODB_PREFIX):]
        distance = self.config.distance
        if not distance.on:
            return self._dynamodb(environ, op).send(start_response)
        # The client is far away: half the round trip on the way in, half on the way out.
        signature = parse_sigv4(environ.get("HTTP_AUTHORIZATION"))
        rtt_ms = distance.rtt_ms(signature.region) if signature else 0.0
        if rtt_ms is None:
            return error_reply(
                "ValidationException",
                f"the gtbench emulator knows no round trip from {distance.client_region} to "
                f"{signature.region if signature else '?'}: start it with --rtt "
                f"{signature.region if signature else 'REGION'}=MS").send(start_response)
        time.sleep(rtt_ms / 2000)
        reply = self._dynamodb(environ, op)
        time.sleep(rtt_ms / 2000)
        return reply.send(start_response)

    def _dynamodb(self, environ: Environ, op: str) -> Reply:
        signature = parse_sigv4(environ.get("HTTP_AUTHORIZATION"))
        if signature is None:
            # moto would route an unsigned call to S3 and boto3 would read an empty success.
            return error_reply("MissingAuthenticationTokenException",
                               "Request is missing Authentication Token")
        body = read_body(environ)
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return error_reply("SerializationException", "Request body is not valid JSON")
        account = store.account_for(signature.access_key, environ.get("HTTP_X_MOTO_ACCOUNT_ID"))
        call = Call(op, account, signature.region, payload)
        outage = self.faults.outage(call.region)
        if outage is not None:
            return self._outage(environ, outage)
        throttling = self.faults.throttling(call.region, op)
        unprocessed: dict[str, list[Any]] = {}
        if throttling is not None:
            if op == "BatchWriteItem":
                call, unprocessed = self._throttle_items(call, throttling)
                if not call.payload["RequestItems"]:
                    return _throttled(throttling)
                body = json.dumps(call.payload).encode()
            elif self.faults.draw(float(throttling.share or 0)):
                return _throttled(throttling)
        forwarded = rebuffered(environ, body)
        if unprocessed:
            reply = self._write(call, forwarded)
            if reply.status != 200:
                return reply
            answer = reply.json()
            answer.setdefault("UnprocessedItems", {}).update(unprocessed)
            return reply.with_json(answer)

        if op == "CreateTable":
            problem = table_name_problem(payload.get("TableName"))
            if problem:
                return error_reply("ValidationException", problem)
        if op == "DeleteTable":
            name = self._name(call, str(payload.get("TableName", "")))
            answer = self.replicas.delete_table(account, call.region, name)
            if answer is not None:
                return answer
        if op == "UpdateTable" and GLOBAL_UPDATES & set(payload):
            return self.replicas.update(account, call.region, payload)
        if op == "UpdateTable" and self.replicas.is_updating(account, str(
                payload.get("TableName", ""))):
            return error_reply(
                "ResourceInUseException",
                "Attempt to change a resource which is still in use: Table is being updated: "
                f"{payload.get('TableName')}")
        if op == "UpdateTimeToLive" and self.replicas.strong(
                account, self._name(call, str(payload.get("TableName", "")))) is not None:
            return error_reply("ValidationException", "Time to Live is not supported on "
                               "multi-Region strongly consistent tables")
        if op in WRITE_OPS:
            return self._write(call, forwarded)
        strong_reads, read_keys = self._strong_tables_read(call)
        if strong_reads:
            return self._strong_read(call, forwarded, strong_reads, read_keys)
        if op in PARTIQL_OPS and any(_PARTIQL_WRITE.match(s) for s in _statements(payload)):
            refused = self._partiql_on_strong(call)
            if refused is not None:
                return refused
            return self._partiql_write(call, forwarded)
        with self.locks.hold(account, call.region):
            reply = call_app(self.moto, forwarded)
        if reply.status != 200:
            return reply
        if op in SYNCED_OPERATIONS:
            self._share_settings(call, environ)
        if op in ("DescribeTable", "UpdateTable", "CreateTable"):
            return self._decorated(call, reply)
        if op == "DeleteTable":
            name = reply.json().get("TableDescription", {}).get("TableName")
            if name:
                self.replicas.forget(account, name, call.region)
        return reply

    def _share_settings(self, call: Call, environ: Environ) -> None:
        """Replay the shared part of a settings change in every other replica."""
        name = self._name(call, str(call.payload.get("TableName", "")))
        shared = synced_part(call.op, call.payload)
        if call.op == "UpdateTimeToLive":
            self._ttl_tables.update((call.account, r, name) for r in
                                    self.replicas.members(call.account, name) or [call.region])
        if shared is None:
            return
        data = json.dumps({**shared, "TableName": name}).encode()
        for region in self.replicas.members(call.account, name):
            if region == call.region:
                continue
            replayed = _in_region(rebuffered(environ, data), call.region, region)
            with self.locks.hold(call.account, region):
                reply = call_app(self.moto, replayed)
            if reply.status != 200:
                log.warning("replaying %s in %s failed: %s", call.op, region, reply.body[:200])

    def sweep_ttl(self) -> None:
        """Delete expired items (TTL) once: in a global table's first region, from where
        the deletion replicates like any write; in place elsewhere."""
        now = time.time()
        for account, region, name in sorted(self._ttl_tables):
            members = self.replicas.members(account, name)
            if members and members[0] != region:
                continue  # a replica: the deletion reaches it from the first region
            with self.locks.hold(account, region):
                table = store.find_table(account, region, name)
                if table is None:
                    self._ttl_tables.discard((account, region, name))
                    continue
                keys = store.expired_keys(table, now)
                for key in keys:
                    store.delete_key(table, key)
                self._replicate(Call("TimeToLive", account, region, {}),
                                [(name, key) for key in keys])

    def _published(self, delivery: Delivery) -> None:
        """An applied delivery's latency, for CloudWatch ReplicationLatency (published per
        period, late, as AWS does: see ``metrics``)."""
        if delivery.outcome != APPLIED or delivery.applied_at is None:
            return
        self.latency.record(
            metrics.Series(delivery.account, delivery.source_region, delivery.table,
                           delivery.target_region),
            max(0.0, (delivery.applied_at - delivery.written_at) * 1000),
            delivery.written_at)  # in the period of the write: where its run touched

    def _publish_due(self) -> None:
        self.latency.flush(time.time())

    def _publish_latency(self, series: metrics.Series, start: float,
                         aggregate: metrics.Aggregate) -> None:
        try:
            store.publish_metric(series.account, series.source_region, "AWS/DynamoDB",
                                 "ReplicationLatency",
                                 {"TableName": series.table,
                                  "ReceivingRegion": series.target_region},
                                 start, "Milliseconds", count=aggregate.count,
                                 total=aggregate.total, minimum=aggregate.minimum,
                                 maximum=aggregate.maximum)
        except Exception:  # a metric must never cost a delivery
            log.exception("publishing ReplicationLatency failed")

    def _outage(self, environ: Environ, fault: Fault) -> Reply:
        if fault.mode == "drop":
            # No answer at all: the client sees its connection closed, as when a region's
            # endpoint is unreachable. werkzeug treats ConnectionResetError as a dropped
            # client and stays quiet.
            import socket

            connection = environ.get("werkzeug.socket")
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError("gtbench fault: outage (drop)")
        return error_reply("ServiceUnavailable",
                           "The service is currently unavailable or busy. (gtbench fault: "
                           "outage)", 503)

    def _throttle_items(self, call: Call, fault: Fault
                        ) -> tuple[Call, dict[str, list[Any]]]:
        """Split a BatchWriteItem: each item is throttled alone with the fault's share."""
        kept: dict[str, list[Any]] = {}
        refused: dict[str, list[Any]] = {}
        for name, requests in call.payload.get("RequestItems", {}).items():
            for request in requests:
                side = refused if self.faults.draw(float(fault.share or 0)) else kept
                side.setdefault(name, []).append(request)
        payload = {**call.payload, "RequestItems": kept}
        return Call(call.op, call.account, call.region, payload), refused

    def _decorated(self, call: Call, reply: Reply) -> Reply:
        document = reply.json()
        key = "Table" if call.op == "DescribeTable" else "TableDescription"
        if key not in document:
            return reply
        self.replicas.decorate(call.account, call.region, document[key])
        return reply.with_json(document)

    # -- writes ---------------------------------------------------------------
    def _write(self, call: Call, forwarded: Environ) -> Reply:
        touched = self._touched(call)
        strong = {name: parts for name in {n for n, _ in touched}
                  if (parts := self.replicas.strong(call.account, name)) is not None}
        if strong:
            return self._strong_write(call, forwarded, touched, strong)
        with self.locks.hold(call.account, call.region):
            reply = call_app(self.moto, forwarded)
            if reply.status == 200:
                self._replicate(call, touched)
        return reply

    # -- multi-Region strong consistency ----------------------------------------------
    def _idents(self, call: Call, touched: list[tuple[str, dict[str, Any]]]
                ) -> list[tuple[str, str, Any]]:
        out = []
        for name, key in touched:
            table = store.find_table(call.account, call.region, name)
            if table is not None:
                out.append((call.account, name, item_key(key, store.key_names(table))))
        return out

    def _catch_up(self, account: str, region: str, table: str,
                  idents: set[Any] | None = None) -> None:
        """Apply at once what ``region`` still lacks of ``table`` (of these items): an
        MRSC region answers with the latest acknowledged write. Called without the
        region's lock: a lane may be applying one of them right now."""
        # A committed write is held by a participant this region can reach even when its
        # own region is cut off: it comes from there, past the fault.
        self.replicator.deliver_now(
            lambda d: d.account == account and d.target_region == region and d.table == table
            and (idents is None or d.ident in idents),
            despite_holds=lambda d: (d.account, d.table, d.ident, d.stamp_ns) in self.committed)

    def _reachable(self, participants: list[str]) -> list[str]:
        """The participants an MRSC request can still reach: not the isolated ones."""
        return [p for p in participants if not self.faults.isolated(p)]

    def _cut_off(self, call: Call, tables: dict[str, list[str]]) -> Reply | None:
        """An MRSC region that can reach no other participant serves only eventually
        consistent reads: its writes and strong reads fail as AWS FIS makes them fail."""
        if self.faults.isolated(call.region) or any(
                len(self._reachable(parts)) < 2 for parts in tables.values()):
            return error_reply("InternalServerError", "Internal server error", status=500)
        return None

    def _strong_write(self, call: Call, forwarded: Environ,
                      touched: list[tuple[str, dict[str, Any]]],
                      strong: dict[str, list[str]]) -> Reply:
        """An MRSC write: refused while another region writes the same item; conditions
        see the latest version; it returns once the nearest participant has it, one
        round trip later; the third replica catches up with the usual lag."""
        if call.op == "TransactWriteItems":
            return error_reply("ValidationException", "Transactions are not supported on "
                               "multi-Region strongly consistent tables")
        cut = self._cut_off(call, strong)
        if cut is not None:
            return cut
        peer, ms = max(mrsc.nearest(call.region, self._reachable(parts),
                                    self.config.pair_rtt_ms) for parts in strong.values())
        items = self._idents(call, [(n, k) for n, k in touched if n in strong])
        # The claim lasts until the write returns (released below); the bound only
        # guards against a request thread that never comes back.
        token = self.inflight.claim(items, call.region, time.monotonic() + CLAIM_GUARD_S)
        if token is None:
            self._log_strong(call, touched, "conflict", peer)
            time.sleep(ms / 1000)  # the conflict is learnt from the other participants
            return error_reply("ReplicatedWriteConflictException", mrsc.CONFLICT_MESSAGE)
        try:
            # Conditions are evaluated against the latest version, not the local one.
            # This bookkeeping stands for work AWS does within the round trip, so its
            # time is taken off the trip below.
            began = time.monotonic()
            for name in strong:
                self._catch_up(call.account, call.region, name,
                               {i for _, n, i in items if n == name})
            bookkeeping = time.monotonic() - began
            with self.locks.hold(call.account, call.region):
                reply = call_app(self.moto, forwarded)
                if reply.status == 200:
                    self._replicate(call, touched)
                    # Committed from here on, before the peer has it: every strong read
                    # from now on must return it, wherever it is sent, even if a cut
                    # begins before the write returns (a write the peer held but a strong
                    # read elsewhere could not fetch was a stale read: found by the
                    # linearizability checker with a region cut off).
                    for account, name, ident in items:
                        stamp = self.stamps.get(account, call.region, name, ident)
                        if stamp is not None:
                            self.committed.add((account, name, ident, stamp))
            if reply.status == 200:
                began = time.monotonic()
                # Outside the lock (another region's lock follows): the nearest replica
                # has it before the write returns; a witness stores nothing.
                for name, parts in strong.items():
                    for region in parts:
                        if region == peer and self.replicas.is_replica(call.account, name,
                                                                       region):
                            self._catch_up(call.account, region, name,
                                           {i for _, n, i in items if n == name})
                bookkeeping += time.monotonic() - began
                if self.faults.isolated(call.region) or self.faults.isolated(peer):
                    # Cut off mid-write: the caller cannot know whether it took effect,
                    # as a 500 says. It did: it reaches the others past the cut.
                    return error_reply("InternalServerError", "Internal server error",
                                       status=500)
                self._log_strong(call, touched, "commit", peer)
            # The round trip comes on top of the local work, as a strong read's does: an
            # MRSC write costs what an MREC write costs, plus one trip to the peer.
            time.sleep(max(0.0, ms / 1000 - bookkeeping))
            return reply
        finally:
            # Only this write's claim: another from the same region may still hold it
            # (releasing theirs let a third region write mid-flight: a lost update the
            # linearizability checker found under load).
            self.inflight.release(items, token)

    def _strong_read(self, call: Call, forwarded: Environ, tables: dict[str, list[str]],
                     keys: dict[str, list[dict[str, Any]]] | None) -> Reply:
        """A strongly consistent read of an MRSC table: one round trip to the nearest
        participant, then the latest acknowledged write."""
        cut = self._cut_off(call, tables)
        if cut is not None:
            return cut
        ms = max(mrsc.nearest(call.region, self._reachable(parts), self.config.pair_rtt_ms)[1]
                 for parts in tables.values())
        time.sleep(ms / 1000)
        for name in tables:
            wanted = None
            if keys is not None and name in keys:
                wanted = {i for _, _, i in self._idents(call, [(name, k) for k in keys[name]])}
            self._catch_up(call.account, call.region, name, wanted)
        with self.locks.hold(call.account, call.region):
            return call_app(self.moto, forwarded)

    def _strong_tables_read(self, call: Call
                            ) -> tuple[dict[str, list[str]], dict[str, list[Any]] | None]:
        """The MRSC tables a strongly consistent read touches, and its keys if it names
        them (GetItem, BatchGetItem); empty when the read is eventually consistent."""
        p = call.payload
        named: dict[str, list[Any]] = {}
        if call.op in ("GetItem", "Query", "Scan"):
            if not p.get("ConsistentRead"):
                return {}, None
            name = self._name(call, str(p.get("TableName", "")))
            if call.op == "GetItem":
                named[name] = [p.get("Key", {})]
            tables = [name]
        elif call.op == "BatchGetItem":
            tables = []
            for raw, request in (p.get("RequestItems") or {}).items():
                if request.get("ConsistentRead"):
                    name = self._name(call, raw)
                    tables.append(name)
                    named[name] = list(request.get("Keys", []))
        else:
            return {}, None
        strong = {n: parts for n in tables
                  if (parts := self.replicas.strong(call.account, n)) is not None}
        return strong, (named if named else None)

    def _log_strong(self, call: Call, touched: list[tuple[str, dict[str, Any]]], kind: str,
                    peer: str) -> None:
        now = time.time()
        keyed = []
        for name, attrs in touched:
            table = store.find_table(call.account, call.region, name)
            keyed.append((name, store.key_of(table, attrs) if table is not None else attrs))
        with self._log_lock:
            for name, key in keyed:
                self.strong_log.append({"table": name, "key": key, "region": call.region,
                                        "kind": kind, "peer": peer, "at": now})

    def _partiql_write(self, call: Call, forwarded: Environ) -> Reply:
        """A PartiQL write replicates like any other: the items it changed are found by
        comparing the region's replicated tables before and after it (moto alone knows
        which items a statement touched)."""
        with self.locks.hold(call.account, call.region):
            before = self._images(call)
            reply = call_app(self.moto, forwarded)
            if reply.status != 200:
                return reply
            after = self._images(call)
            touched = []
            for name in set(before) | set(after):
                old, new = before.get(name, {}), after.get(name, {})
                for ident in set(old) | set(new):
                    was, now = old.get(ident), new.get(ident)
                    entry = now or was
                    if entry is not None and (was and was[1]) != (now and now[1]):
                        touched.append((name, entry[0]))
            self._replicate(call, touched)
        return reply

    def _partiql_on_strong(self, call: Call) -> Reply | None:
        """PartiQL writes to an MRSC table: transactions are refused as AWS refuses them;
        the rest is refused loudly, because the emulator does not model them as strongly
        consistent (it cannot tell their items before they run)."""
        text = " ".join(_statements(call.payload))
        for name in self.replicas.replicated_tables(call.account, call.region):
            if self.replicas.strong(call.account, name) is None:
                continue
            if re.search(rf'(?<![\w.-]){re.escape(name)}(?![\w.-])', text):
                if call.op == "ExecuteTransaction":
                    return error_reply("ValidationException", "Transactions are not "
                                       "supported on multi-Region strongly consistent tables")
                return error_reply(
                    "ValidationException",
                    f"the gtbench emulator does not model PartiQL writes to the multi-Region "
                    f"strongly consistent table {name}; use PutItem, UpdateItem, DeleteItem "
                    "or BatchWriteItem")
        return None

    def _images(self, call: Call) -> dict[str, dict[Any, tuple[Any, Any]]]:
        """Every replicated table's items in the caller's region: ident -> (key, image)."""
        out: dict[str, dict[Any, tuple[Any, Any]]] = {}
        for name in self.replicas.replicated_tables(call.account, call.region):
            table = store.find_table(call.account, call.region, name)
            if table is None:
                continue
            names = store.key_names(table)
            out[name] = {item_key(image, names): (store.key_of(table, image), image)
                         for image in store.all_images(table)}
        return out

    def _replicate(self, call: Call, touched: list[tuple[str, dict[str, Any]]]) -> None:
        """Stamp each changed item and schedule its deliveries (caller holds the lock)."""
        if not touched:
            return
        stamp = self.clock.now_ns()
        for table_name, key in touched:
            targets = self.replicas.targets(call.account, table_name, call.region)
            table = store.find_table(call.account, call.region, table_name)
            if not targets or table is None:
                continue
            names = store.key_names(table)
            key = {n: key[n] for n in names}
            ident = item_key(key, names)
            parent = self.stamps.get(call.account, call.region, table.name, ident)
            self.stamps.set(call.account, call.region, table.name, ident, stamp)
            self.replicator.schedule(
                account=call.account, table=table.name, key=key, ident=ident,
                source=call.region, targets=targets, image=store.image(table, key),
                stamp_ns=stamp, parent_ns=parent)

    def _touched(self, call: Call) -> list[tuple[str, dict[str, Any]]]:
        """(table, key-or-item) for every item a successful write request changed."""
        p = call.payload
        if call.op == "PutItem":
            return [(self._name(call, p["TableName"]), p["Item"])]
        if call.op in ("UpdateItem", "DeleteItem"):
            return [(self._name(call, p["TableName"]), p["Key"])]
        out: list[tuple[str, dict[str, Any]]] = []
        if call.op == "BatchWriteItem":
            for name, requests in p.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append((self._name(call, name), request["PutRequest"]["Item"]))
                    elif "DeleteRequest" in request:
                        out.append((self._name(call, name), request["DeleteRequest"]["Key"]))
        elif call.op == "TransactWriteItems":
            for entry in p.get("TransactItems", []):
                if "Put" in entry:
                    out.append((self._name(call, entry["Put"]["TableName"]),
                                entry["Put"]["Item"]))
                for verb in ("Update", "Delete"):
                    if verb in entry:
                        out.append((self._name(call, entry[verb]["TableName"]),
                                    entry[verb]["Key"]))
        return out

    @staticmethod
    def _name(call: Call, name_or_arn: str) -> str:
        table = store.find_table(call.account, call.region, name_or_arn)
        return table.name if table is not None else name_or_arn

    def _apply(self, delivery: Delivery) -> str:
        """Last writer wins: apply ``delivery`` unless the target holds a later write."""
        d = delivery
        with self.locks.hold(d.account, d.target_region):
            table = store.find_table(d.account, d.target_region, d.table)
            if table is None or not self.replicas.is_replica(d.account, d.table, d.target_region):
                return DROPPED
            current = self.stamps.get(d.account, d.target_region, d.table, d.ident)
            if current is not None and current >= d.stamp_ns:
                return SUPERSEDED
            if d.image is None:
                store.delete_key(table, d.key)
            else:
                store.put_image(table, d.image)
            self.stamps.set(d.account, d.target_region, d.table, d.ident, d.stamp_ns)
            return APPLIED

    # -- control plane ----------------------------------------------------------
    def _control(self, environ: Environ, action: str) -> Reply:
        from gtbench.emulator.wire import json_reply

        method = environ.get("REQUEST_METHOD", "GET")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        route = (method, action.rstrip("/"))
        try:
            if route == ("GET", "replications"):
                since = float(query["since"]) if "since" in query else None
                limit = int(query["limit"]) if "limit" in query else None
                return json_reply({"replications": self.replicator.records(
                    table=query.get("table"), since=since, limit=limit)})
            if route == ("GET", "strong"):
                with self._log_lock:
                    return json_reply({"writes": list(self.strong_log)})
            if route == ("DELETE", "replications"):
                return json_reply({"cleared": self.replicator.clear_log()})
            if route == ("POST", "pause"):
                self.replicator.pause()
                return json_reply(self.status())
            if route == ("POST", "resume"):
                self.replicator.resume()
                return json_reply(self.status())
            if route == ("GET", "status"):
                return json_reply(self.status())
            if route == ("POST", "config"):
                self.configure(json.loads(read_body(environ) or b"{}"))
                return json_reply(self.status())
            if route == ("POST", "reset"):
                self.reset()
                return json_reply(self.status())
            if route == ("GET", "faults"):
                return json_reply({"faults": self.faults.describe()})
            if route == ("POST", "faults"):
                fault = self.faults.add(json.loads(read_body(environ) or b"{}"))
                return json_reply({"fault": fault.describe(), "faults": self.faults.describe()})
            if route == ("DELETE", "faults"):
                return json_reply({"cleared": self.faults.clear()})
            if method == "DELETE" and action.startswith("faults/"):
                if not self.faults.remove(int(action.split("/", 1)[1])):
                    return json_reply({"error": f"no fault {action.split('/', 1)[1]}"}, 404)
                return json_reply({"cleared": 1, "faults": self.faults.describe()})
        except (ValueError, TypeError, KeyError) as exc:
            return json_reply({"error": str(exc)}, 400)
        return json_reply({"error": f"no such control: {method} /_gtbench/{action}"}, 404)

    def status(self) -> dict[str, Any]:
        from gtbench import __version__

        groups = self.replicas.snapshot()
        return {
            "emulator": "gtbench",
            "version": __version__,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "paused": self.replicator.paused,
            "pending": self.replicator.pending_count(),
            "held": self.replicator.held_count(),
            "faults": self.faults.describe(),
            "lag": self.replicator.lag.describe(),
            "distance": self.config.distance.describe(sorted({
                r["RegionName"] for g in groups for r in g["replicas"]})),
            "replica_create_delay_s": self.replicas.settings.create_delay_s,
            "replica_delete_delay_s": self.replicas.settings.delete_delay_s,
            "ttl_sweep_s": self.ttl_sweeper.period_s,
            "metric_period_s": self.latency.period_s,
            "metric_delay_s": self.latency.delay_s,
            "fis_delay_s": self.faults.fis_delay_s,
            "mrsc": {"pair_rtt_ms": {f"{a}:{b}": ms for (a, b), ms in
                                     self.config.pair_rtt_ms.items()},
                     "default_rtt_ms": mrsc.DEFAULT_RTT_MS},
            "global_tables": groups,
        }

    CONFIG_KEYS = ("lag_ms", "jitter_ms", "replica_create_delay_s", "replica_delete_delay_s",
                   "ttl_sweep_s", "metric_period_s", "metric_delay_s", "fis_delay_s")

    def configure(self, changes: dict[str, Any]) -> None:
        """Change the lag model or replica delays of a running emulator; a key it does
        not know, or a value that is not a number of at least 0, changes nothing."""
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(changes) - set(self.CONFIG_KEYS))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r} (settings: "
                             f"{', '.join(self.CONFIG_KEYS)})")
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of at least 0, not {value!r}")
        lag = self.replicator.lag
        if "lag_ms" in changes or "jitter_ms" in changes:
            lag = LagModel(float(changes.get("lag_ms", lag.lag_ms)),
                           float(changes.get("jitter_ms", lag.jitter_ms)), lag.pairs)
        self.replicator.lag = lag
        settings = self.replicas.settings
        if "replica_create_delay_s" in changes:
            settings.create_delay_s = float(changes["replica_create_delay_s"])
        if "replica_delete_delay_s" in changes:
            settings.delete_delay_s = float(changes["replica_delete_delay_s"])
        if "ttl_sweep_s" in changes:
            self.ttl_sweeper.set_period(max(float(changes["ttl_sweep_s"]), 0.05))
        if "metric_period_s" in changes:
            self.latency.period_s = max(float(changes["metric_period_s"]), 1.0)
        if "metric_delay_s" in changes:
            self.latency.delay_s = float(changes["metric_delay_s"])
        if "fis_delay_s" in changes:
            self.faults.fis_delay_s = float(changes["fis_delay_s"])

    def reset(self) -> None:
        """Empty every table in every region and forget all replication state."""
        self.faults.clear()
        self._ttl_tables.clear()
        self.inflight.clear()
        self.committed.clear()
        with self._log_lock:
            self.strong_log.clear()
        self.replicator.reset()
        self.replicas.reset()
        self.stamps.clear()
        self.latency.clear()
        store.reset()

    def warm_up(self) -> None:
        """Load moto's DynamoDB backend now: the first call otherwise takes ~200 ms."""
        store.find_table("123456789012", "us-east-1", "gtbench-warm-up")

    def close(self) -> None:
        self.metric_publisher.stop()
        self.ttl_sweeper.stop()
        self.replicator.stop()


def _in_region(environ: Environ, source: str, target: str) -> Environ:
    """The same request, signed (as moto reads it) for another region."""
    replayed = dict(environ)
    replayed["HTTP_AUTHORIZATION"] = str(environ.get("HTTP_AUTHORIZATION", "")).replace(
        f"/{source}/dynamodb/", f"/{target}/dynamodb/")
    return replayed


def _statements(payload: dict[str, Any]) -> list[str]:
    """The PartiQL statements of an ExecuteStatement, BatchExecuteStatement or
    ExecuteTransaction request."""
    if "Statement" in payload:
        return [str(payload["Statement"])]
    entries = payload.get("Statements") or payload.get("TransactStatements") or []
    return [str(e.get("Statement", "")) for e in entries if isinstance(e, dict)]


def _throttled(fault: Fault) -> Reply:
    code = str(fault.code)
    return error_reply(code, f"{THROTTLE_MESSAGES[code]} (gtbench fault: throttle)")


class EmulatorServer:
    """An emulator on a socket, in a background thread (tests, benchmarks, ``serve``)."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        # Deliveries are due at exact times; a 5 ms GIL switch interval would smear them.
        # Restored at stop(), so an emulator run in-process (tests, examples) leaves the
        # host process as it found it.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.app = EmulatorApp(config)
        self.app.warm_up()
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="gtbench-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.app.close()
        sys.setswitchinterval(self._switch_interval)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
