"""The outage's heartbeat items on the table: each region writes its sequence number on
an item of its own, and reads the others'. ``heartbeat`` turns what was seen into the
observed cut (pure); this module does the I/O."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtbench.analysis.heartbeat import BeatSeen, beat_id
from gtbench.experiments.trials import timed_write
from gtbench.history import Op

BEAT_PK = "gtbench-outage"  # the outage's partition: the beats sit beside its items


def beat_key(run_id: str, region: str = "") -> str:
    """Heartbeat items sort apart from the run's items (``begins_with(SK, run_id)``)."""
    return f"hb-{run_id}-{region}"


def beat_once(client: Any, table: str, region: str, run_id: str, seq: int) -> Op:
    """One heartbeat: the region's sequence number on an item of its own."""
    return timed_write(lambda: client.put_item(TableName=table, Item={
        "PK": {"S": BEAT_PK}, "SK": {"S": beat_key(run_id, region)},
        "Beat": {"N": str(seq)}}), region=region, value=seq, write_id=beat_id(region, seq))


def read_beats(client: Any, table: str, region: str, run_id: str, consistent: bool,
               sources: Sequence[str]) -> list[BeatSeen]:
    """What ``region`` holds of the other regions' heartbeats; a failed read shows none."""
    sent = time.perf_counter_ns()
    try:
        page = client.query(
            TableName=table, ConsistentRead=consistent,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :hb)",
            ExpressionAttributeValues={":pk": {"S": BEAT_PK},
                                       ":hb": {"S": beat_key(run_id)}})
    except (ClientError, BotoCoreError):
        return []
    received = time.perf_counter_ns()
    found = {item["SK"]["S"]: int(item["Beat"]["N"]) for item in page.get("Items", [])}
    return [BeatSeen(region, source, sent, received, found.get(beat_key(run_id, source)))
            for source in sources if source != region]
