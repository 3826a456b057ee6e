"""What one request costs: the emulator beside moto in-process and moto's own server.

    python -m benchmarks.request_cost [--rounds 200]

One client thread does a PutItem, then a strongly consistent GetItem, ``--rounds``
times against each target, the targets interleaved round by round so that drift in
the machine's load hits them all alike:

- moto in-process (``mock_aws``): the same DynamoDB work with no HTTP at all;
- plain ``moto_server`` in a process of its own;
- the emulator (``gtbench local serve``) in a process of its own, on a plain table
  and on a global table of two regions.

Printed: each target's p50 and p90 per operation, and the p50 as a ratio to moto
in-process. Targets (issue #33): the emulator's p50 on the global table at most 1.5x
moto in-process for both operations.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    client,
    emulator_process,
    global_table,
    median,
    percentile,
    server_process,
    table_spec,
    verdict,
)

HOME, OTHER = "us-west-2", "eu-west-1"
KEY = {"PK": {"S": "user"}, "SK": {"S": "video"}}


def timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def put(dynamodb: Any, table: str, item: dict[str, Any]) -> Callable[[], Any]:
    return lambda: dynamodb.put_item(TableName=table, Item=item)


def get(dynamodb: Any, table: str) -> Callable[[], Any]:
    return lambda: dynamodb.get_item(TableName=table, Key=KEY, ConsistentRead=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    import boto3
    from moto import mock_aws

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    flags = ["--lag-ms", "300", "--jitter-ms", "50", "--no-network-lag"]
    samples: dict[tuple[str, str], list[float]] = {}
    with server_process(["moto.server"], "/moto-api/") as moto_url, \
            emulator_process(flags) as emulator_url, mock_aws():
        in_process = boto3.client("dynamodb", region_name=HOME)
        in_process.create_table(**table_spec("plain"))
        client(moto_url, HOME).create_table(**table_spec("plain"))
        client(emulator_url, HOME).create_table(**table_spec("plain"))
        global_table(emulator_url, "global", (HOME, OTHER))
        targets = {"moto in-process": (in_process, "plain"),
                   "moto_server": (client(moto_url, HOME), "plain"),
                   "emulator, plain table": (client(emulator_url, HOME), "plain"),
                   "emulator, global table": (client(emulator_url, HOME), "global")}
        for dynamodb, table in targets.values():  # warm each up once
            dynamodb.put_item(TableName=table, Item={**KEY, "n": {"N": "0"}})
            dynamodb.get_item(TableName=table, Key=KEY, ConsistentRead=True)
        for i in range(args.rounds):
            for name, (dynamodb, table) in targets.items():
                item = {**KEY, "n": {"N": str(i)}}
                samples.setdefault((name, "PutItem"), []).append(
                    timed(put(dynamodb, table, item)))
                samples.setdefault((name, "GetItem"), []).append(timed(get(dynamodb, table)))
    print(f"one client thread, {args.rounds} rounds of PutItem then a consistent GetItem, "
          "targets interleaved (ms):")
    print(f"  {'target':24} {'GetItem p50':>11} {'p90':>6} {'ratio':>6}   "
          f"{'PutItem p50':>11} {'p90':>6} {'ratio':>6}")
    base = {op: median(samples[("moto in-process", op)]) for op in ("GetItem", "PutItem")}
    for name in ("moto in-process", "moto_server", "emulator, plain table",
                 "emulator, global table"):
        cells = []
        for op in ("GetItem", "PutItem"):
            values = samples[(name, op)]
            cells.append(f"{median(values) * 1000:11.2f} {percentile(values, 90) * 1000:6.2f} "
                         f"{median(values) / base[op]:5.2f}x")
        print(f"  {name:24} {cells[0]}   {cells[1]}")
    worst = max(median(samples[("emulator, global table", op)]) / base[op]
                for op in ("GetItem", "PutItem"))
    print(f"  target: the emulator's global table at most 1.5x moto in-process: "
          f"{verdict(worst <= 1.5)} ({worst:.2f}x at worst)")


if __name__ == "__main__":
    main()
