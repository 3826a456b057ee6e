"""Shared helpers for the benchmark scripts: clients, percentiles, a plain report."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3

from gtbench.local.lifecycle import free_port


def client(url: str, region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=url,
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def gtbench(url: str, *args: str) -> None:
    """Run ``gtbench ARGS --endpoint-url URL`` to the end (at 100 columns); a failure
    ends the benchmark with the command's last words."""
    done = subprocess.run([sys.executable, "-m", "gtbench", *args, "--endpoint-url", url],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table_spec(name: str) -> dict[str, Any]:
    return {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                      {"AttributeName": "SK", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"},
                                 {"AttributeName": "SK", "AttributeType": "S"}],
    }


def global_table(url: str, name: str, regions: Sequence[str]) -> None:
    """A table in ``regions[0]`` with a replica in each other region, every one ACTIVE."""
    home = client(url, regions[0])
    home.create_table(**table_spec(name))
    for region in regions[1:]:
        home.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        while any(r["ReplicaStatus"] != "ACTIVE" for r in
                  home.describe_table(TableName=name)["Table"].get("Replicas", [])):
            time.sleep(0.05)


@contextmanager
def server_process(arguments: list[str], ready_path: str) -> Iterator[str]:
    """``python -m ARGUMENTS --port PORT`` on a free loopback port, once ``ready_path``
    answers; stopped after."""
    port = free_port("127.0.0.1")
    process = subprocess.Popen([sys.executable, "-m", *arguments, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}{ready_path}", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def emulator_process(extra: list[str] | None = None) -> Iterator[str]:
    """An emulator in its own process, as users run it, so client and server don't share
    one interpreter lock."""
    flags = extra or ["--lag-ms", "50", "--jitter-ms", "10"]
    with server_process(["gtbench", "local", "serve", "--replica-delay-s", "0", *flags],
                        "/_gtbench/status") as url:
        yield url


@contextmanager
def cpu_hogs(count: int = 2) -> Iterator[None]:
    """``count`` processes spinning on the CPU meanwhile (a loaded machine), killed
    after."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
