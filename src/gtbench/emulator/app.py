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
from collections.abc import Callable, Iterable
from typing import Any

from gtbench.awsrules import table_name_problem
from gtbench.emulator import control, partiql, store, validation
from gtbench.emulator.backend import Backend
from gtbench.emulator.capacity import HOT_KEY_MESSAGE, OVER_CAPACITY_MESSAGE, write_units
from gtbench.emulator.config import EmulatorConfig
from gtbench.emulator.distance import measured_rtt_ms
from gtbench.emulator.faults import THROTTLE_MESSAGES, Fault
from gtbench.emulator.requests import (
    GLOBAL_UPDATES,
    WRITE_OPS,
    Call,
    in_region,
    tables_read_or_written,
    touched,
)
from gtbench.emulator.shared import SYNCED_OPERATIONS, synced_part
from gtbench.emulator.strong import StrongConsistency
from gtbench.emulator.values import nested_deeper_than
from gtbench.emulator.wire import (
    DYNAMODB_PREFIX,
    SOCKET_KEY,
    Environ,
    Reply,
    StartResponse,
    call_app,
    dropped,
    error_reply,
    json_reply,
    parse_sigv4,
    read_body,
    rebuffered,
)

__all__ = ["EmulatorApp", "EmulatorConfig"]

log = logging.getLogger(__name__)

# Client writes of one item: each counted against a provisioned table's capacity.
SINGLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem")

# The header a local probe sends with each request: the region it is placed in.
PROBE_HEADER = "HTTP_X_GTBENCH_PROBE_REGION"


class EmulatorApp:
    """The WSGI app: global-table behaviour around moto's DynamoDB. It routes; the
    state and its rules are the ``backend``'s."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.backend = Backend(config)
        self.strong = StrongConsistency(self.backend)

    # -- WSGI ---------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(control.PREFIX):
            return control.handle(self.backend, environ, path[len(control.PREFIX):]
                                  ).send(start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(DYNAMODB_PREFIX):
            return self.backend.moto(environ, start_response)  # type: ignore[no-any-return]
        op = target[len(DYNAMODB_PREFIX):]
        distance = self.backend.config.distance
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
        self.backend.clock.sleep(rtt_ms / 2000)
        reply = self._dynamodb(environ, op)
        self.backend.clock.sleep(rtt_ms / 2000)
        return reply.send(start_response)

    def _dynamodb(self, environ: Environ, op: str) -> Reply:
        signature = parse_sigv4(environ.get("HTTP_AUTHORIZATION"))
        if signature is None:
            # moto would route an unsigned call to S3 and boto3 would read an empty success.
            return error_reply("MissingAuthenticationTokenException",
                               "Request is missing Authentication Token")
        try:
            body = read_body(environ)
            if nested_deeper_than(body):
                return error_reply("ValidationException",
                                   "Nesting Levels have exceeded supported limits")
            payload = json.loads(body) if body else {}
        except (ValueError, OSError, EOFError):  # not JSON, or not the gzip it claims
            return error_reply("SerializationException", "Request body is not valid JSON")
        refused = validation.problem(op, payload)
        if refused is not None:
            return error_reply(*refused)
        account = store.account_for(signature.access_key, environ.get("HTTP_X_MOTO_ACCOUNT_ID"))
        call = Call(op, account, signature.region, payload)
        outage = self.backend.faults.outage(call.region)
        if outage is not None:
            return self._outage(environ, outage)
        throttling = self.backend.faults.throttling(call.region, op)
        unprocessed: dict[str, list[Any]] = {}
        if throttling is not None:
            share = float(throttling.share or 0)
            if op == "BatchWriteItem":
                call, unprocessed = _split_items(call, lambda *_: self.backend.faults.draw(
                    share))
                if not call.payload["RequestItems"]:
                    return _throttled(throttling)
                body = json.dumps(call.payload).encode()
            elif self.backend.faults.draw(share):
                return _throttled(throttling)
        # Capacity: a partition key's, and a provisioned global table's.
        if op == "BatchWriteItem":
            refusals: list[Reply] = []
            kept, beyond = _split_items(call, lambda name, request: _noted(
                refusals, self._refusal(call, name, *_batch_write(request))))
            if beyond:
                call = kept
                for name, requests in beyond.items():
                    unprocessed.setdefault(name, []).extend(requests)
                if not call.payload["RequestItems"]:
                    return refusals[-1]
                body = json.dumps(call.payload).encode()
        elif op in SINGLE_WRITES:
            item = payload.get("Item") if op == "PutItem" else payload.get("Key")
            refusal = self._refusal(call, str(payload.get("TableName", "")), item,
                                    write_units(payload.get("Item")))
            if refusal is not None:
                return refusal
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
            answer = self.backend.replicas.delete_table(account, call.region, name)
            if answer is not None:
                return answer
        if op == "UpdateTable" and GLOBAL_UPDATES & set(payload):
            return self.backend.replicas.update(account, call.region, payload)
        if op == "UpdateTable" and self.backend.replicas.is_updating(account, str(
                payload.get("TableName", ""))):
            return error_reply(
                "ResourceInUseException",
                "Attempt to change a resource which is still in use: Table is being updated: "
                f"{payload.get('TableName')}")
        if op == "UpdateTimeToLive" and self.backend.replicas.strong(
                account, call.table_name(str(payload.get("TableName", "")))) is not None:
            return error_reply("ValidationException", "Time to Live is not supported on "
                               "multi-Region strongly consistent tables")
        absent = self._not_active(call)
        if absent is not None:
            return absent
        if op == "TransactWriteItems" and isinstance(payload.get("ClientRequestToken"), str):
            return self.backend.tokens.run(
                account, call.region, payload["ClientRequestToken"], payload,
                lambda: _kept_if_ok(self._write(call, forwarded)), error_reply)
        if op in WRITE_OPS:
            return self._write(call, forwarded)
        strong_reads, read_keys = self.strong.read_targets(call)
        if strong_reads:
            return self.strong.read(call, forwarded, strong_reads, read_keys)
        if call.is_partiql_write:
            return (partiql.refusal(self.backend, call)
                    or partiql.write(self.backend, call, forwarded))
        reply = self.backend.forward(call, forwarded)
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
                self.backend.replicas.forget(account, description["TableName"], call.region)
                # moto answers with the table as it was; AWS says it is going.
                description["TableStatus"] = "DELETING"
                return reply.with_json(document)
        return reply

    def _not_active(self, call: Call) -> Reply | None:
        """A replica still being created serves no reads or writes: AWS answers
        ResourceNotFoundException until it is ACTIVE in that region (writes in the
        other regions meanwhile reach it, through its backfill and replication)."""
        for name in tables_read_or_written(call):
            if self.backend.replicas.creating(call.account, call.table_name(name), call.region):
                return error_reply("ResourceNotFoundException",
                                   f"Requested resource not found: Table: {name} is being "
                                   f"created in {call.region} (not yet ACTIVE)")
        return None

    def _share_settings(self, call: Call, environ: Environ) -> None:
        """Replay the shared part of a settings change in every other replica."""
        name = call.table_name(str(call.payload.get("TableName", "")))
        shared = synced_part(call.op, call.payload)
        if call.op == "UpdateTimeToLive":
            regions = self.backend.replicas.members(call.account, name) or [call.region]
            self.backend.ttl_tables.update((call.account, r, name) for r in regions)
        if shared is None:
            return
        data = json.dumps({**shared, "TableName": name}).encode()
        for region in self.backend.replicas.members(call.account, name):
            if region == call.region:
                continue
            replayed = in_region(rebuffered(environ, data), call.region, region)
            with self.backend.locks.hold(call.account, region):
                reply = call_app(self.backend.moto, replayed)
            if reply.status != 200:
                log.warning("replaying %s in %s failed: %s", call.op, region, reply.body[:200])

    def _outage(self, environ: Environ, fault: Fault) -> Reply:
        if fault.mode == "drop":
            # No answer at all: the client sees its connection closed, as when a region's
            # endpoint is unreachable.
            import socket

            connection = environ.get(SOCKET_KEY)
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            raise dropped()
        return error_reply("ServiceUnavailable",
                           "The service is currently unavailable or busy. (gtbench fault: "
                           "outage)", 503)

    def _refusal(self, call: Call, name: str, item: dict[str, Any] | None,
                 units: int) -> Reply | None:
        """AWS's refusal of a client's write of ``units`` to ``item``'s partition: beyond
        what one partition key takes, or beyond a provisioned global table's write
        capacity in this replica; None if it fits (it is then counted: ``capacity``)."""
        backend = self.backend
        table = store.find_table(call.account, call.region, name)
        if table is None:
            return None  # moto answers for a table that is not there
        now = backend.clock.time()
        value = store.partition_value(table, item)
        if value is not None and not backend.key_ranges.take(
                call.account, table.name, call.region, value, now, units):
            return _over(table, "TableWriteKeyRangeThroughputExceeded", HOT_KEY_MESSAGE)
        capacity = backend.replicator.capacity
        if capacity.wcu is not None and backend.replicas.targets(
                call.account, table.name, call.region) and not capacity.take(
                call.account, table.name, call.region, now, units):
            return _over(table, "TableWriteProvisionedThroughputExceeded",
                         OVER_CAPACITY_MESSAGE)
        return None

    def _decorated(self, call: Call, reply: Reply) -> Reply:
        document = reply.json()
        key = "Table" if call.op == "DescribeTable" else "TableDescription"
        if key not in document:
            return reply
        self.backend.replicas.decorate(call.account, call.region, document[key])
        return reply.with_json(document)

    # -- writes ---------------------------------------------------------------
    def _write(self, call: Call, forwarded: Environ) -> Reply:
        changed = touched(call)
        strong = self.strong.tables(call, {n for n, _ in changed})
        if strong:
            return self.strong.write(call, forwarded, changed, strong)
        return self.backend.forward(call, forwarded, changed)

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
        self.backend.close()


def _split_items(call: Call, refused: Callable[[str, dict[str, Any]], bool]
                 ) -> tuple[Call, dict[str, list[Any]]]:
    """Split a BatchWriteItem: the items ``refused`` (each judged alone) come back as
    unprocessed, as AWS returns the ones it throttled."""
    kept: dict[str, list[Any]] = {}
    out: dict[str, list[Any]] = {}
    for name, requests in call.payload.get("RequestItems", {}).items():
        for request in requests:
            side = out if refused(name, request) else kept
            side.setdefault(name, []).append(request)
    payload = {**call.payload, "RequestItems": kept}
    return Call(call.op, call.account, call.region, payload), out


def _batch_write(request: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
    """A BatchWriteItem request's item (or key) and its write units."""
    put = request.get("PutRequest")
    if put is not None:
        return put.get("Item"), write_units(put.get("Item"))
    return (request.get("DeleteRequest") or {}).get("Key"), 1


def _noted(refusals: list[Reply], refusal: Reply | None) -> bool:
    if refusal is not None:
        refusals.append(refusal)
    return refusal is not None


def _over(table: Any, reason: str, message: str) -> Reply:
    """ProvisionedThroughputExceededException with its ThrottlingReasons, as DynamoDB
    names why it throttled and what (API reference, ThrottlingReason)."""
    return json_reply({"__type": "com.amazonaws.dynamodb.v20120810#"
                                 "ProvisionedThroughputExceededException",
                       "message": message,
                       "ThrottlingReasons": [{"reason": reason,
                                              "resource": store.table_arn(table)}]}, 400)


def _kept_if_ok(reply: Reply) -> tuple[Reply, bool]:
    return reply, reply.status == 200


def _throttled(fault: Fault) -> Reply:
    code = str(fault.code)
    return error_reply(code, f"{THROTTLE_MESSAGES[code]} (gtbench fault: throttle)")
