"""The emulator's cost and punctuality, beside a plain moto server in the same run.

    python benchmarks/emulator.py [--calls 400] [--rate 200] [--seconds 5]

Targets (loopback): GetItem at most 1.1x moto's time; PutItem on a replicated
table at most 1.5x moto's PutItem; p99 of (applied_at - due_at) at most 5 ms at
200 writes/s. The punctuality baseline is how late a plain timed
``threading.Event.wait`` wakes in the same process.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from benchmarks.common import client, median, percentile, table_spec, verdict
from gtbench.emulator.config import ReplicaSettings
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorConfig, EmulatorServer
from gtbench.local.lifecycle import free_port

HOME, REMOTE = "us-west-2", "eu-west-1"


def timed(call: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def interleaved(a: Callable[[], Any], b: Callable[[], Any], calls: int, block: int = 25
                ) -> tuple[list[float], list[float]]:
    """Alternate blocks of a and b, so drift in machine load hits both alike."""
    xs: list[float] = []
    ys: list[float] = []
    for _ in range(calls // block):
        xs += timed(a, block)
        ys += timed(b, block)
    return xs, ys


def wait_lateness(n: int, delay: float = 0.005) -> list[float]:
    event = threading.Event()
    late = []
    for _ in range(n):
        due = time.time() + delay
        event.wait(delay)
        late.append(time.time() - due)
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    moto_port = free_port("127.0.0.1")
    moto = ThreadedMotoServer("127.0.0.1", moto_port, verbose=False)
    moto.start()
    emulator = EmulatorServer(EmulatorConfig(lag=LagModel(50, 10),
                                             replicas=ReplicaSettings(0, 0))).start()
    try:
        plain = client(f"http://127.0.0.1:{moto_port}", HOME)
        emu = client(emulator.url, HOME)
        plain.create_table(**table_spec("plain"))
        emu.create_table(**table_spec("replicated"))
        emu.update_table(TableName="replicated",
                         ReplicaUpdates=[{"Create": {"RegionName": REMOTE}}])
        item = {"PK": {"S": "user100"}, "SK": {"S": "AshlandValley"}, "Bookmark": {"N": "1"}}
        key = {"PK": item["PK"], "SK": item["SK"]}
        plain.put_item(TableName="plain", Item=item)
        emu.put_item(TableName="replicated", Item=item)
        timed(lambda: plain.get_item(TableName="plain", Key=key), 50)  # warm both
        timed(lambda: emu.get_item(TableName="replicated", Key=key), 50)

        moto_get, emu_get = interleaved(
            lambda: plain.get_item(TableName="plain", Key=key, ConsistentRead=True),
            lambda: emu.get_item(TableName="replicated", Key=key, ConsistentRead=True),
            args.calls)
        moto_put, emu_put = interleaved(
            lambda: plain.put_item(TableName="plain", Item=item),
            lambda: emu.put_item(TableName="replicated", Item=item), args.calls)

        # Punctuality: paced writes to the replicated table, then the ground truth.
        with urllib.request.urlopen(urllib.request.Request(
                f"{emulator.url}/_gtbench/replications", method="DELETE")):
            pass
        while emulator.backend.replicator.pending_count():
            time.sleep(0.01)
        total = int(args.rate * args.seconds)
        start = time.perf_counter()
        for i in range(total):
            pause = start + i / args.rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            emu.put_item(TableName="replicated",
                         Item={**item, "SK": {"S": f"p{i}"}, "Bookmark": {"N": str(i)}})
        achieved = total / (time.perf_counter() - start)
        while emulator.backend.replicator.pending_count():
            time.sleep(0.01)
        with urllib.request.urlopen(f"{emulator.url}/_gtbench/replications") as response:
            rows = json.loads(response.read())["replications"]
        late = [r["applied_at"] - r["due_at"] for r in rows if r["applied_at"] is not None]
        baseline_late = wait_lateness(len(late) // 2 or 1)
    finally:
        emulator.stop()
        moto.stop()

    ms = 1000.0
    get_ratio = median(emu_get) / median(moto_get)
    put_ratio = median(emu_put) / median(moto_put)
    p99 = percentile(late, 99) * ms
    print(f"{'round trip (median ms)':<36}{'moto':>10}{'emulator':>10}{'ratio':>8}  target")
    print(f"{'GetItem':<36}{median(moto_get) * ms:>10.2f}{median(emu_get) * ms:>10.2f}"
          f"{get_ratio:>8.2f}  <= 1.10 {verdict(get_ratio <= 1.10)}")
    print(f"{'PutItem (emulator: replicated)':<36}{median(moto_put) * ms:>10.2f}"
          f"{median(emu_put) * ms:>10.2f}{put_ratio:>8.2f}  <= 1.50 {verdict(put_ratio <= 1.5)}")
    print()
    print(f"punctuality at {achieved:.0f} writes/s, {len(late)} deliveries "
          f"(ms late: applied_at - due_at)")
    print(f"{'':<36}{'p50':>10}{'p99':>10}{'max':>8}  target")
    print(f"{'emulator deliveries':<36}{percentile(late, 50) * ms:>10.2f}{p99:>10.2f}"
          f"{max(late) * ms:>8.2f}  p99 <= 5 {verdict(p99 <= 5)}")
    print(f"{'baseline: Event.wait(5 ms)':<36}{percentile(baseline_late, 50) * ms:>10.2f}"
          f"{percentile(baseline_late, 99) * ms:>10.2f}{max(baseline_late) * ms:>8.2f}")


if __name__ == "__main__":
    main()
