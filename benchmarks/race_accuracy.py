"""Race accuracy against the emulator's ground truth, beside the naive method.

    python benchmarks/race_accuracy.py [--trials 30] [--lag-ms 300] [--jitter-ms 100]

The naive method is what public scripts do: write, then read every 250 ms until
the value shows, and call the time from write to fresh read the lag. Both run
against one emulator (its own process) in the same run. Targets on loopback:
true lag inside the bound in 100% of trials; median |error| of the point
estimate at most 5 ms; median bound width at most 20 ms; at least 10 times more
accurate than the naive method.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
import urllib.request

from benchmarks.common import emulator_process, median, verdict
from gtbench.experiments.race import RACE_PK, RacePlan, run_race
from gtbench.regions import Regions, Settings, open_regions
from gtbench.tables import provision


def naive_trials(regions: Regions, settings: Settings, trials: int, sleep_s: float
                 ) -> list[tuple[str, float]]:
    """(sort key, estimated lag) per trial, the way a sleep-and-poll script measures."""
    home = regions.client(settings.home)
    remote = regions.client(settings.replicas[0])
    out = []
    for index in range(trials):
        sk = f"naive-{secrets.token_hex(4)}-{index}"
        key = {"PK": {"S": RACE_PK}, "SK": {"S": sk}}
        sent = time.perf_counter()
        home.put_item(TableName=settings.table, Item={**key, "Bookmark": {"N": "1"}})
        while "Item" not in remote.get_item(TableName=settings.table, Key=key,
                                            ConsistentRead=True):
            time.sleep(sleep_s)
        out.append((sk, time.perf_counter() - sent))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--lag-ms", type=float, default=300.0)
    parser.add_argument("--jitter-ms", type=float, default=100.0)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--interval-ms", type=float, default=20.0)
    args = parser.parse_args()

    with emulator_process(["--lag-ms", str(args.lag_ms), "--jitter-ms",
                           str(args.jitter_ms)]) as url:
        settings = Settings(endpoint_url=url)
        regions = open_regions(settings)
        provision.setup(regions, settings, timing=provision.Timing(60, 0.1))
        plan = RacePlan(((settings.home, settings.replicas[0]),), args.trials, args.pollers,
                        args.interval_ms / 1000, 10.0)
        result = run_race(regions, settings, plan)
        since = time.time()
        naive = naive_trials(regions, settings, args.trials, 0.25)
        time.sleep(0.1)
        with urllib.request.urlopen(f"{url}/_gtbench/replications?table={settings.table}"
                                    f"&since={since - 1}") as response:
            truth = {r["key"]["SK"]["S"]: r["applied_at"] - r["written_at"]
                     for r in json.loads(response.read())["replications"]
                     if r["outcome"] == "applied"}

    verdicts = [t.verdict() for t in result.trials]
    bounded = [v for v in verdicts if v.error_s is not None]
    inside = sum(1 for v in bounded if v.true_in_bound)
    errors = [abs(v.error_s) for v in bounded if v.error_s is not None]
    widths = [v.lag_high_s - v.lag_low_s for v in bounded
              if v.lag_high_s is not None and v.lag_low_s is not None]
    naive_errors = [abs(estimate - truth[sk]) for sk, estimate in naive if sk in truth]
    ms = 1000.0
    gain = median(naive_errors) / median(errors)
    print(f"{args.trials} trials each, emulator lag {args.lag_ms:g} ± {args.jitter_ms:g} ms, "
          f"gtbench with {args.pollers} pollers every {args.interval_ms:g} ms")
    print(f"{'method':<34}{'median |error| ms':>18}{'p90 |error| ms':>16}  bound")
    print(f"{'gtbench race (point estimate)':<34}{median(errors) * ms:>18.2f}"
          f"{sorted(errors)[int(0.9 * (len(errors) - 1))] * ms:>16.2f}  "
          f"median width {median(widths) * ms:.1f} ms")
    print(f"{'naive: read every 250 ms':<34}{median(naive_errors) * ms:>18.2f}"
          f"{sorted(naive_errors)[int(0.9 * (len(naive_errors) - 1))] * ms:>16.2f}  none")
    print()
    print(f"true lag inside the bound: {inside}/{len(bounded)} "
          f"(target 100%) {verdict(inside == len(bounded) == args.trials)}")
    print(f"median |error| {median(errors) * ms:.2f} ms (target <= 5) "
          f"{verdict(median(errors) <= 0.005)}")
    print(f"median bound width {median(widths) * ms:.1f} ms (target <= 20) "
          f"{verdict(median(widths) <= 0.020)}")
    print(f"accuracy gain over naive: {gain:.0f}x (target >= 10) {verdict(gain >= 10)}")


if __name__ == "__main__":
    main()
