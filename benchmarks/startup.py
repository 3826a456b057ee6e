"""Start-up: `gtbench --help` beside `python -c "import boto3"`, in the same run.

    python -m benchmarks.startup [--runs 15]

Each is a fresh interpreter, run alternately so that machine noise falls on both.
Target: the median of `gtbench --help` at most half the median of importing boto3
(commands load lazily; boto3, rich and moto are imported only by the commands that
use them).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.common import median, percentile, verdict


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import boto3'": [sys.executable, "-c", "import boto3"],
        "gtbench --help": [sys.executable, "-m", "gtbench", "--help"],
    }
    for command in commands.values():  # warm the file cache and the bytecode
        timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            times[name].append(timed(command))

    print(f"start-up, {args.runs} fresh interpreters each, alternating")
    print(f"{'command':<28}{'median ms':>11}{'p90 ms':>9}")
    for name, values in times.items():
        print(f"{name:<28}{median(values) * 1000:>11.1f}{percentile(values, 90) * 1000:>9.1f}")
    ratio = median(times["gtbench --help"]) / median(times["python -c 'import boto3'"])
    print(f"gtbench --help / import boto3: {ratio:.2f} (target <= 0.50) {verdict(ratio <= 0.5)}")


if __name__ == "__main__":
    main()
