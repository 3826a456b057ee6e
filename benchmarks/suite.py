"""The test suite's own figures: wall time of whole runs and the tests that flaked,
quiet or beside a CPU hog (a loaded machine is where flakes show).

    python -m benchmarks.suite [--runs 3] [--hogs 2] [-- PYTEST ARGS]

Each run is the README's test command (`pytest`, the project's own options); a test
that failed in some runs and passed in others is a flake, one that failed in every
run is a failure. Targets (docs/development.md): the whole suite in 90 s on 2 cores,
and 20 consecutive runs beside a 2-process hog with no failure.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import cpu_hogs


def one_run(extra: list[str], log: Path) -> tuple[float, set[str], str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *extra], capture_output=True,
                          text=True)
    took = time.monotonic() - started
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.M))
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    if failed:  # the assertion that failed, for a flake seen once
        log.write_text(done.stdout + done.stderr)
    return took, failed, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=0)
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()
    failures: Counter[str] = Counter()
    times: list[float] = []
    with cpu_hogs(options.hogs):
        for run in range(options.runs):
            log = Path(tempfile.gettempdir()) / f"gtbench-suite-run-{run + 1}.log"
            took, failed, last = one_run(options.pytest_args, log)
            times.append(took)
            failures.update(failed)
            named = f"; failed: {', '.join(sorted(failed))} (output: {log})" if failed else ""
            print(f"run {run + 1}: {took:.0f} s, {last}{named}", flush=True)
    flakes = sorted(t for t, n in failures.items() if n < options.runs)
    broken = sorted(t for t, n in failures.items() if n == options.runs)
    print(f"suite beside {options.hogs} CPU hogs, {options.runs} runs: wall "
          f"{min(times):.0f} to {max(times):.0f} s (target 90 s: "
          f"{'ok' if max(times) <= 90 else 'MISSED'}); flaky {len(flakes)}, failing "
          f"{len(broken)} (target 0: {'ok' if not flakes and not broken else 'MISSED'})")
    for name in flakes:
        print(f"  flaky ({failures[name]} of {options.runs}): {name}")
    for name in broken:
        print(f"  failing: {name}")


if __name__ == "__main__":
    main()
