"""A register workload for the linearizability checker: clients in every region write,
conditionally write and strongly read a few items, with no retries, and record each call.

Each client is one process in Jepsen's sense: it issues one call at a time. Values are
unique (``P<process>-<n>``), so a read names the write it saw. Every call is sent once
(the clients never retry), so each attempt is one call in the history with its own
outcome: ``ok``; ``fail`` for a refusal (a conflict, throttling, a condition that did
not hold); ``info`` for a 5xx, a timeout or a dropped connection, whose write may land
at any later moment or never.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gtbench.analysis.linearizability import Call, Kind
from gtbench.outcomes import classify

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ATTRIBUTE = "Value"
CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class RegisterPlan:
    table: str
    regions: tuple[str, ...]
    clients_per_region: int = 2
    keys: int = 3
    ops_per_client: int = 40
    read_share: float = 0.5  # the rest split between writes and conditional writes
    cas_share: float = 0.25
    seed: int = 1
    prefix: str = "lin"  # item PK; SK is the register's number


def _key(plan: RegisterPlan, register: int) -> dict[str, Any]:
    return {"PK": {"S": plan.prefix}, "SK": {"S": f"{register:03d}"}}


def run(plan: RegisterPlan, client_for: Callable[[str], DynamoDBClient],
        between: Callable[[int], None] | None = None) -> list[Call]:
    """Run the workload; the history of every call, in no particular order.

    ``client_for(region)`` must give a client that never retries. ``between(n)`` is
    called by client 0 before its n-th call: a test uses it to start and end faults.
    """
    history: list[Call] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    processes = [(p, region) for p, region in enumerate(
        r for r in plan.regions for _ in range(plan.clients_per_region))]

    def client_loop(process: int, region: str) -> None:
        rng = random.Random(plan.seed * 1000 + process)
        client = client_for(region)
        last: dict[int, str | None] = {}  # what this process last saw of each register
        for n in range(plan.ops_per_client):
            if process == 0 and between is not None:
                between(n)
            register = rng.randrange(plan.keys)
            draw = rng.random()
            kind: Kind = "read" if draw < plan.read_share else (
                "cas" if draw < plan.read_share + plan.cas_share else "write")
            value = f"P{process}-{n}"
            call = _one(client, plan, register, kind, value, last.get(register), process)
            if call.result == "ok":
                last[register] = value if call.kind != "read" else (
                    str(call.value) if call.value is not None else None)
            with lock:
                history.append(call)

    def guarded(process: int, region: str) -> None:
        try:
            client_loop(process, region)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=pr, name=f"register-{pr[0]}")
               for pr in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [Call(**{**c.__dict__, "index": i}) for i, c in enumerate(
        sorted(history, key=lambda c: (c.invoked_ns, c.process)))]


def _one(client: DynamoDBClient, plan: RegisterPlan, register: int, kind: Kind, value: str,
         expected: str | None, process: int) -> Call:
    key = _key(plan, register)
    sent = time.perf_counter_ns()
    try:
        if kind == "read":
            answer = client.get_item(TableName=plan.table, Key=key, ConsistentRead=True)
            seen = answer.get("Item", {}).get(ATTRIBUTE, {}).get("S")
            return Call(register, kind, sent, time.perf_counter_ns(), "ok", value=seen,
                        process=process)
        item = {**key, ATTRIBUTE: {"S": value}}
        if kind == "write":
            client.put_item(TableName=plan.table, Item=item)
        elif expected is None:
            client.put_item(TableName=plan.table, Item=item,
                            ConditionExpression="attribute_not_exists(PK)")
        else:
            client.put_item(TableName=plan.table, Item=item,
                            ConditionExpression="#v = :e",
                            ExpressionAttributeNames={"#v": ATTRIBUTE},
                            ExpressionAttributeValues={":e": {"S": expected}})
        return Call(register, kind, sent, time.perf_counter_ns(), "ok", value=value,
                    expected=expected, process=process)
    except Exception as exc:
        received = time.perf_counter_ns()
        verdict = classify(exc)
        if verdict is None:
            raise
        result, code = verdict
        return Call(register, kind, sent, received, result, value=value if kind != "read"
                    else None, expected=expected, condition_failed=code == CONDITION_FAILED,
                    process=process)


def summary(history: Sequence[Call]) -> dict[str, int]:
    """Counts by kind and outcome, for a benchmark's line."""
    out: dict[str, int] = {}
    for call in history:
        name = f"{call.kind}_{call.result}"
        out[name] = out.get(name, 0) + 1
    return out
