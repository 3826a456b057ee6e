"""Seeding throughput: gtbench's parallel batches beside the workshop's sequential loop.

    python benchmarks/seeding.py [--items 10000] [--workers 8]

Both write the same synthetic bookmarks into a replicated table on one emulator
(its own process) in the same run; the baseline is a plain loop of 25-item
BatchWriteItem calls. On loopback the emulator's CPU bounds both; against AWS,
where each call waits tens of milliseconds on the network, parallel batches
gain far more.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import client, emulator_process, table_spec
from gtbench.tables import batch, dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    items = dataset.synthetic_bookmarks(args.items)

    with emulator_process() as url:
        home = client(url, "us-west-2")
        for name in ("sequential", "parallel"):
            home.create_table(**table_spec(name))
            home.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName":
                                                                          "eu-west-1"}}])

        start = time.perf_counter()
        for chunk in batch.chunks(items, batch.WRITE_BATCH):
            home.batch_write_item(RequestItems={"sequential": [{"PutRequest": {"Item": i}}
                                                               for i in chunk]})
        sequential = time.perf_counter() - start

        start = time.perf_counter()
        batch.write_all(home, "parallel", items, workers=args.workers)
        parallel = time.perf_counter() - start

        counts = [home.scan(TableName=n, Select="COUNT")["Count"]
                  for n in ("sequential", "parallel")]

    print(f"seeding {args.items} bookmarks into a replicated table on the emulator")
    print(f"{'method':<44}{'seconds':>9}{'items/s':>10}")
    print(f"{'baseline: sequential 25-item BatchWriteItem':<44}{sequential:>9.2f}"
          f"{args.items / sequential:>10.0f}")
    print(f"{f'gtbench: {args.workers} parallel batches':<44}{parallel:>9.2f}"
          f"{args.items / parallel:>10.0f}")
    print(f"ratio (gtbench / baseline items per second): {sequential / parallel:.2f}")
    print(f"items present: {counts[0]} and {counts[1]} (expected {args.items} each)")


if __name__ == "__main__":
    main()
