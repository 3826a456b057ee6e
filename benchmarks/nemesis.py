"""gtbench under the emulator's nemesis: nothing measured or seeded is lost.

    python -m benchmarks.nemesis [--items 10000] [--interrupts 5]

Three figures, each beside a baseline from the same run, on one emulator in its
own process:
- seeding 10,000 items under 30% throttling: items lost by gtbench's batches,
  beside a loop that sends each 25-item BatchWriteItem once and does not resend
  what comes back unprocessed (what many scripts do);
- Ctrl-C during `gtbench race --json`: trials in the saved file beside the trials
  the run had printed as completed, and the time from the signal to the exit
  beside the median replication lag, the least one trial takes;
- a race through a 2 s outage of the reading region: trials kept beside trials run.
Targets: 0 items lost; every completed trial kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import client, emulator_process, median, table_spec, verdict
from gtbench.experiments import race
from gtbench.local.lifecycle import control
from gtbench.regions import Settings, open_regions
from gtbench.tables import batch, dataset, provision

A, B = "us-west-2", "eu-west-1"


def seeding(url: str, items: int) -> tuple[int, int]:
    """Items missing after seeding under 30% throttling: (baseline, gtbench)."""
    home = client(url, A)
    rows = dataset.synthetic_bookmarks(items)
    for name in ("naive", "gtbench"):
        home.create_table(**table_spec(name))
    control(url, "faults", "POST", {"kind": "throttle", "region": A, "share": 0.3})
    for chunk in batch.chunks(rows, batch.WRITE_BATCH):
        # botocore still retries a wholly throttled call; the unprocessed are dropped.
        with contextlib.suppress(home.exceptions.ClientError):
            home.batch_write_item(RequestItems={"naive": [{"PutRequest": {"Item": i}}
                                                          for i in chunk]})
    batch.write_all(home, "gtbench", rows)
    control(url, "faults", "DELETE")
    counts = [home.scan(TableName=n, Select="COUNT")["Count"] for n in ("naive", "gtbench")]
    return items - counts[0], items - counts[1]


def interrupted_race(url: str, after: int, folder: Path) -> tuple[int, int, float]:
    """(trials printed, trials saved, seconds from SIGINT to exit)."""
    path = folder / f"race-{after}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "race", "--endpoint-url", url, "--trials", "500",
         "--interval-ms", "20", "--json", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    printed = 0
    while printed < after:
        line = process.stdout.readline()
        if not line:
            break
        printed += line.lstrip().startswith("trial")
    signalled = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    exited = time.perf_counter() - signalled
    saved = json.loads(path.read_text()) if path.exists() else {"trials": []}
    return printed, len(saved["trials"]), exited


def race_through_outage(url: str) -> tuple[int, int, dict[str, int]]:
    """(trials run, trials kept, statuses) with the reader cut off for 2 s mid-run."""
    settings = Settings(endpoint_url=url)
    regions = open_regions(settings)
    plan = race.RacePlan(((A, B),), trials=20, pollers=4, interval_s=0.02, timeout_s=2.0)

    def cut(trial: race.Trial) -> None:
        if trial.index == 4:
            control(url, "faults", "POST", {"kind": "outage", "region": B, "duration_s": 2})

    ran: list[race.Trial] = []

    def seen(trial: race.Trial) -> None:
        ran.append(trial)
        cut(trial)

    result = race.run_race(regions, settings, plan, on_trial=seen)
    statuses: dict[str, int] = {}
    for trial in result.trials:
        status = trial.verdict().status
        statuses[status] = statuses.get(status, 0) + 1
    return len(ran), len(result.trials), statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interrupts", type=int, default=5)
    args = parser.parse_args()

    with emulator_process(["--lag-ms", "200", "--jitter-ms", "50"]) as url, \
            tempfile.TemporaryDirectory() as scratch:
        naive_lost, lost = seeding(url, args.items)
        settings = Settings(endpoint_url=url)
        provision.setup(open_regions(settings), settings, timing=provision.Timing(60, 0.1))
        interrupts = [interrupted_race(url, 3 + 2 * k, Path(scratch))
                      for k in range(args.interrupts)]
        ran, kept, statuses = race_through_outage(url)
        lags = [t["lag_s"] for f in Path(scratch).glob("*.json")
                for t in json.loads(f.read_text())["trials"] if t["lag_s"] is not None]
        one_trial = median(lags) if lags else float("nan")

    print(f"seeding {args.items} items under 30% throttling of the home region")
    print(f"  {'baseline: send each batch once':<44} items lost {naive_lost:>6}")
    print(f"  {'gtbench: resend unprocessed and throttled':<44} items lost {lost:>6}  "
          f"(target 0) {verdict(lost == 0)}")
    print(f"Ctrl-C during `gtbench race --json`, {args.interrupts} times")
    all_kept = all(saved >= printed for printed, saved, _ in interrupts)
    for printed, saved, exited in interrupts:
        print(f"  trials printed {printed:>3}, saved {saved:>3}, exit {exited * 1000:>6.0f} ms "
              "after the signal")
    print(f"  every completed trial kept: {verdict(all_kept)}; median exit "
          f"{median([e for _, _, e in interrupts]) * 1000:.0f} ms after the signal, beside "
          f"a median lag (the least a trial takes) of {one_trial * 1000:.0f} ms")
    print("a race through a 2 s outage of the reading region")
    shown = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    print(f"  trials run {ran}, kept {kept} ({shown}) {verdict(ran == kept)}")


if __name__ == "__main__":
    main()
