"""Conflict staging precision at offset 0, beside two plain threads.

    python -m benchmarks.conflict_staging [--trials 40]

gtbench releases its two writers (one per region) at one perf_counter instant,
sleeping to just short of it and then spinning, with a fine GIL switch interval.
The baseline is what a script would do: start one thread per region, one after
the other, each sending its write at once. Both are measured the same way: the
gap between the instants the two requests are handed to the socket (botocore's
before-send event). Target on loopback: gtbench's
median |send skew| at most 2 ms.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from benchmarks.common import client, emulator_process, median, percentile, verdict
from gtbench.experiments import conflict
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision


def plain_threads(url: str, settings: Settings, trials: int) -> list[float]:
    """|send skew| in ms when each writer is a thread started right after the other."""
    first, second = settings.regions[:2]
    sent: dict[str, int] = {}
    clients = {r: client(url, r) for r in (first, second)}
    for region, c in clients.items():
        c.meta.events.register(
            "before-send.dynamodb.PutItem",
            lambda region=region, **_: sent.__setitem__(region, time.perf_counter_ns()))
    skews = []
    for index in range(trials):
        key = {"PK": {"S": "bench-plain"}, "SK": {"S": f"t{index}"}}

        def write(region: str, value: int, key: dict[str, Any] = key) -> None:
            clients[region].put_item(
                TableName=settings.table, Item={**key, "Bookmark": {"N": str(value)}})

        threads = [threading.Thread(target=write, args=(r, i)) for i, r in
                   enumerate((first, second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        skews.append(abs(sent[second] - sent[first]) / 1e6)
        time.sleep(0.05)  # let replication settle, as gtbench's trials do
    return skews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()

    with emulator_process(["--lag-ms", "20", "--jitter-ms", "5"]) as url:
        settings = Settings(endpoint_url=url)
        regions = open_regions(settings)
        provision.setup(regions, settings, timing=provision.Timing(60, 0.1))
        plan = conflict.ConflictPlan((settings.regions[0], settings.regions[1]), (0.0,),
                                     args.trials, timeout_s=5.0)
        result = conflict.run_conflict(regions, settings, plan)
        staged = [abs(t.writes[1].sent_ns - t.writes[0].sent_ns) / 1e6 for t in result.trials]
        plain = plain_threads(url, settings, args.trials)

    print(f"send skew at offset 0 over {args.trials} trials (ms)")
    print(f"{'':24} {'median':>8} {'p90':>8} {'max':>8}")
    for name, values in (("gtbench staged release", staged),
                         ("two plain threads", plain)):
        print(f"{name:24} {median(values):8.3f} {percentile(values, 90):8.3f} "
              f"{max(values):8.3f}")
    print(f"target: gtbench median <= 2 ms: {median(staged):.3f} ms "
          f"[{verdict(median(staged) <= 2.0)}]; "
          f"plain threads / gtbench = {median(plain) / max(median(staged), 1e-9):.1f}x")


if __name__ == "__main__":
    main()
