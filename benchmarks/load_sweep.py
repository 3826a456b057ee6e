"""Lag under load on a provisioned table beside the same sweep on-demand, in one run.

    python -m benchmarks.load_sweep [--wcu 20] [--rates 0,10,20,40] [--trials 3]

Two emulators, each in a process of its own, lag 100 +- 10 ms: one with every
replica provisioned at --wcu write units a second (`--wcu`: AWS gives a global
table's replicas one write capacity), one on-demand (the baseline). The same `race
--load` runs against each. Reported per rate: the rate each step reached, and the
median lag, measured and true, on both. Expected (issue #34): on the provisioned
table the rate reached levels off at --wcu (the source refuses the rest) while the
lag stays near flat; on-demand both follow the rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import emulator_process, gtbench, verdict


def sweep(url: str, rates: str, trials: int, out: Path) -> dict[str, Any]:
    gtbench(url, "setup")
    gtbench(url, "race", "--trials", str(trials), "--load", rates, "--json", str(out))
    return {s["rate_wps"]: s for s in json.loads(out.read_text())["summary"]["load"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wcu", type=float, default=20.0)
    parser.add_argument("--rates", default="0,10,20,40")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    base = ["--lag-ms", "100", "--jitter-ms", "10", "--no-network-lag"]
    with tempfile.TemporaryDirectory() as folder:
        with emulator_process([*base, "--wcu", f"{args.wcu:g}"]) as url:
            provisioned = sweep(url, args.rates, args.trials, Path(folder) / "p.json")
        with emulator_process(base) as url:
            on_demand = sweep(url, args.rates, args.trials, Path(folder) / "o.json")

    def lag(step: dict[str, Any], key: str) -> str:
        return "    -   " if step[key] is None else f"{step[key]:7.3f} "

    print(f"race --load {args.rates}, {args.trials} trials a step, us-west-2 → eu-west-1, "
          f"lag 100 ± 10 ms; every replica at {args.wcu:g} WCU beside on-demand:")
    print(f"  {'writes/s':>8}  {'reached':>7} {'p50':>8} {'true':>8}   "
          f"{'reached':>7} {'p50':>8} {'true':>8}")
    for rate, step in provisioned.items():
        other = on_demand[rate]
        print(f"  {rate:8g}  {step['reached_wps']:7.1f} {lag(step, 'p50_s')} "
              f"{lag(step, 'true_p50_s')}  {other['reached_wps']:7.1f} "
              f"{lag(other, 'p50_s')} {lag(other, 'true_p50_s')}")
    rates = list(provisioned)
    low, high = rates[0], rates[-1]
    # A second of burst lets a step reach a little past the capacity at first.
    capped = provisioned[high]["reached_wps"] < max(args.wcu * 1.5, args.wcu + 5) < high
    flat = (on_demand[high]["p50_s"] or float("inf")) < (on_demand[low]["p50_s"] or 0) + 0.1
    print(f"  expected: provisioned reaches about {args.wcu:g} w/s at most (the source "
          f"refuses the rest) {verdict(capped)}, on-demand lag flat (within 0.1 s) "
          f"{verdict(flat)}")


if __name__ == "__main__":
    main()
