"""How fast Ctrl-C (and SIGTERM) ends a run, beside what it cost before: signal to exit.

    python -m benchmarks.interrupt [--runs 5] [--hogs 2]

Each run starts an experiment, sends the signal once the experiment's first write is
in the emulator's log, and times until the process has exited with its document
saved: `conflict --offset-ms 20000` (the second writer waits 20 s for its moment: the
baseline is that offset, which the old writers slept through), `conflict --mode
increment`, and `race`. ``--hogs N`` keeps N processes spinning on the CPU meanwhile
(a loaded machine). Target: every run's exit under 1 s, with the signal's exit status
(130, 143) and a document on disk.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.common import cpu_hogs, emulator_process, gtbench, median, verdict

OFFSET_MS = 20_000
CASES = {
    "conflict, 20 s offset": ("gtbench-conflict", ["conflict", "--offset-ms", str(OFFSET_MS),
                                                   "--trials", "2"]),
    "conflict --mode increment": ("gtbench-conflict", ["conflict", "--mode", "increment",
                                                       "--trials", "50"]),
    "race": ("gtbench-race", ["race", "--trials", "200"]),
}


def landed(url: str, pk: str) -> bool:
    with urllib.request.urlopen(f"{url}/_gtbench/replications", timeout=5) as answer:
        rows = json.loads(answer.read())["replications"]
    return any(str(r["key"].get("PK", {}).get("S", "")) == pk for r in rows)


def one_run(url: str, folder: Path, index: int, pk: str, args: list[str],
            signum: int) -> tuple[float, int, bool]:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_gtbench/replications",
                                                  method="DELETE"), timeout=5).close()
    out = folder / f"run{index}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", *args, "--endpoint-url", url, "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not landed(url, pk):
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the first write never landed")
        time.sleep(0.02)
    sent = time.monotonic()
    process.send_signal(signum)
    code = process.wait(120)
    return time.monotonic() - sent, code, out.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hogs", type=int, default=0)
    options = parser.parse_args()
    with emulator_process() as url, tempfile.TemporaryDirectory() as folder:
        gtbench(url, "setup")
        with cpu_hogs(options.hogs):
            print(f"signal to exit, {options.runs} runs each, beside {options.hogs} CPU "
                  "hogs:")
            every: list[float] = []
            for name, (pk, args) in CASES.items():
                for signum in (signal.SIGINT, signal.SIGTERM):
                    results = [one_run(url, Path(folder), i, pk, args, signum)
                               for i in range(options.runs)]
                    took = [t for t, _, _ in results]
                    every += took
                    clean = all(code == 128 + signum and saved for _, code, saved in results)
                    print(f"  {name:28} {signal.Signals(signum).name:7} median "
                          f"{median(took):.2f} s, max {max(took):.2f} s, exit "
                          f"{128 + signum} and saved in every run: {clean}")
    print(f"  baseline     {OFFSET_MS / 1000:.2f} s (the writers slept through the offset)")
    print(f"  target       every exit under 1 s: {verdict(max(every) < 1.0)} "
          f"(max {max(every):.2f} s)")


if __name__ == "__main__":
    main()
