"""MREC against MRSC on the emulator, with known round trips between the regions.

    python -m benchmarks.compare_modes [--runs 3] [--trials 10]

Each run is one `compare` (library call) on an emulator in its own process, every
region on loopback for the client, round trips between the regions from the
AWS-FACTS table (us-west-2's nearest participant is us-east-2, 51 ms; us-east-1 and
us-east-2 are 15 ms apart), replication lag 300 ± 50 ms. Beside each measured
figure is its baseline from the same run: the configured round trip for the
write cost, MREC's count for stale strong reads and lost updates.

Targets: MRSC write latency minus MREC write latency (median, per region) within
10% of the configured round trip to the nearest participant; 0 stale strong reads
after the acknowledgement on MRSC in every run; MREC loses updates and MRSC none,
in the same run.
"""

from __future__ import annotations

import argparse

from benchmarks.common import emulator_process, verdict
from gtbench import document
from gtbench.analysis import CompareSummary
from gtbench.emulator.mrsc import nearest
from gtbench.experiments.compare import ComparePlan, run_compare
from gtbench.regions import Settings, open_regions

REGIONS = ("us-west-2", "us-east-1", "us-east-2")


def once(url: str, trials: int) -> CompareSummary:
    settings = Settings(endpoint_url=url, regions=REGIONS, table="bench-compare-mrsc")
    regions = open_regions(settings)
    plan = ComparePlan(REGIONS, trials, conflicts=5, increments=5, pace_ms=50)
    result = run_compare(regions, settings, plan, "bench-compare")
    summary: CompareSummary = document.compare_summary(result)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10, help="race trials per pair")
    args = parser.parse_args()
    rtt = {r: nearest(r, REGIONS, {})[1] / 1000 for r in REGIONS}
    print(f"{args.runs} runs of compare, {args.trials} race trials per pair, lag 300 ± 50 ms")
    print(f"{'run':<5}{'region':<11}{'write +ms':>10}{'RTT ms':>8}{'off':>7}  "
          f"{'stale strong MRSC (MREC)':>26}  {'lost updates MRSC (MREC)':>26}")
    ok_cost = ok_stale = ok_lost = True
    for run in range(1, args.runs + 1):
        with emulator_process(["--lag-ms", "300", "--jitter-ms", "50"]) as url:
            summary = once(url, args.trials)
        modes = {m.consistency: m for m in summary.modes}
        mrec, mrsc = modes["EVENTUAL"], modes["STRONG"]
        ok_stale &= mrsc.stale_strong_reads == 0 and mrsc.strong_reads_after_ack > 0
        ok_lost &= bool(mrec.lost_updates) and mrsc.lost_updates == 0
        for cost in (c for c in summary.costs if c.operation == "write"):
            off = (cost.extra_s - rtt[cost.region]) / rtt[cost.region]
            ok_cost &= abs(off) <= 0.10
            stale = (f"{mrsc.stale_strong_reads} of {mrsc.strong_reads_after_ack} "
                     f"({mrec.stale_strong_reads} of {mrec.strong_reads_after_ack})")
            lost = (f"{mrsc.lost_updates} of {mrsc.updates} ({mrec.lost_updates} of "
                    f"{mrec.updates})")
            print(f"{run:<5}{cost.region:<11}{cost.extra_s * 1000:>10.1f}"
                  f"{rtt[cost.region] * 1000:>8.0f}{off:>+7.0%}  {stale:>26}  {lost:>26}")
    print(f"write cost within 10% of the round trip: {verdict(ok_cost)}; "
          f"0 stale strong reads on MRSC: {verdict(ok_stale)}; "
          f"MREC loses updates, MRSC none: {verdict(ok_lost)}")


if __name__ == "__main__":
    main()
