"""Writes per second the emulator sustains with 1, 3 and 5 replicas, beside plain moto's
server in the same run.

    python -m benchmarks.emulator_throughput [--seconds 5] [--threads 4]

Each server runs in a process of its own (as users run it); --threads client threads,
each with its own boto3 client, put items with new keys for --seconds. The emulator
replicates with lag 300 ms, so every write is stored once per replica. Target
(issue #33; #24 asked 0.8x): with 3 replicas, at least 1.2x plain moto's writes per
second. Runs
alternate between the two servers so that drift in the machine's load hits both.
"""

from __future__ import annotations

import argparse
import threading
import time

from benchmarks.common import (
    client,
    emulator_process,
    global_table,
    median,
    server_process,
    table_spec,
    verdict,
)

REGIONS = ("us-west-2", "eu-west-1", "us-east-1", "us-east-2", "eu-central-1")


def writes_per_second(url: str, table: str, seconds: float, threads: int) -> float:
    done = [0] * threads
    until = time.monotonic() + seconds

    def writer(n: int) -> None:
        own = client(url, REGIONS[0])
        i = 0
        while time.monotonic() < until:
            own.put_item(TableName=table, Item={"PK": {"S": f"w{n}"}, "SK": {"S": str(i)}})
            i += 1
        done[n] = i

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    began = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    flags = ["--lag-ms", "300", "--jitter-ms", "50", "--no-network-lag"]
    results: dict[str, list[float]] = {}
    with server_process(["moto.server"], "/moto-api/") as moto, \
            emulator_process(flags) as emulator:
        client(moto, REGIONS[0]).create_table(**table_spec("plain"))
        for replicas in (1, 3, 5):
            global_table(emulator, f"bench-{replicas}", REGIONS[:replicas])
        for _ in range(args.runs):
            results.setdefault("moto", []).append(
                writes_per_second(moto, "plain", args.seconds, args.threads))
            for replicas in (1, 3, 5):
                results.setdefault(f"emulator, {replicas}", []).append(writes_per_second(
                    emulator, f"bench-{replicas}", args.seconds, args.threads))
    base = median(results["moto"])
    print(f"writes per second, {args.threads} client threads, {args.seconds:g} s runs, "
          f"median of {args.runs} (min to max):")
    for name, values in results.items():
        label = "plain moto server" if name == "moto" else (
            f"emulator, {name.split(', ')[1]} region{'s' if name[-1] != '1' else ''}")
        print(f"  {label:26} {median(values):7.1f} ({min(values):.1f} to {max(values):.1f})"
              f"  {median(values) / base:4.2f}x moto")
    three = median(results["emulator, 3"]) / base
    print(f"  target: 3 regions at least 1.2x moto: {verdict(three >= 1.2)} ({three:.2f}x)")


if __name__ == "__main__":
    main()
