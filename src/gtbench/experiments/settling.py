"""A run's own bookkeeping settles before it exits: the last image of each item it kept
for itself (its run marker, the outage's heartbeats) has reached every region, so
`gtbench status` right after a run finds the replicas agreeing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

SETTLE_S = 10.0  # replication is sub-second on AWS and the emulator's default lag
POLL_S = 0.02


def await_keys(readers: dict[str, Any], table: str, keys: Sequence[dict[str, Any]], *,
               timeout_s: float = SETTLE_S) -> list[tuple[dict[str, Any], str]]:
    """Wait until each key reads the same (strongly consistent) in every region of
    ``readers`` (region -> client). Returns what had not settled by ``timeout_s``, as
    (key, region that differed): at once on a read that fails, since an endpoint that
    refuses or a table that is gone will not settle by waiting."""
    deadline = time.monotonic() + timeout_s
    pending = list(keys)
    while True:
        unsettled: list[tuple[dict[str, Any], str]] = []
        for key in pending:
            images: dict[str, Any] = {}
            try:
                for region, client in readers.items():
                    images[region] = client.get_item(TableName=table, Key=key,
                                                     ConsistentRead=True).get("Item")
            except Exception:  # a region that does not answer: nothing to wait for
                return [(k, region) for k in pending]
            first = next(iter(images.values()))
            differ = next((r for r, image in images.items() if image != first), None)
            if differ is not None:
                unsettled.append((key, differ))
        if not unsettled or time.monotonic() > deadline:
            return unsettled
        pending = [k for k, _ in unsettled]
        time.sleep(POLL_S)
