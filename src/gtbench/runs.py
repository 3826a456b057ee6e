"""Who else was writing: a marker item per run on a shared table, so a result says
whether another gtbench run's traffic is in its figures.

Each run puts ``PK=gtbench-runs, SK=<run>`` with when it began and the latest it
can end, and marks its end; at the end it reads the others. The same on AWS and on
the emulator: it needs nothing but the PutItem, UpdateItem and Query the experiments
already use. A marker I/O that fails leaves the answer unknown (None), never wrong.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MARKER_PK = "gtbench-runs"


@dataclass(frozen=True)
class Marker:
    run: str
    experiment: str
    started_at: float  # wall clock
    ends_by: float  # the latest the run can end (a run that died never marks its end)
    ended_at: float | None = None

    def overlaps(self, start: float, end: float) -> bool:
        return self.started_at < end and (self.ended_at or self.ends_by) > start


class RunMarker:
    """This run's marker on ``table`` (through ``client``, in one region)."""

    def __init__(self, client: Any, table: str, experiment: str, ends_by: float) -> None:
        self.client, self.table = client, table
        self.mine = Marker(f"{int(time.time())}-{secrets.token_hex(3)}", experiment,
                           time.time(), ends_by)
        self.placed = self._put()

    def _put(self) -> bool:
        m = self.mine
        try:
            self.client.put_item(TableName=self.table, Item={
                "PK": {"S": MARKER_PK}, "SK": {"S": m.run},
                "Experiment": {"S": m.experiment}, "StartedAt": {"N": f"{m.started_at:.3f}"},
                "EndsBy": {"N": f"{m.ends_by:.0f}"}})
        except (ClientError, BotoCoreError):
            return False
        return True

    def finish(self) -> list[dict[str, Any]] | None:
        """Mark this run's end; the other runs that wrote to the table meanwhile (None
        when that cannot be known)."""
        if not self.placed:
            return None
        ended = time.time()
        try:
            self.client.update_item(
                TableName=self.table, Key={"PK": {"S": MARKER_PK}, "SK": {"S": self.mine.run}},
                UpdateExpression="SET EndedAt = :e", ExpressionAttributeValues={
                    ":e": {"N": f"{ended:.3f}"}})
            items: list[dict[str, Any]] = []
            for page in self.client.get_paginator("query").paginate(
                    TableName=self.table, ConsistentRead=True,
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": MARKER_PK}}):
                items += page.get("Items", [])
        except (ClientError, BotoCoreError):
            return None
        others = [m for m in map(_marker, items)
                  if m.run != self.mine.run and m.overlaps(self.mine.started_at, ended)]
        return [{"run": m.run, "experiment": m.experiment, "started_at": m.started_at,
                 "ended_at": m.ended_at} for m in others]


def _marker(item: dict[str, Any]) -> Marker:
    ended = item.get("EndedAt")
    return Marker(item["SK"]["S"], item.get("Experiment", {}).get("S", "?"),
                  float(item["StartedAt"]["N"]), float(item["EndsBy"]["N"]),
                  float(ended["N"]) if ended else None)
