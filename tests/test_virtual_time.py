"""The emulator on a held clock: replication in virtual time, step by step, checked
against a model of last-writer-wins by a Hypothesis state machine (thousands of steps,
no wall time waited, nothing left to a thread's timing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from werkzeug.test import Client

from gtbench.emulator.config import ReplicaSettings
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorConfig, EmulatorServer
from gtbench.testing import GlobalTables

REGIONS = ("us-west-2", "eu-west-1", "us-east-1")
KEYS = ("a", "b")
TABLE = "virtual-time"


class Wsgi:
    """DynamoDB and control calls straight into the emulator's WSGI app: no socket, so
    a step costs the emulator's work and little else."""

    def __init__(self, server: EmulatorServer) -> None:
        self.client = Client(server.app)

    def dynamodb(self, region: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = self.client.post("/", data=json.dumps(payload), headers={
            "X-Amz-Target": f"DynamoDB_20120810.{op}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/"
                             "dynamodb/aws4_request, SignedHeaders=host, Signature=0"})
        answer: dict[str, Any] = json.loads(reply.data or b"{}")
        assert reply.status_code == 200, (op, answer)
        return answer

    def control(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        reply = self.client.open(f"/_gtbench/{path}", method=method,
                                 data=None if body is None else json.dumps(body),
                                 content_type="application/json")
        answer: dict[str, Any] = json.loads(reply.data)
        assert reply.status_code == 200, (path, answer)
        return answer


class Replication(RuleBasedStateMachine):
    """Writes and deletes in three regions, time moved by hand, replication paused and
    resumed, regions cut off and let back. The model: a delivery is applied exactly
    when it is due (by the emulator's own schedule) and free (not paused, not cut), in
    due order, and wins when its stamp is the latest its target has seen; a region
    shows the write with the greatest stamp among its own and those applied there."""

    server: EmulatorServer

    def __init__(self) -> None:
        super().__init__()
        self.api = Wsgi(self.server)
        self.writes: list[tuple[str, str, int | None]] = []  # (region, key, value or None)
        self.paused = False
        self.cut: set[str] = set()
        self.now = 0.0
        self.applied: set[int] = set()  # deliveries (seq) the model says are applied
        self.outcomes: dict[int, str] = {}  # and whether each won (LWW) or was superseded
        self.shown: dict[tuple[str, str], int] = {}  # (region, key) -> write index shown

    @initialize(lag_ms=st.sampled_from([0, 50, 300]), jitter_ms=st.sampled_from([0, 120]))
    def start(self, lag_ms: int, jitter_ms: int) -> None:
        self.server.backend.reset(EmulatorConfig(lag=LagModel(lag_ms, jitter_ms),
                                                 replicas=ReplicaSettings(0.0, 0.0), seed=3))
        GlobalTables(self.server.url).create_table(TABLE, REGIONS)
        self.now = self.api.control("POST", "clock", {"hold": True})["clock"]["now"]

    # -- what a test does -----------------------------------------------------------
    @rule(region=st.sampled_from(REGIONS), key=st.sampled_from(KEYS))
    def put(self, region: str, key: str) -> None:
        self.writes.append((region, key, len(self.writes)))
        self.api.dynamodb(region, "PutItem", {"TableName": TABLE, "Item": {
            "PK": {"S": key}, "SK": {"S": "-"}, "v": {"N": str(len(self.writes) - 1)}}})
        self.shown[(region, key)] = len(self.writes) - 1  # a region reads its own write

    @rule(region=st.sampled_from(REGIONS), key=st.sampled_from(KEYS))
    def delete(self, region: str, key: str) -> None:
        self.writes.append((region, key, None))
        self.api.dynamodb(region, "DeleteItem", {"TableName": TABLE, "Key": {
            "PK": {"S": key}, "SK": {"S": "-"}}})
        self.shown[(region, key)] = len(self.writes) - 1

    @rule(ms=st.integers(0, 800))
    def advance(self, ms: int) -> None:
        target = self.now + ms / 1000
        # What the emulator must apply on the way: every free delivery due by then.
        due = sorted((d for d in self._deliveries() if d["seq"] not in self.applied
                      and d["due_at"] <= target and self._free(d)),
                     key=lambda d: (d["due_at"], d["seq"]))
        self.now = self.api.control("POST", "clock", {"advance_s": ms / 1000})["clock"]["now"]
        assert self.now == pytest.approx(target)
        for d in due:
            self.applied.add(d["seq"])
            index = self._index(d)
            place = (d["target_region"], self.writes[index][1])
            wins = place not in self.shown or self.shown[place] < index
            self.outcomes[d["seq"]] = "applied" if wins else "superseded"
            if wins:
                self.shown[place] = index

    @precondition(lambda self: not self.paused)
    @rule()
    def pause(self) -> None:
        self.api.control("POST", "pause")
        self.paused = True

    @precondition(lambda self: self.paused)
    @rule()
    def resume(self) -> None:
        self.api.control("POST", "resume")
        self.paused = False

    @rule(region=st.sampled_from(REGIONS))
    def isolate(self, region: str) -> None:
        self.api.control("POST", "faults", {"kind": "isolate", "region": region})
        self.cut.add(region)

    @precondition(lambda self: bool(self.cut))
    @rule()
    def let_back(self) -> None:
        self.api.control("DELETE", "faults")
        self.cut.clear()

    # -- what must hold after every step ----------------------------------------------
    @invariant()
    def each_region_shows_the_latest_write_it_has(self) -> None:
        for region in REGIONS:
            items = self.api.dynamodb(region, "Scan", {"TableName": TABLE})["Items"]
            seen = {i["PK"]["S"]: int(i["v"]["N"]) for i in items}
            expected = {key: self.writes[index][2] for (r, key), index in self.shown.items()
                        if r == region and self.writes[index][2] is not None}
            assert seen == expected, (region, self.now)

    @invariant()
    def applied_exactly_as_scheduled_once_each(self) -> None:
        rows = self._deliveries()
        assert len({d["seq"] for d in rows}) == len(rows)
        done = {d["seq"]: d["outcome"] for d in rows if d["outcome"] is not None}
        assert done == self.outcomes  # nothing early, nothing held, each won or lost right
        for d in rows:
            if d["outcome"] is not None:
                assert d["due_at"] <= d["applied_at"] <= self.now

    def teardown(self) -> None:
        """Faults lifted and replication resumed, enough time on: every region holds
        the last write of each key (a deletion: no item)."""
        if not hasattr(self, "now") or not self.writes:
            return
        self.api.control("DELETE", "faults")
        self.api.control("POST", "resume")
        settled = self.api.control("POST", "settle", {"timeout_s": 3600})
        assert settled["settled"] and settled["pending"] == 0, settled
        last = {key: value for _, key, value in self.writes}
        for region in REGIONS:
            items = self.api.dynamodb(region, "Scan", {"TableName": TABLE})["Items"]
            assert {i["PK"]["S"]: int(i["v"]["N"]) for i in items} == {
                k: v for k, v in last.items() if v is not None}, region

    # -- helpers ------------------------------------------------------------------------
    def _deliveries(self) -> list[dict[str, Any]]:
        return self.server.backend.replicator.records(table=TABLE)

    def _free(self, d: dict[str, Any]) -> bool:
        return not self.paused and not ({d["source_region"], d["target_region"]} & self.cut)

    def _index(self, d: dict[str, Any]) -> int:
        """The model's write a delivery carries: stamps are strictly increasing in the
        order the writes were made (one caller, time held)."""
        stamps = sorted({r["stamp_ns"] for r in self._deliveries()})
        return stamps.index(d["stamp_ns"])


def test_replication_in_virtual_time_follows_the_model(emulator: EmulatorServer) -> None:
    Replication.server = emulator
    run_state_machine_as_test(Replication, settings=settings(
        max_examples=25, stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck)))


def test_an_application_test_waits_out_a_lag_in_no_wall_time(emulator: EmulatorServer) -> None:
    from gtbench.testing import EmulatorError

    gt = GlobalTables(emulator.url)
    gt.create_table("bookmarks")
    gt.lag(500)
    with pytest.raises(EmulatorError, match=r"clock\('virtual'\)"):
        gt.advance(1)
    gt.clock("virtual")
    oregon, ireland = gt.client("us-west-2"), gt.client("eu-west-1")
    key = {"PK": {"S": "user-1"}, "SK": {"S": "video-9"}}
    start = gt.now()
    oregon.put_item(TableName="bookmarks", Item={**key, "Bookmark": {"N": "600"}})

    def in_ireland() -> dict[str, Any] | None:
        return ireland.get_item(TableName="bookmarks", Key=key).get("Item")  # type: ignore[no-any-return]

    assert in_ireland() is None  # time stands still: nothing replicates by itself
    assert gt.advance(0.499) == pytest.approx(start + 0.499)
    assert in_ireland() is None
    gt.advance(0.001)
    assert in_ireland() == {**key, "Bookmark": {"N": "600"}}
    (row,) = gt.history("bookmarks")
    assert row["applied_at"] - row["written_at"] == pytest.approx(0.5)
    # A fault for 2 s ends in virtual time; what it held arrives as it ends.
    gt.isolate("eu-west-1", seconds=2)
    oregon.put_item(TableName="bookmarks", Item={**key, "Bookmark": {"N": "900"}})
    gt.advance(1.9)
    assert in_ireland() == {**key, "Bookmark": {"N": "600"}}
    gt.advance(0.2)
    assert in_ireland() == {**key, "Bookmark": {"N": "900"}}
    late = gt.history("bookmarks")[-1]
    assert late["applied_at"] - late["written_at"] == pytest.approx(2.0)
    # TTL deletes in virtual time too, and the deletion replicates.
    gt.client("us-west-2").update_time_to_live(
        TableName="bookmarks",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    oregon.put_item(TableName="bookmarks", Item={**key, "Bookmark": {"N": "1"},
                                                 "expires": {"N": str(int(gt.now()) + 60)}})
    gt.advance(30)
    assert in_ireland() is not None
    gt.advance(60)
    assert in_ireland() is None and gt.replicas_agree("bookmarks")
    # Back to real time: it goes on from where it was advanced to, never back.
    held_at = gt.now()
    gt.clock("real")
    assert gt.now() >= held_at


def test_the_virtual_time_example_in_docs_testing_runs_as_printed(
        emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    from gtbench.testing.plugin import aim_boto3

    docs = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    section = docs[docs.index("## Virtual time"):]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    aim_boto3(emulator.url, monkeypatch)
    scope: dict[str, Any] = {}
    exec(compile(example, "docs/testing.md", "exec"), scope)
    (test,) = [f for name, f in scope.items() if name.startswith("test_")]
    test(GlobalTables(emulator.url))
