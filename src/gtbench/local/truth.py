"""The local emulator's ground truth: what it replicated, when, and with what outcome.

Only gtbench's emulator has this log; every function returns None elsewhere
(plain moto, AWS), and callers then rely on their own measurements alone.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]


def replications(endpoint_url: str, table: str, since: float) -> list[Row] | None:
    """Every delivery of a write to ``table`` made at or after ``since`` (wall clock)."""
    query = urllib.parse.urlencode({"table": table, "since": since})
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_gtbench/replications?{query}",
                                    timeout=10) as response:
            rows: list[Row] = json.loads(response.read())["replications"]
    except (OSError, ValueError, KeyError):
        return None
    return rows


def emulator_settings(endpoint_url: str) -> dict[str, Any] | None:
    """The emulator's lag model, replica delays and faults, to record with a result."""
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_gtbench/status", timeout=5) as response:
            status: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if status.get("emulator") != "gtbench":
        return None
    keep = ("version", "lag", "replica_create_delay_s", "replica_delete_delay_s", "paused",
            "faults", "metric_period_s", "metric_delay_s", "fis_delay_s", "capacity",
            "clock")
    return {k: status[k] for k in keep if k in status}


def settled(endpoint_url: str, table: str, since: float, wanted: Callable[[Row], bool],
            timeout_s: float) -> list[Row] | None:
    """The wanted rows once none is still in flight, or as they stand at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = replications(endpoint_url, table, since)
        if rows is None:
            return None
        mine = [r for r in rows if wanted(r)]
        if all(r["applied_at"] is not None for r in mine) or time.monotonic() > deadline:
            return mine
        time.sleep(0.02)


def sort_key_of(row: Row) -> str | None:
    sk: str | None = row["key"].get("SK", {}).get("S")
    return sk
