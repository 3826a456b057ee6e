"""Who else was writing: a marker item per run on a shared table, so a result says
whether another gtbench run's traffic is in its figures.

Each run puts ``PK=gtbench-runs, SK=<run>`` with when it began and a lease
(``EndsBy``) that a heartbeat renews while the run lives, and marks its end; at the
end it reads the others. A run killed without a word (SIGKILL, a lost machine) stops
renewing, so its marker stops counting within ``LEASE_S``, not at the latest the run
could have ended. The same on AWS and on the emulator: it needs nothing but the
PutItem, UpdateItem and Query the experiments already use. A marker I/O that fails
leaves the answer unknown (None), never wrong, and never ends the run.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

MARKER_PK = "gtbench-runs"
RENEW_S = 5.0  # how often a live run renews its lease
LEASE_S = 20.0  # a marker not renewed for this long belongs to a run that is gone


@dataclass(frozen=True)
class Marker:
    run: str
    experiment: str
    started_at: float  # wall clock
    ends_by: float  # the lease: the run is gone by then unless it renews (or has ended)
    ended_at: float | None = None

    def overlaps(self, start: float, end: float) -> bool:
        return self.started_at < end and (self.ended_at or self.ends_by) > start


class RunMarker:
    """This run's marker on ``table`` (through ``client``, in one region), renewed every
    ``RENEW_S`` until ``finish``; the lease never runs past ``ends_by`` (the latest the
    run can end)."""

    def __init__(self, client: Any, table: str, experiment: str, ends_by: float) -> None:
        self.client, self.table, self.latest = client, table, ends_by
        now = time.time()
        self.mine = Marker(f"{int(now)}-{secrets.token_hex(3)}", experiment, now,
                           self._lease(now))
        self._stop = threading.Event()
        self.placed = self._put()
        self._renewer: threading.Thread | None = None
        if self.placed:
            self._renewer = threading.Thread(target=self._renew, daemon=True,
                                             name="gtbench-run-marker")
            self._renewer.start()

    @property
    def key(self) -> dict[str, Any]:
        return {"PK": {"S": MARKER_PK}, "SK": {"S": self.mine.run}}

    def _lease(self, now: float) -> float:
        return min(self.latest, now + LEASE_S)

    def _put(self) -> bool:
        m = self.mine
        try:
            self.client.put_item(TableName=self.table, Item={
                **self.key, "Experiment": {"S": m.experiment},
                "StartedAt": {"N": f"{m.started_at:.3f}"},
                "EndsBy": {"N": f"{m.ends_by:.0f}"}})
        except Exception:  # a marker never ends a run; unknown is said
            return False
        return True

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S):
            with contextlib.suppress(Exception):  # the next renewal tries again
                self.client.update_item(
                    TableName=self.table, Key=self.key, UpdateExpression="SET EndsBy = :e",
                    ConditionExpression="attribute_not_exists(EndedAt)",
                    ExpressionAttributeValues={":e": {"N": f"{self._lease(time.time()):.0f}"}})

    def finish(self) -> list[dict[str, Any]] | None:
        """Stop renewing, mark this run's end; the other runs that wrote to the table
        meanwhile (None when that cannot be known)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=30)  # a renewal in flight must not land after the end
        if not self.placed:
            return None
        ended = time.time()
        try:
            self.client.update_item(
                TableName=self.table, Key=self.key,
                UpdateExpression="SET EndedAt = :e", ExpressionAttributeValues={
                    ":e": {"N": f"{ended:.3f}"}})
            items: list[dict[str, Any]] = []
            for page in self.client.get_paginator("query").paginate(
                    TableName=self.table, ConsistentRead=True,
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": MARKER_PK}}):
                items += page.get("Items", [])
        except Exception:  # unknown, and said so
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
