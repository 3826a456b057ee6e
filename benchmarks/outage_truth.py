"""Outage: gtbench's recovery point and lost writes against the emulator's ground truth.

    python -m benchmarks.outage_truth [--runs 10] [--duration 3]

Each run is one `outage` (library call) on an emulator in its own process, lag
300 ± 50 ms, three regions, us-east-1 cut off: first on an MREC table, then on an
MRSC one. gtbench measures from its own reads (each item's Writes set); the
baseline is the emulator's replication log, which knows each write's stamp, the
stamp it replaced, and when each delivery was applied. Targets: the recovery
point and the lost writes agree exactly (the same write ids) in every run; the
time to agreement after the cut, beside the configured lag.
"""

from __future__ import annotations

import argparse
import statistics

from benchmarks.common import emulator_process, verdict
from gtbench.experiments.outage import OutagePlan, run_outage
from gtbench.local.cut import LocalCut
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision

REGIONS = ("us-west-2", "us-east-1", "us-east-2")
CUT = "us-east-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    print(f"{args.runs} runs per kind, {args.duration:g} s cut of {CUT}, 10 writes/s per "
          "region, lag 300 ± 50 ms")
    print(f"{'kind':<6}{'run':>4}{'recovery point':>16}{'(truth)':>9}{'lost':>7}{'(truth)':>9}"
          f"{'same ids':>10}{'converge s':>12}")
    agreed = True
    for strong in (False, True):
        kind = "MRSC" if strong else "MREC"
        converge = []
        with emulator_process(["--lag-ms", "300", "--jitter-ms", "50"]) as url:
            settings = Settings(endpoint_url=url, regions=REGIONS, table=f"bench-{kind.lower()}")
            regions = open_regions(settings)
            provision.setup(regions, settings, strong=strong)
            for run in range(1, args.runs + 1):
                plan = OutagePlan(CUT, args.duration, lead_s=1.0)
                result = run_outage(regions, settings, plan,
                                    LocalCut(url, CUT, args.duration))
                s, truth = result.summary(), result.truth
                same = truth is not None and (
                    sorted(truth.recovery_point) == sorted(s.recovery_point)
                    and sorted(truth.lost) == sorted(x.write_id for x in s.lost))
                agreed &= same
                if s.converge_s is not None:
                    converge.append(s.converge_s)
                print(f"{kind:<6}{run:>4}{s.recovery_point_writes:>16}"
                      f"{len(truth.recovery_point) if truth else '-':>9}"
                      f"{s.lost_writes if s.lost_writes is not None else '-':>7}"
                      f"{len(truth.lost) if truth else '-':>9}{'yes' if same else 'NO':>10}"
                      f"{s.converge_s if s.converge_s is not None else float('nan'):>12.3f}")
        if converge:
            print(f"{kind}: converged after {statistics.median(converge):.3f} s at the median "
                  f"(max {max(converge):.3f} s) beside the configured lag 0.300 ± 0.050 s")
    print(f"recovery point and lost writes equal to the ground truth in every run: "
          f"{verdict(agreed)}")


if __name__ == "__main__":
    main()
