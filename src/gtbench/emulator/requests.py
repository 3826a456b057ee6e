"""Reading a DynamoDB request: which operation, for which account and region, and which
items and tables it names. Pure over the payload, except that a name or ARN is resolved
to the table moto filed it under."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gtbench.emulator import store
from gtbench.emulator.wire import Environ

WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                       "TransactWriteItems"})
# UpdateTable fields the emulator answers itself (moto ignores them).
GLOBAL_UPDATES = frozenset({"ReplicaUpdates", "GlobalTableWitnessUpdates",
                            "MultiRegionConsistency"})
PARTIQL_OPS = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
_PARTIQL_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)

Touched = list[tuple[str, dict[str, Any]]]  # (table, key or whole item)


@dataclass(frozen=True)
class Call:
    """One DynamoDB request, with where moto will file it."""

    op: str
    account: str
    region: str
    payload: dict[str, Any]

    def table_name(self, name_or_arn: str) -> str:
        """The table's name, given its name or ARN."""
        table = store.find_table(self.account, self.region, name_or_arn)
        return table.name if table is not None else name_or_arn

    @property
    def is_partiql_write(self) -> bool:
        return self.op in PARTIQL_OPS and any(_PARTIQL_WRITE.match(s)
                                              for s in statements(self.payload))


def touched(call: Call) -> Touched:
    """(table, key-or-item) for every item a successful write request changed."""
    p = call.payload
    if call.op == "PutItem":
        return [(call.table_name(p["TableName"]), p["Item"])]
    if call.op in ("UpdateItem", "DeleteItem"):
        return [(call.table_name(p["TableName"]), p["Key"])]
    out: Touched = []
    if call.op == "BatchWriteItem":
        for name, requests in p.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    out.append((call.table_name(name), request["PutRequest"]["Item"]))
                elif "DeleteRequest" in request:
                    out.append((call.table_name(name), request["DeleteRequest"]["Key"]))
    elif call.op == "TransactWriteItems":
        for entry in p.get("TransactItems", []):
            if "Put" in entry:
                out.append((call.table_name(entry["Put"]["TableName"]), entry["Put"]["Item"]))
            for verb in ("Update", "Delete"):
                if verb in entry:
                    out.append((call.table_name(entry[verb]["TableName"]),
                                entry[verb]["Key"]))
    return out


ITEM_OPS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"})


def tables_read_or_written(call: Call) -> list[str]:
    """The tables (as named) whose items a data-plane request reads or writes; none for
    the control plane (DescribeTable and the like) and PartiQL."""
    p = call.payload
    if call.op in ITEM_OPS:
        return [str(p.get("TableName", ""))]
    if call.op in ("BatchGetItem", "BatchWriteItem"):
        return [str(name) for name in (p.get("RequestItems") or {})]
    if call.op in ("TransactGetItems", "TransactWriteItems"):
        return [str(spec.get("TableName", "")) for entry in p.get("TransactItems") or []
                if isinstance(entry, dict) for spec in entry.values()
                if isinstance(spec, dict)]
    return []


def consistent_reads(call: Call) -> tuple[list[str], dict[str, list[Any]] | None]:
    """The tables a strongly consistent read touches, and its keys where it names them
    (GetItem, BatchGetItem); nothing when the read is eventually consistent."""
    p = call.payload
    named: dict[str, list[Any]] = {}
    if call.op in ("GetItem", "Query", "Scan"):
        if not p.get("ConsistentRead"):
            return [], None
        name = call.table_name(str(p.get("TableName", "")))
        if call.op == "GetItem":
            named[name] = [p.get("Key", {})]
        tables = [name]
    elif call.op == "BatchGetItem":
        tables = []
        for raw, request in (p.get("RequestItems") or {}).items():
            if request.get("ConsistentRead"):
                name = call.table_name(raw)
                tables.append(name)
                named[name] = list(request.get("Keys", []))
    else:
        return [], None
    return tables, (named if named else None)


def statements(payload: dict[str, Any]) -> list[str]:
    """The PartiQL statements of an ExecuteStatement, BatchExecuteStatement or
    ExecuteTransaction request."""
    if "Statement" in payload:
        return [str(payload["Statement"])]
    entries = payload.get("Statements") or payload.get("TransactStatements") or []
    return [str(e.get("Statement", "")) for e in entries if isinstance(e, dict)]


def in_region(environ: Environ, source: str, target: str) -> Environ:
    """The same request, signed (as moto reads it) for another region."""
    replayed = dict(environ)
    replayed["HTTP_AUTHORIZATION"] = str(environ.get("HTTP_AUTHORIZATION", "")).replace(
        f"/{source}/dynamodb/", f"/{target}/dynamodb/")
    return replayed
