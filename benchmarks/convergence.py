"""Convergence under concurrent random writes through every write API (Jepsen-style).

    python -m benchmarks.convergence [--ops 2000] [--keys 20] [--seed 1]

Three regions write the same few items at once, each from its own thread, through
every write path DynamoDB has: PutItem, UpdateItem (SET, ADD, REMOVE), DeleteItem,
BatchWriteItem, TransactWriteItems, a conditional PutItem, and PartiQL
(INSERT, UPDATE, DELETE). Replication lag is jittered so that writes cross. Then
the writers go quiet, and every replica must hold exactly the same items: the
emulator's last-writer-wins must converge whatever the order of arrival.

The test suite runs a short version (tests/test_distance.py); this runs a long one,
beside a baseline of the same workload with replication paused (what the replicas
hold when nothing replicates: they must differ, or the workload proves nothing).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from benchmarks.common import client, emulator_process, table_spec
from gtbench.local.lifecycle import control

REGIONS = ("us-west-2", "eu-west-1", "ap-northeast-1")
TABLE = "converge"


@dataclass
class Tally:
    ops: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # conditions not met, transaction conflicts: refusals are fine


def _key(rng: random.Random, keys: int) -> dict[str, Any]:
    return {"PK": {"S": "k"}, "SK": {"S": f"{rng.randrange(keys):03d}"}}


def _ops(ddb: Any, rng: random.Random, keys: int, region: str) -> dict[str, Callable[[], Any]]:
    def key() -> dict[str, Any]:
        return _key(rng, keys)

    def value() -> dict[str, str]:
        return {"N": str(rng.randrange(1000))}

    def sk() -> str:
        return f"{rng.randrange(keys):03d}"

    return {
        "put": lambda: ddb.put_item(TableName=TABLE, Item={**key(), "v": value(),
                                                           "by": {"S": region}}),
        "update-set": lambda: ddb.update_item(
            TableName=TABLE, Key=key(), UpdateExpression="SET v = :v, #by = :by",
            ExpressionAttributeNames={"#by": "by"},  # a reserved word
            ExpressionAttributeValues={":v": value(), ":by": {"S": region}}),
        "update-add": lambda: ddb.update_item(
            TableName=TABLE, Key=key(), UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}}),
        "update-remove": lambda: ddb.update_item(TableName=TABLE, Key=key(),
                                                 UpdateExpression="REMOVE v"),
        "delete": lambda: ddb.delete_item(TableName=TABLE, Key=key()),
        "batch": lambda: ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {"PK": {"S": "k"}, "SK": {"S": s}, "v": value()}}}
            for s in sorted({sk() for _ in range(3)})]}),
        "transaction": lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key(), "v": value()}}},
            {"Update": {"TableName": TABLE, "Key": key(),
                        "UpdateExpression": "SET #by = :by",
                        "ExpressionAttributeNames": {"#by": "by"},
                        "ExpressionAttributeValues": {":by": {"S": region}}}}]),
        "conditional": lambda: ddb.put_item(
            TableName=TABLE, Item={**key(), "v": value()},
            ConditionExpression="attribute_not_exists(PK)"),
        "partiql-insert": lambda: ddb.execute_statement(
            Statement=f"INSERT INTO \"{TABLE}\" VALUE {{'PK': 'k', 'SK': '{sk()}', 'p': 1}}"),
        "partiql-update": lambda: ddb.execute_statement(
            Statement=f"UPDATE \"{TABLE}\" SET p = ? WHERE PK = 'k' AND SK = '{sk()}'",
            Parameters=[value()]),
        "partiql-delete": lambda: ddb.execute_statement(
            Statement=f"DELETE FROM \"{TABLE}\" WHERE PK = 'k' AND SK = '{sk()}'"),
    }


def _writer(ddb: Any, region: str, ops: int, keys: int, seed: int, tally: Tally,
            lock: threading.Lock) -> None:
    rng = random.Random(seed)
    kinds = _ops(ddb, rng, keys, region)
    names = sorted(kinds)
    for _ in range(ops):
        name = rng.choice(names)
        try:
            kinds[name]()
        except ClientError as exc:  # the refusals a real workload meets
            code = exc.response["Error"]["Code"]
            if code not in ("ConditionalCheckFailedException", "TransactionCanceledException",
                            "DuplicateItemException", "ValidationException"):
                raise
            with lock:
                tally.refused += 1
            continue
        with lock:
            tally.ops[name] = tally.ops.get(name, 0) + 1


def images(ddb: Any) -> list[str]:
    items = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def run_workload(url: str, ops: int, keys: int, seed: int,
                 settle_s: float = 30.0) -> tuple[Tally, dict[str, list[str]]]:
    """Create the global table, write from every region at once, wait for quiet, and
    return what each replica holds."""
    clients = {r: client(url, r) for r in REGIONS}
    home = clients[REGIONS[0]]
    home.create_table(**table_spec(TABLE))
    for region in REGIONS[1:]:
        home.update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        deadline = time.monotonic() + 30
        while clients[region].describe_table(TableName=TABLE)["Table"]["TableStatus"] \
                != "ACTIVE" or home.describe_table(TableName=TABLE)["Table"][
                    "TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {region} never became ACTIVE")
            time.sleep(0.05)
    tally, lock = Tally(), threading.Lock()
    threads = [threading.Thread(target=_writer, args=(clients[r], r, ops, keys, seed + i,
                                                      tally, lock))
               for i, r in enumerate(REGIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + settle_s
    while control(url, "status")["pending"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return tally, {r: images(c) for r, c in clients.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="writes per region")
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    flags = ["--lag-ms", "40", "--jitter-ms", "30"]
    with emulator_process(flags) as url:
        start = time.perf_counter()
        tally, held = run_workload(url, args.ops, args.keys, args.seed)
        took = time.perf_counter() - start
    with emulator_process(flags) as url:
        control(url, "pause", "POST")  # the baseline: nothing replicates
        _, unreplicated = run_workload(url, args.ops // 10, args.keys, args.seed, 0.0)
    same = len({tuple(v) for v in held.values()}) == 1
    print(f"{args.ops} writes per region x {len(REGIONS)} regions over {args.keys} items, "
          f"lag 40 ± 30 ms, {took:.1f} s")
    print("writes by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(tally.ops.items()))
          + f"; refused {tally.refused}")
    print("items per replica: " + ", ".join(f"{r} {len(v)}" for r, v in held.items()))
    print(f"every replica holds the same items: {'ok' if same else 'MISSED'}")
    differ = len({tuple(v) for v in unreplicated.values()}) > 1
    print(f"baseline (replication paused): replicas differ: {'yes' if differ else 'no'} "
          "(the workload is strong enough to tell)")


if __name__ == "__main__":
    main()
