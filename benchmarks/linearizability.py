"""Linearizability of strong reads and writes on the emulator's MRSC tables.

    python -m benchmarks.linearizability [--runs 3] [--ops 60]

Clients in us-west-2, us-east-1 and us-east-2 (two each) write, conditionally write
and strongly read three items with no retries; the Wing-Gong-Lowe checker then
searches each item's history for an order that explains every answer. Conditions:
quiet; beside two CPU-bound processes; with us-east-1 cut off (the isolate fault)
for the middle third of the run. Baseline in the same run: the same workload on an
MREC table in the same regions, where a strong read sees only its own region, so
the checker must find violations there.

Target: 0 violations on MRSC in every run and condition; violations found on MREC.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.common import cpu_hogs, emulator_process, table_spec, verdict
from gtbench.analysis import linearizability
from gtbench.experiments import register_workload as register

REGIONS = ("us-west-2", "us-east-1", "us-east-2")
CUT = "us-east-1"


def clients(url: str) -> Callable[[str], Any]:
    made: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in made:
            made[region] = boto3.client(
                "dynamodb", region_name=region, endpoint_url=url,
                aws_access_key_id="bench", aws_secret_access_key="bench",
                config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                              max_pool_connections=16))
        return made[region]

    for region in REGIONS:
        client(region)  # made before the threads start: boto3 clients are made serially
    return client


def control(url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/_gtbench/{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def wait_active(client: Callable[[str], Any], name: str,
                regions: tuple[str, ...] = REGIONS) -> None:
    deadline = time.monotonic() + 30
    for region in regions:
        while client(region).describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} in {region} never became ACTIVE")
            time.sleep(0.05)


def make_table(client: Callable[[str], Any], name: str, strong: bool) -> None:
    home = client(REGIONS[0])
    home.create_table(**table_spec(name))
    if strong:
        home.update_table(TableName=name, MultiRegionConsistency="STRONG",
                          ReplicaUpdates=[{"Create": {"RegionName": r}} for r in REGIONS[1:]])
    else:
        for i, region in enumerate(REGIONS[1:], start=2):
            home.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
            wait_active(client, name, REGIONS[:i])
    wait_active(client, name)


def once(url: str, name: str, strong: bool, ops: int, cut: bool) -> tuple[
        linearizability.Verdict, dict[str, int], float]:
    client = clients(url)
    make_table(client, name, strong)
    faults: list[int] = []

    def between(n: int) -> None:
        if cut and n == ops // 3:
            faults.append(control(url, "faults", "POST",
                                  {"kind": "isolate", "region": CUT})["fault"]["id"])
        if cut and n == 2 * ops // 3 and faults:
            control(url, f"faults/{faults.pop()}", "DELETE")

    plan = register.RegisterPlan(name, REGIONS, clients_per_region=2, keys=3,
                                 ops_per_client=ops)
    history = register.run(plan, client, between)
    if faults:
        control(url, f"faults/{faults.pop()}", "DELETE")
    began = time.perf_counter()
    checked = linearizability.check(history)
    return checked, register.summary(history), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ops", type=int, default=60, help="calls per client")
    args = parser.parse_args()
    print(f"{args.runs} runs per condition, 6 clients x {args.ops} calls, 3 items, "
          "no retries, lag 300 ± 100 ms")
    print(f"{'table':<6}{'condition':<11}{'run':>4}{'checked':>9}{'unknown':>9}"
          f"{'refused':>9}{'verdict':>17}{'steps':>9}{'check s':>9}")
    mrsc_clean = True
    mrec_caught = 0
    cases = [("MRSC", "quiet"), ("MRSC", "cpu hog"), ("MRSC", "cut"), ("MREC", "quiet")]
    with emulator_process(["--lag-ms", "300", "--jitter-ms", "100"]) as url:
        for mode, condition in cases:
            for run in range(args.runs):
                name = f"lin-{mode.lower()}-{condition.replace(' ', '')}-{run}"
                hog = cpu_hogs(2) if condition == "cpu hog" else _nothing()
                with hog:
                    checked, counts, seconds = once(url, name, mode == "MRSC", args.ops,
                                                    condition == "cut")
                refused = sum(v for k, v in counts.items() if k.endswith("_fail"))
                word = {True: "linearizable", False: "VIOLATION", None: "unknown"}[
                    checked.valid]
                print(f"{mode:<6}{condition:<11}{run + 1:>4}{checked.calls:>9}"
                      f"{checked.unknown:>9}{refused:>9}{word:>17}{checked.explored:>9}"
                      f"{seconds:>9.2f}")
                if mode == "MRSC" and checked.valid is not True:
                    mrsc_clean = False
                    print(f"      {checked.describe()}")
                if mode == "MREC" and checked.valid is False:
                    mrec_caught += 1
    print(f"MRSC: no violation in any run: {verdict(mrsc_clean)}; "
          f"MREC baseline: violations found in {mrec_caught}/{args.runs} runs: "
          f"{verdict(mrec_caught > 0)}")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    main()
