"""moto's own DynamoDB tests, through the emulator and through plain ``moto_server``.

    python -m benchmarks.moto_suite MOTO_CHECKOUT [-- PYTEST ARGS]

MOTO_CHECKOUT is a checkout of moto's repository (its ``tests/`` folder is what runs;
nothing of it is kept here). moto's tests run in its server mode
(``TEST_SERVER_MODE=true``), once against a plain ``moto_server`` and once against
the emulator (``gtbench local serve``), each in a process of its own, one after the
other. Printed: each run's counts and wall time, and the tests that fail through the
emulator but not through moto's own server. Target (issue #33): none. moto's tests
need ``freezegun`` besides the test extra.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import emulator_process, server_process


def run(checkout: Path, url: str, extra: list[str]) -> tuple[float, set[str], str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:gtbench",
         "-o", "addopts=", "-rfE", "tests/test_dynamodb",
         # needs a module moto's test extra brings, not the server
         "--ignore=tests/test_dynamodb/test_dynamodb_export_table.py", *extra],
        cwd=checkout, capture_output=True, text=True,
        env={**os.environ, "TEST_SERVER_MODE": "true", "TEST_SERVER_MODE_ENDPOINT": url})
    took = time.monotonic() - started
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.M))
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    return took, failed, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()
    if not (options.checkout / "tests" / "test_dynamodb").is_dir():
        parser.error(f"{options.checkout} holds no tests/test_dynamodb")
    with server_process(["moto.server"], "/moto-api/") as url:
        moto_took, moto_failed, moto_last = run(options.checkout, url, options.pytest_args)
    with emulator_process() as url:
        took, failed, last = run(options.checkout, url, options.pytest_args)
    print(f"moto_server: {moto_last} ({moto_took:.0f} s)")
    print(f"emulator:    {last} ({took:.0f} s)")
    only_here = sorted(failed - moto_failed)
    print(f"failing through the emulator only: {len(only_here)} (target 0: "
          f"{'ok' if not only_here else 'MISSED'}); failing through both: "
          f"{len(failed & moto_failed)}")
    for name in only_here:
        print(f"  {name}")


if __name__ == "__main__":
    main()
