"""How fast Ctrl-C ends a run, beside what it cost before: SIGINT to exit.

    python -m benchmarks.interrupt [--runs 5]

Each run starts `gtbench conflict --offset-ms 20000` (the second writer waits 20 s
for its moment), sends SIGINT once the first writer's write is in the emulator's
log, and times until the process has exited with its document saved. The baseline
is the offset the old writers slept through before Ctrl-C could act: 20 s. Target:
gtbench's median under 1 s, every run exit status 130 and a document on disk.
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

from benchmarks.common import emulator_process, gtbench, median, verdict

OFFSET_MS = 20_000


def first_write_landed(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/_gtbench/replications", timeout=5) as answer:
        rows = json.loads(answer.read())["replications"]
    return any(str(r["key"].get("PK", {}).get("S", "")) == "gtbench-conflict" for r in rows)


def one_run(url: str, folder: Path, index: int) -> tuple[float, int, bool]:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_gtbench/replications",
                                                  method="DELETE"), timeout=5).close()
    out = folder / f"run{index}.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "conflict", "--endpoint-url", url,
         "--offset-ms", str(OFFSET_MS), "--trials", "2", "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not first_write_landed(url):
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("the first write never landed")
        time.sleep(0.02)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    code = process.wait(120)
    return time.monotonic() - sent, code, out.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with emulator_process() as url, tempfile.TemporaryDirectory() as folder:
        gtbench(url, "setup")
        results = [one_run(url, Path(folder), i) for i in range(runs)]
    took = [t for t, _, _ in results]
    clean = all(code == 130 and saved for _, code, saved in results)
    print(f"Ctrl-C to exit over {runs} runs (offset {OFFSET_MS / 1000:g} s):")
    print(f"  gtbench      median {median(took):.2f} s, max {max(took):.2f} s, "
          f"exit 130 and saved in every run: {clean}")
    print(f"  baseline     {OFFSET_MS / 1000:.2f} s (the writers slept through the offset)")
    print(f"  target       median under 1 s: {verdict(median(took) < 1.0 and clean)}")


if __name__ == "__main__":
    main()
