"""The emulator's WSGI app: every request goes to moto unchanged, except that the emulator
- answers ``UpdateTable(ReplicaUpdates=...)`` itself (moto ignores it),
- adds ``Replicas``, ``GlobalTableVersion`` and the true ``TableStatus`` to table
  descriptions,
- stamps each accepted write to a replicated table and schedules its deliveries,
- serves MRSC tables (``strong``), PartiQL writes (``partiql``) and its control API
  under ``/_gtbench/`` (``control``).

Request reading is in ``requests``; moto is reached only through ``store``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gtbench.awsrules import table_name_problem
from gtbench.emulator import control, metrics, partiql, store, validation
from gtbench.emulator.capacity import Capacity
from gtbench.emulator.clock import Clock
from gtbench.emulator.distance import Distance, measured_rtt_ms
from gtbench.emulator.faults import THROTTLE_MESSAGES, Fault, Faults
from gtbench.emulator.health import Health
from gtbench.emulator.idempotency import Tokens
from gtbench.emulator.replicas import ReplicaManager, ReplicaSettings
from gtbench.emulator.replication import (
    APPLIED,
    DROPPED,
    SUPERSEDED,
    Delivery,
    LagModel,
    Replicator,
    item_key,
)
from gtbench.emulator.requests import (
    GLOBAL_UPDATES,
    WRITE_OPS,
    Call,
    Touched,
    in_region,
    tables_read_or_written,
    touched,
)
from gtbench.emulator.shared import SYNCED_OPERATIONS, TtlSweeper, synced_part
from gtbench.emulator.stamps import RegionLocks, StampClock, Stamps
from gtbench.emulator.strong import StrongConsistency
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

# The header a local probe sends with each request: the region it is placed in.
PROBE_HEADER = "HTTP_X_GTBENCH_PROBE_REGION"


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
    # Local probes' simulated clock errors, ms per region (served in the status: the
    # probes run in the client's process and read it from there).
    probe_skew_ms: dict[str, float] = field(default_factory=dict)
    # Provisioned replicas: write units per second for each table's replica in a region
    # (absent: on-demand). Replicated writes queue for it (``capacity``).
    replica_wcu: dict[str, float] = field(default_factory=dict)


class EmulatorApp:
    """The WSGI app: global-table behaviour around moto's DynamoDB."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        # Every part reads the time through this one clock: a test can hold it.
        self.clock = Clock()
        self.started_at = self.clock.time()
        self.health = Health()
        self.moto = store.server_app()
        self.locks = RegionLocks()
        self.stamps = Stamps()
        self.stamp_clock = StampClock(self.clock)
        self.faults = Faults(on_change=lambda: self.replicator.wake(), seed=self.config.seed,
                             clock=self.clock)
        self.faults.fis_delay_s = self.config.fis_delay_s
        self.replicator = Replicator(self._apply, self.config.lag, seed=self.config.seed,
                                     log_limit=self.config.log_limit, holds=self.faults.holds,
                                     on_settled=self._published, health=self.health,
                                     capacity=Capacity(self.config.replica_wcu),
                                     clock=self.clock)
        self._ttl_tables: set[tuple[str, str, str]] = set()  # (account, region, table)
        self.strong = StrongConsistency(self, self.config.log_limit)
        self.ttl_sweeper = TtlSweeper(self.sweep_ttl, self.config.ttl_sweep_s, self.clock,
                                      health=self.health)
        self.latency = metrics.ReplicationLatency(self._publish_latency,
                                                  self.config.metric_period_s,
                                                  self.config.metric_delay_s)
        self.metric_publisher = TtlSweeper(self._publish_due, 0.25, self.clock,
                                           name="gtbench-metrics", health=self.health)
        self.replicas = ReplicaManager(self.locks, self.stamps, self.replicator,
                                       self.config.replicas)
        # TransactWriteItems' ClientRequestToken
        self.tokens: Tokens[Reply] = Tokens(self.clock.time)

    # -- WSGI ---------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(control.PREFIX):
            return control.handle(self, environ, path[len(control.PREFIX):]
                                  ).send(start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_PREFIX):
            return self.moto(environ, start_response)  # type: ignore[no-any-return]
        op = target[len(DYNAMODB_PREFIX):]
        distance = self.config.distance
        # A probe placed in a region (gtbench's local probes) says where it is: it is
        # that region's round trip away, not the client's.
        origin = environ.get(PROBE_HEADER)
        if not distance.on and origin is None:
            return self._dynamodb(environ, op).send(start_response)
        # The client is far away: half the round trip on the way in, half on the way out.
        signature = parse_sigv4(environ.get("HTTP_AUTHORIZATION"))
        region = signature.region if signature else None
        if origin is not None:
            rtt_ms = measured_rtt_ms(origin, region) if region else 0.0
        else:
            rtt_ms = distance.rtt_ms(region) if region else 0.0
        if rtt_ms is None:
            return error_reply(
                "ValidationException",
                f"the gtbench emulator knows no round trip from "
                f"{origin or distance.client_region} to {region or '?'}: start it with --rtt "
                f"{region or 'REGION'}=MS").send(start_response)
        self.clock.sleep(rtt_ms / 2000)
        reply = self._dynamodb(environ, op)
        self.clock.sleep(rtt_ms / 2000)
        return reply.send(start_response)

    def _dynamodb(self, environ: Environ, op: str) -> Reply:
        signature = parse_sigv4(environ.get("HTTP_AUTHORIZATION"))
        if signature is None:
            # moto would route an unsigned call to S3 and boto3 would read an empty success.
            return error_reply("MissingAuthenticationTokenException",
                               "Request is missing Authentication Token")
        try:
            body = read_body(environ)
            payload = json.loads(body) if body else {}
        except (ValueError, OSError, EOFError):  # not JSON, or not the gzip it claims
            return error_reply("SerializationException", "Request body is not valid JSON")
        except RecursionError:
            return error_reply("ValidationException",
                               "Nesting Levels have exceeded supported limits")
        refused = validation.problem(op, payload)
        if refused is not None:
            return error_reply(*refused)
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
            name = call.table_name(str(payload.get("TableName", "")))
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
                account, call.table_name(str(payload.get("TableName", "")))) is not None:
            return error_reply("ValidationException", "Time to Live is not supported on "
                               "multi-Region strongly consistent tables")
        absent = self._not_active(call)
        if absent is not None:
            return absent
        if op == "TransactWriteItems" and isinstance(payload.get("ClientRequestToken"), str):
            return self.tokens.run(
                account, call.region, payload["ClientRequestToken"], payload,
                lambda: _kept_if_ok(self._write(call, forwarded)), error_reply)
        if op in WRITE_OPS:
            return self._write(call, forwarded)
        strong_reads, read_keys = self.strong.read_targets(call)
        if strong_reads:
            return self.strong.read(call, forwarded, strong_reads, read_keys)
        if call.is_partiql_write:
            return partiql.refusal(self, call) or partiql.write(self, call, forwarded)
        with self.locks.hold(account, call.region):
            reply = call_app(self.moto, forwarded)
        if reply.status != 200:
            return reply
        if op in SYNCED_OPERATIONS:
            self._share_settings(call, environ)
        if op in ("DescribeTable", "UpdateTable", "CreateTable"):
            return self._decorated(call, reply)
        if op == "DeleteTable":
            document = reply.json()
            description = document.get("TableDescription", {})
            if description.get("TableName"):
                self.replicas.forget(account, description["TableName"], call.region)
                # moto answers with the table as it was; AWS says it is going.
                description["TableStatus"] = "DELETING"
                return reply.with_json(document)
        return reply

    def _not_active(self, call: Call) -> Reply | None:
        """A replica still being created serves no reads or writes: AWS answers
        ResourceNotFoundException until it is ACTIVE in that region (writes in the
        other regions meanwhile reach it, through its backfill and replication)."""
        for name in tables_read_or_written(call):
            if self.replicas.creating(call.account, call.table_name(name), call.region):
                return error_reply("ResourceNotFoundException",
                                   f"Requested resource not found: Table: {name} is being "
                                   f"created in {call.region} (not yet ACTIVE)")
        return None

    def _share_settings(self, call: Call, environ: Environ) -> None:
        """Replay the shared part of a settings change in every other replica."""
        name = call.table_name(str(call.payload.get("TableName", "")))
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
            replayed = in_region(rebuffered(environ, data), call.region, region)
            with self.locks.hold(call.account, region):
                reply = call_app(self.moto, replayed)
            if reply.status != 200:
                log.warning("replaying %s in %s failed: %s", call.op, region, reply.body[:200])

    def sweep_ttl(self) -> None:
        """Delete expired items (TTL) once: in a global table's first region, from where
        the deletion replicates like any write; in place elsewhere."""
        now = self.clock.time()
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
                self.replicate(Call("TimeToLive", account, region, {}),
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
        self.latency.flush(self.clock.time())

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
        changed = touched(call)
        strong = self.strong.tables(call, {n for n, _ in changed})
        if strong:
            return self.strong.write(call, forwarded, changed, strong)
        with self.locks.hold(call.account, call.region):
            reply = call_app(self.moto, forwarded)
            if reply.status == 200:
                self.replicate(call, changed)
        return reply

    def replicate(self, call: Call, changed: Touched) -> None:
        """Stamp each changed item and schedule its deliveries (caller holds the lock)."""
        if not changed:
            return
        stamp = self.stamp_clock.now_ns()
        for table_name, key in changed:
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

    def status(self) -> dict[str, Any]:
        return control.status(self)

    def configure(self, changes: dict[str, Any]) -> None:
        control.configure(self, changes)

    def broken_threads(self) -> list[dict[str, str]]:
        """The background threads that died (any: replication has stopped for good)."""
        return self.health.broken()

    def reset(self, config: EmulatorConfig | None = None) -> None:
        """Empty every table in every region and forget all replication state; with
        ``config``, every setting becomes that config's too (lag, replica delays,
        distance, round trips, probe skews, capacity, metric periods, the FIS delay),
        so a test starts from one known emulator without reaching into its parts."""
        self.clock.reset()
        self.stamp_clock.reset()
        self.metric_publisher.set_period(self.metric_publisher.period_s)
        self.ttl_sweeper.set_period(self.ttl_sweeper.period_s)
        self.faults.clear()
        self.replicator.resume()
        self._ttl_tables.clear()
        self.strong.clear()
        self.replicator.reset()
        self.replicas.reset()
        self.stamps.clear()
        self.latency.clear()
        self.tokens.clear()
        store.reset()
        if config is not None:
            self.apply(config)

    def apply(self, config: EmulatorConfig) -> None:
        """Take every setting of ``config`` (what a start with it would have set)."""
        self.config = config
        self.replicator.lag = config.lag
        self.replicator.capacity = Capacity(config.replica_wcu)
        self.replicas.settings.create_delay_s = config.replicas.create_delay_s
        self.replicas.settings.delete_delay_s = config.replicas.delete_delay_s
        self.replicas.settings.source_hold_s = config.replicas.source_hold_s
        self.latency.period_s = config.metric_period_s
        self.latency.delay_s = config.metric_delay_s
        self.faults.fis_delay_s = config.fis_delay_s
        self.ttl_sweeper.set_period(config.ttl_sweep_s)

    def warm_up(self) -> None:
        """Load moto's DynamoDB backend and its request dispatch now: the first call
        otherwise takes ~400 ms, which a first measurement (or test) would pay."""
        from werkzeug.test import Client

        store.find_table("123456789012", "us-east-1", "gtbench-warm-up")
        Client(self).post("/", data=b"{}", headers={
            "X-Amz-Target": f"{DYNAMODB_PREFIX}ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=warm-up/20260101/us-east-1/"
                             "dynamodb/aws4_request, SignedHeaders=host, Signature=0"})

    def close(self) -> None:
        self.metric_publisher.stop()
        self.ttl_sweeper.stop()
        self.replicator.stop()
        self.clock.stop()


def _kept_if_ok(reply: Reply) -> tuple[Reply, bool]:
    return reply, reply.status == 200


def _throttled(fault: Fault) -> Reply:
    code = str(fault.code)
    return error_reply(code, f"{THROTTLE_MESSAGES[code]} (gtbench fault: throttle)")
