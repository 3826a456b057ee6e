"""Pollers: the instrument every experiment reads replicas with.

Reads are strongly consistent (``ConsistentRead=True``) unless asked otherwise: the
race also polls with eventually consistent reads, to show what readers who read that
way see.

Pollers read through clients without botocore retries (``Regions.reader``): each
read is one HTTP attempt, recorded as one Op, and a poller's next read is its
retry. A failed read is a result (``fail`` or ``info``), never an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtbench import outcomes
from gtbench.history import OK, Op

VALUE = "Bookmark"
WRITE_ID = "LastWrite"  # which write produced the item's current image
GIVE_UP_S = 1.0  # a trial stops reading once every read has failed for this long


def read_op(client: Any, table: str, region: str, key: dict[str, Any], process: int,
            consistent: bool = True) -> Op:
    """One GetItem, as an Op: the value and write id seen, or why not."""
    sent = time.perf_counter_ns()
    try:
        response = client.get_item(TableName=table, Key=key, ConsistentRead=consistent,
                                   ProjectionExpression="#v, #w",
                                   ExpressionAttributeNames={"#v": VALUE, "#w": WRITE_ID})
    except (ClientError, BotoCoreError) as exc:
        result, code = outcomes.read_failure(exc)
        return Op(region, "read", sent, time.perf_counter_ns(), result, None, process,
                  None, code, consistent)
    received = time.perf_counter_ns()
    item = response.get("Item") or {}
    value = int(item[VALUE]["N"]) if VALUE in item else None
    write_id = item[WRITE_ID]["S"] if WRITE_ID in item else None
    return Op(region, "read", sent, received, OK, value, process, write_id, None, consistent)


class FailureWatch:
    """Tells a trial to stop once its reads have failed without a break for ``give_up_s``:
    an endpoint that is gone should cost a second, not the whole timeout."""

    def __init__(self, give_up_s: float = GIVE_UP_S) -> None:
        self.give_up_ns = int(give_up_s * 1e9)
        self._failing_since: int | None = None
        self._lock = threading.Lock()

    def failing(self, op: Op) -> bool:
        """Record ``op``; True once reads have failed continuously for long enough."""
        with self._lock:
            if op.ok:
                self._failing_since = None
                return False
            if self._failing_since is None:
                self._failing_since = op.sent_ns
            return op.received_ns - self._failing_since >= self.give_up_ns


def poll(client: Any, table: str, region: str, key: dict[str, Any], *, process: int,
         first_send: float, interval_s: float, deadline: float, stop: threading.Event,
         on_read: Callable[[Op], None] | None = None, consistent: bool = True,
         done: threading.Event | None = None) -> list[Op]:
    """Read ``key`` every ``interval_s`` from ``first_send`` (perf_counter seconds) until
    ``stop`` (or this poller's own ``done``) is set or ``deadline`` passes. ``on_read``
    sees each read as it lands and may set either."""
    ops: list[Op] = []
    next_send = first_send
    while not stop.is_set():
        pause = next_send - time.perf_counter()
        # Event.wait, not sleep: wake at once if the experiment ends mid-pause.
        if pause > 0 and stop.wait(pause):
            break
        if time.perf_counter() > deadline or (done is not None and done.is_set()):
            break
        op = read_op(client, table, region, key, process, consistent)
        ops.append(op)
        if on_read is not None:
            on_read(op)
        next_send += interval_s
    return ops
