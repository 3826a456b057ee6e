"""Strongly consistent pollers: the instrument every experiment reads replicas with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtbench.history import Op

VALUE = "Bookmark"
WRITE_ID = "LastWrite"  # which write produced the item's current image


def read_op(client: Any, table: str, region: str, key: dict[str, Any], process: int) -> Op:
    """One ``ConsistentRead`` GetItem, as an Op: value and write id seen, or ``fail``."""
    sent = time.perf_counter_ns()
    try:
        response = client.get_item(TableName=table, Key=key, ConsistentRead=True,
                                   ProjectionExpression="#v, #w",
                                   ExpressionAttributeNames={"#v": VALUE, "#w": WRITE_ID})
    except (ClientError, BotoCoreError):
        return Op(region, "read", sent, time.perf_counter_ns(), "fail", None, process)
    received = time.perf_counter_ns()
    item = response.get("Item") or {}
    value = int(item[VALUE]["N"]) if VALUE in item else None
    write_id = item[WRITE_ID]["S"] if WRITE_ID in item else None
    return Op(region, "read", sent, received, "ok", value, process, write_id)


def poll(client: Any, table: str, region: str, key: dict[str, Any], *, process: int,
         first_send: float, interval_s: float, deadline: float, stop: threading.Event,
         on_read: Callable[[Op], None] | None = None) -> list[Op]:
    """Read ``key`` every ``interval_s`` from ``first_send`` (perf_counter seconds) until
    ``stop`` is set or ``deadline`` passes. ``on_read`` sees each read as it lands and
    may set ``stop``."""
    ops: list[Op] = []
    next_send = first_send
    while not stop.is_set():
        pause = next_send - time.perf_counter()
        # Event.wait, not sleep: wake at once if the experiment ends mid-pause.
        if pause > 0 and stop.wait(pause):
            break
        if time.perf_counter() > deadline:
            break
        op = read_op(client, table, region, key, process)
        ops.append(op)
        if on_read is not None:
            on_read(op)
        next_send += interval_s
    return ops
