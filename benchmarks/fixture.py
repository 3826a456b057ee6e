"""What gtbench.testing costs a test suite, beside what moto's ``mock_aws`` costs.

    python -m benchmarks.fixture [--resets 50] [--starts 3]

- Per test: the ``global_tables`` fixture's reset (tables, faults, lag, history), after
  a test that made a global table and wrote to it; beside entering and leaving a moto
  ``mock_aws`` context, which is what a moto user pays per test. Target: median at
  most 50 ms.
- A test's body: create a global table in two regions, write 100 items in one, settle
  (every replica holds them); beside the same table made and written under
  ``mock_aws`` (one region, nothing to replicate). Target: at most 1 s.
- Per session: from starting the emulator's process to its first answer (the fixture
  waits for that once); beside a fresh interpreter importing moto, starting
  ``mock_aws`` and answering a first DynamoDB call. Target: at most 1 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.common import median, verdict
from gtbench.testing import EmulatorProcess, GlobalTables

MOTO_FIRST_CALL = """
import time; began = time.perf_counter()
import boto3
from moto import mock_aws
with mock_aws():
    boto3.client("dynamodb", region_name="us-west-2").list_tables()
print(time.perf_counter() - began)
"""


def session_starts(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        with EmulatorProcess() as process:
            process.url  # noqa: B018 - waits for its first answer
            out.append(time.perf_counter() - began)
    return out


def moto_starts(runs: int) -> list[float]:
    return [float(subprocess.run([sys.executable, "-c", MOTO_FIRST_CALL], check=True,
                                 capture_output=True, text=True).stdout)
            for _ in range(runs)]


def resets(tables: GlobalTables, runs: int) -> list[float]:
    out = []
    for index in range(runs):
        tables.create_table(f"bench-{index}")
        tables.client("us-west-2").put_item(TableName=f"bench-{index}", Item={
            "PK": {"S": "p"}, "SK": {"S": "s"}})
        tables.isolate("eu-west-1")
        began = time.perf_counter()
        tables.reset()
        out.append(time.perf_counter() - began)
    return out


ITEMS = 100


def test_bodies(tables: GlobalTables, runs: int) -> list[float]:
    out = []
    for index in range(runs):
        tables.reset()
        began = time.perf_counter()
        tables.create_table(f"body-{index}", ["us-west-2", "eu-west-1"])
        client = tables.client("us-west-2")
        for n in range(ITEMS):
            client.put_item(TableName=f"body-{index}",
                            Item={"PK": {"S": f"user-{n}"}, "SK": {"S": "video"}})
        tables.settle()
        out.append(time.perf_counter() - began)
        assert tables.client("eu-west-1").scan(
            TableName=f"body-{index}", Select="COUNT")["Count"] == ITEMS
    return out


def moto_bodies(runs: int) -> list[float]:
    import boto3
    from moto import mock_aws

    out = []
    for index in range(runs):
        with mock_aws():
            began = time.perf_counter()
            client = boto3.client("dynamodb", region_name="us-west-2")
            client.create_table(
                TableName=f"body-{index}", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                           {"AttributeName": "SK", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                      {"AttributeName": "SK", "AttributeType": "S"}])
            for n in range(ITEMS):
                client.put_item(TableName=f"body-{index}",
                                Item={"PK": {"S": f"user-{n}"}, "SK": {"S": "video"}})
            out.append(time.perf_counter() - began)
    return out


def mock_aws_contexts(runs: int) -> list[float]:
    from moto import mock_aws

    out = []
    for _ in range(runs):
        began = time.perf_counter()
        with mock_aws():
            pass
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=50)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--bodies", type=int, default=5)
    args = parser.parse_args()
    with EmulatorProcess() as process:
        ours = resets(GlobalTables(process.url), args.resets)
        bodies = test_bodies(GlobalTables(process.url), args.bodies)
    theirs = mock_aws_contexts(args.resets)
    moto_body = moto_bodies(args.bodies)
    starts, moto = session_starts(args.starts), moto_starts(args.starts)
    print(f"Per test, median of {args.resets}:")
    print(f"  global_tables reset      {median(ours) * 1000:6.1f} ms "
          f"(max {max(ours) * 1000:.1f} ms)")
    print(f"  moto mock_aws enter+exit {median(theirs) * 1000:6.1f} ms "
          f"(max {max(theirs) * 1000:.1f} ms)")
    print(f"  target                   median at most 50 ms: {verdict(median(ours) <= 0.05)}")
    print(f"A test's body ({ITEMS} writes), median of {args.bodies}:")
    print(f"  2-region table, writes, settle     {median(bodies):.2f} s "
          f"(max {max(bodies):.2f} s)")
    print(f"  moto in-process, 1 region, writes  {median(moto_body):.2f} s")
    print(f"  target                             at most 1 s: "
          f"{verdict(median(bodies) <= 1)}")
    print(f"Per session, median of {args.starts}:")
    print(f"  emulator process, first answer     {median(starts):.2f} s")
    print(f"  moto import, mock_aws, first call  {median(moto):.2f} s")
    print(f"  target                             at most 1 s: {verdict(median(starts) <= 1)}")


if __name__ == "__main__":
    main()
