"""How long two regions disagreed in a conflict: the bound beside the point estimate.

    python -m benchmarks.disagreement [--trials 20] [--lag-ms 500]

`gtbench conflict` at offset 0 against an emulator in its own process (lag
--lag-ms ± 20 ms). The truth comes from the emulator's log: when both writes are
in flight together the earlier is overtaken, so the regions disagreed from the
earlier write's stamp until the later one arrived in the earlier's region. Reported:
how often that truth lies inside the bound (target: always), the bound's median
width, and the point estimate's median |error| (each read standing for its region
from its midpoint on, the figure gtbench gave before the bound; the baseline).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.common import emulator_process, gtbench, median, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--lag-ms", type=float, default=500.0)
    args = parser.parse_args()

    with emulator_process(["--lag-ms", str(args.lag_ms), "--jitter-ms", "20"]) as url, \
            tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "conflict.json"
        gtbench(url, "setup")
        gtbench(url, "conflict", "--trials", str(args.trials), "--no-timelines", "--json",
                str(out))
        trials = json.loads(out.read_text())["trials"]

    widths: list[float] = []
    errors: list[float] = []
    judged = count_inside = 0
    for t in trials:
        truth = t["truth"] or {}
        loser, winner = truth.get(t["loser_write"] or ""), truth.get(t["final_write"] or "")
        if not loser or not winner or winner["lag_s"] is None:
            continue
        apart = winner["stamp"] - loser["stamp"]
        if loser["due_lag_s"] is None or loser["due_lag_s"] <= apart:
            continue  # the earlier write arrived first: not the case the formula covers
        true = apart + winner["lag_s"]
        judged += 1
        count_inside += t["disagreed_low_s"] <= true <= t["disagreed_high_s"]
        widths.append(t["disagreed_high_s"] - t["disagreed_low_s"])
        errors.append(abs(t["disagreed_s"] - true))
    if not judged:
        raise SystemExit("no trial had both writes in flight together: raise --lag-ms")
    ms = 1000.0
    print(f"conflict at offset 0, {args.trials} trials, emulator lag {args.lag_ms:g} ± 20 ms; "
          f"{judged} with both writes in flight together")
    print(f"  {'truth inside the bound':<32}{count_inside}/{judged} "
          f"{verdict(count_inside == judged)}")
    print(f"  {'bound, median width':<32}{median(widths) * ms:.1f} ms")
    print(f"  {'point estimate, median |error|':<32}{median(errors) * ms:.1f} ms "
          "(the baseline: a figure with no bound)")


if __name__ == "__main__":
    main()
