"""Race from the client beside race with probes in the regions, in one run.

    python -m benchmarks.probes [--trials 20]

The emulator places the client in us-west-2 (eu-west-1 is 118 ms away) with lag
1000 +- 250 ms. Each way between us-west-2 and eu-west-1, --trials trials from the
client (its default adaptive pollers) and as many with --probes (local workers placed
in their regions, a read every 5 ms, clock error 1 ms). Reported per run: the median
bound width, the median |error| against the emulator's truth, the share of true lags
inside their bounds, and for probes the ping-pong round trip's bound width.
Targets (issue #23): probes' median width at most 15 ms, median error at most 2 ms,
truth inside 100%; ping-pong width at most 25 ms.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import emulator_process, gtbench, median, verdict

A, B = "us-west-2", "eu-west-1"


def race(url: str, source: str, target: str, trials: int, folder: Path, *flags: str
         ) -> dict[str, Any]:
    out = folder / f"{source}-{len(flags)}.json"
    gtbench(url, "race", "--from", source, "--to", target, "--trials", str(trials),
            "--json", str(out), *flags)
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def figures(document: dict[str, Any]) -> dict[str, float]:
    trials = [t for t in document["trials"] if t["lag_s"] is not None]
    trips = [t["round_trip_high_s"] - t["round_trip_low_s"] for t in trials
             if t.get("round_trip_low_s") is not None]
    return {
        "width_ms": median([(t["lag_high_s"] - t["lag_low_s"]) * 1000 for t in trials]),
        "error_ms": median([abs(t["error_s"]) * 1000 for t in trials
                            if t["error_s"] is not None]),
        "inside": sum(1 for t in trials if t["true_in_bound"]) / max(1, len(trials)),
        "trip_ms": median([w * 1000 for w in trips]) if trips else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    trials = parser.parse_args().trials
    flags = ["--lag-ms", "1000", "--jitter-ms", "250", "--client-region", A]
    with emulator_process(flags) as url, tempfile.TemporaryDirectory() as folder:
        gtbench(url, "setup")
        rows = []
        for source, target in ((A, B), (B, A)):
            for how, extra in (("from the client", ()), ("with probes", ("--probes",))):
                got = figures(race(url, source, target, trials, Path(folder), *extra))
                rows.append((f"{source} → {target}", how, got))
    print(f"{trials} trials each way, client in {A}, lag 1000 ± 250 ms:")
    print(f"  {'pair':23} {'how':16} {'width':>9} {'|error|':>9} {'inside':>7} "
          f"{'ping-pong':>10}")
    for pair, how, got in rows:
        trip = "" if got["trip_ms"] != got["trip_ms"] else f"{got['trip_ms']:8.1f} ms"
        print(f"  {pair:23} {how:16} {got['width_ms']:6.1f} ms {got['error_ms']:6.2f} ms "
              f"{got['inside']:6.0%} {trip:>10}")
    probes = [got for _, how, got in rows if how == "with probes"]
    print("  targets: probes' width <= 15 ms "
          f"{verdict(all(g['width_ms'] <= 15 for g in probes))}, |error| <= 2 ms "
          f"{verdict(all(g['error_ms'] <= 2 for g in probes))}, inside 100% "
          f"{verdict(all(g['inside'] == 1 for g in probes))}, ping-pong <= 25 ms "
          f"{verdict(all(g['trip_ms'] <= 25 for g in probes))}")


if __name__ == "__main__":
    main()
