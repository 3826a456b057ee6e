"""Race accuracy from afar: adaptive pollers beside fixed ones, at two distances.

    python -m benchmarks.race_distance [--trials 20]

The emulator runs twice: with every region on loopback, and with the client placed
in us-west-2 (eu-west-1 is then 118 ms away, as on AWS). At each distance the race
runs with its defaults (a read every 5 ms, pollers chosen from the measured round
trip) and with the fixed pollers it used before (4 pollers every 100 ms), against
the emulator's ground truth. Targets with default flags: the true lag inside the
bound in every trial; median point-estimate error at most 2.5 ms; median bound width
at most 15 ms on loopback, and at most the two measured round trips + 15 ms from afar.
"""

from __future__ import annotations

import argparse

from benchmarks.common import emulator_process, median, verdict
from gtbench.experiments.race import RacePlan, RaceResult, run_race
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision


def race(url: str, trials: int, adaptive: bool) -> RaceResult:
    settings = Settings(endpoint_url=url)
    regions = open_regions(settings)
    provision.setup(regions, settings, timing=provision.Timing(120, 0.1))
    pair = ((settings.home, settings.replicas[0]),)
    plan = (RacePlan(pair, trials, resolution_s=0.005) if adaptive
            else RacePlan(pair, trials, pollers=4, interval_s=0.1))
    return run_race(regions, settings, plan)


def figures(result: RaceResult) -> tuple[int, int, float, float, float]:
    """(inside, with truth, median |error| s, median width s, two round trips s)."""
    verdicts = [t.verdict() for t in result.trials]
    bounded = [v for v in verdicts if v.error_s is not None]
    errors = [abs(v.error_s) for v in bounded if v.error_s is not None]
    widths = [v.lag_high_s - v.lag_low_s for v in bounded
              if v.lag_high_s is not None and v.lag_low_s is not None]
    writes = [v.write_rtt_s for v in verdicts if v.write_rtt_s is not None]
    reader = result.resolution_s[result.plan.pairs[0][1]]
    return (sum(1 for v in bounded if v.true_in_bound), len(bounded), median(errors),
            median(widths), median(writes) + reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    lag = ["--lag-ms", "300", "--jitter-ms", "100"]
    print(f"{args.trials} trials each, lag 300 ± 100 ms, us-west-2 -> eu-west-1")
    print(f"{'distance':<22}{'pollers':<26}{'in bound':>9}{'|error| ms':>12}"
          f"{'width ms':>10}{'2 RTT ms':>10}  targets")
    for distance, flags in (("loopback", []), ("client in us-west-2", ["--client-region",
                                                                        "us-west-2"])):
        with emulator_process([*lag, *flags]) as url:
            for adaptive in (True, False):
                result = race(url, args.trials, adaptive)
                inside, n, error, width, trips = figures(result)
                schedule = result.schedules[result.plan.pairs[0][1]]
                how = (f"adaptive: {schedule.pollers} x {schedule.interval_s * 1000:g} ms"
                       if adaptive else "fixed: 4 x 100 ms")
                limit = 0.015 if distance == "loopback" else trips + 0.015
                ok = inside == n == args.trials and error <= 0.0025 and width <= limit
                print(f"{distance:<22}{how:<26}{inside:>4}/{n:<4}{error * 1000:>12.2f}"
                      f"{width * 1000:>10.1f}{trips * 1000:>10.1f}  "
                      + (verdict(ok) if adaptive else "baseline"))


if __name__ == "__main__":
    main()
