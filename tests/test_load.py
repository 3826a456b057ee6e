"""Lag under load (`race --load`) and the replica capacity behind it: a provisioned
replica falls behind when replicated writes come faster than its write capacity; an
on-demand one keeps up."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from click.testing import CliRunner

from gtbench.cli import cli
from gtbench.emulator.capacity import Capacity, KeyRanges, write_units
from gtbench.emulator.replication import LagModel, Replicator
from gtbench.emulator.server import EmulatorServer
from gtbench.errors import GtbenchError, UsageError
from gtbench.experiments.load import PROBE_SLICE_S, LoadStep, ProbeLoad, parse_rates
from gtbench.probes.handler import load_pk, write_at_rate
from tests.helpers import control, run_cli

B = "eu-west-1"


def test_a_provisioned_replica_applies_replicated_writes_at_its_capacity() -> None:
    capacity = Capacity(10)
    # Five 1-unit writes arriving together: one every 0.1 s, in arrival order.
    assert [capacity.admit("a", "t", B, 100.0, 1) for _ in range(5)] == pytest.approx(
        [100.0, 100.1, 100.2, 100.3, 100.4])
    # A 3 KB item costs 3 units (0.3 s); another table's replica, or the same table's
    # in another region, has its own queue at the same capacity.
    assert write_units({"PK": {"S": "x" * 3000}}) == 3
    assert capacity.admit("a", "t", B, 100.0, 3) == pytest.approx(100.5)
    assert capacity.admit("a", "other", B, 100.0, 1) == 100.0
    assert capacity.admit("a", "t", "us-west-2", 100.0, 1) == 100.0
    assert capacity.backlog_s(100.0)[B] == pytest.approx(0.8)
    # A write arriving after the queue emptied waits for nothing; on-demand never waits.
    assert capacity.admit("a", "t", B, 200.0, 1) == 200.0
    capacity.set(None)
    assert capacity.admit("a", "t", B, 200.0, 1) == 200.0


def test_a_client_write_beyond_capacity_is_refused_and_one_within_it_is_counted() -> None:
    capacity = Capacity(4)
    # A second's worth bursts (the replica then a second behind); the next is refused.
    assert [capacity.take("a", "t", B, 10.0, 1) for _ in range(6)] == [True] * 5 + [False]
    assert capacity.backlog_s(10.0)[B] == pytest.approx(1.25)
    # Time frees capacity: a quarter second later one more unit fits.
    assert capacity.take("a", "t", B, 10.25, 1) and not capacity.take("a", "t", B, 10.25, 1)
    # Replicated writes are never refused: they queue behind the client's.
    assert capacity.admit("a", "t", B, 10.25, 1) == pytest.approx(11.5)
    assert capacity.describe(10.25, [B, "us-west-2"])["wcu"] == {B: 4, "us-west-2": 4}


def test_the_replicator_queues_deliveries_behind_a_provisioned_replica() -> None:
    replicator = Replicator(lambda d: "applied", LagModel(0, 0), capacity=Capacity(4))
    replicator.pause()
    try:
        dues = [replicator.schedule(account="a", table="t", key={}, ident=(), source="us-west-2",
                                    targets=[B, "us-east-1"], image={"PK": {"S": str(n)}},
                                    stamp_ns=10**9 * 50)
                for n in range(4)]
        # Every replica at the same capacity, each with its own queue.
        for target in (0, 1):
            assert [d[target].due_at for d in dues] == pytest.approx(
                [50.0, 50.25, 50.5, 50.75])
    finally:
        replicator.stop()


class Refuses:
    """A DynamoDB client: every third write refused (400), every fifth unanswered (a
    500), the rest acknowledged; it records what it was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def put_item(self, **request: Any) -> dict[str, Any]:
        with self.lock:
            self.sent.append(request)
            n = len(self.sent)
        if n % 3 == 0 or n % 5 == 0:
            response: Any = {"Error": {"Code": "ValidationException" if n % 3 == 0
                                       else "InternalServerError"},
                             "ResponseMetadata": {"HTTPStatusCode": 400 if n % 3 == 0
                                                  else 500}}
            raise ClientError(response, "PutItem")
        return {}


def test_the_load_counts_every_outcome_and_stops_when_told() -> None:
    client = Refuses()
    # Told to stop once 30 writes went out (the writers in flight then finish theirs).
    counts = write_at_rate(client, "t", 200, 2, "p", lambda: len(client.sent) >= 30)
    n = len(client.sent)
    assert 30 <= n <= 32 and counts["ok"] + counts["failed"] + counts["unknown"] == n
    assert counts["failed"] == n // 3 and counts["unknown"] == n // 5 - n // 15
    keys = [r["Item"]["SK"]["S"] for r in client.sent]
    assert len(set(keys)) == n and all(k.startswith("p-") for k in keys)
    # Spread over the partitions in turn: writer k's i-th write is the load's
    # (k + 2i)-th, under that write's partition key. (Which writes went out before the
    # stop depends on the scheduler: a loaded machine lets one writer run ahead.)
    turns = []
    for r in client.sent:
        _, writer, i = r["Item"]["SK"]["S"].split("-")
        turns.append(int(writer) + 2 * int(i))
        assert r["Item"]["PK"]["S"] == load_pk(turns[-1])
    assert len(set(turns)) == n
    assert counts["last_key"]["SK"]["S"] in keys and counts["seconds"] > 0


class FailingProbe:
    """A probe that answers one load slice, then fails as a Lambda function would."""

    via = "probes"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
               ) -> dict[str, Any]:
        self.calls.append(event)
        if len(self.calls) > 1:
            raise GtbenchError(f"the probe in {region} failed: Task timed out")
        return {"load": {"ok": 10, "failed": 0, "unknown": 1, "seconds": 1.0,
                         "last_key": {"PK": {"S": "gtbench-load"}, "SK": {"S": "x"}}}}


def test_a_probes_load_runs_in_slices_and_a_failure_stops_it_and_is_said() -> None:
    probe = FailingProbe()
    load = ProbeLoad(probe, "us-west-2", "t", 10, 2, "run-0").start()
    load._thread.join(10)  # it ends by itself: the second slice failed
    step = load.stop()
    assert [c["prefix"] for c in probe.calls] == ["run-0-0", "run-0-1"]
    assert probe.calls[0] | {"prefix": None} == {
        "action": "load", "table": "t", "rate_wps": 10, "writers": 2,
        "seconds": PROBE_SLICE_S, "prefix": None}
    assert (step.ok, step.unknown, step.seconds) == (10, 1, 1.0)
    assert step.stopped == "the probe in us-west-2 failed: Task timed out"
    assert load.last_key == {"PK": {"S": "gtbench-load"}, "SK": {"S": "x"}}
    assert LoadStep.from_json(step.to_json()) == step


def test_bad_rates_are_one_clear_error() -> None:
    assert parse_rates("0, 25,50") == (0.0, 25.0, 50.0)
    for bad in ("", "10,,20", "-5", "fast", "nan", "5000"):
        with pytest.raises(UsageError, match=r"writes per second from 0\.1 to 4000"):
            parse_rates(bad)


def sweep(emulator: EmulatorServer, tmp_path: Path, *args: str,
          wcu: float | None = None) -> dict[str, Any]:
    assert run_cli(emulator.url, "setup").exit_code == 0
    if wcu is not None:  # after the seeding: the run alone meets the capacity
        control(emulator.url, "capacity", "POST", {"wcu": wcu})
    out = tmp_path / "load.json"
    result = run_cli(emulator.url, "race", "--json", str(out), "--load-warm-up", "1",
                     *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.output  # every verdict and step follows again
    return document


def by_rate(document: dict[str, Any]) -> dict[float, dict[str, Any]]:
    return {s["rate_wps"]: s for s in document["summary"]["load"]}


def test_a_provisioned_table_refuses_the_load_beyond_its_capacity_in_the_source(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    """AWS gives every replica one write capacity, so with one writing region the source
    refuses writes beyond it before a replica can fall behind: the load falls short of
    its rate, its refusals counted, and every trial still bounds its true lag."""
    emulator.backend.set(lag=LagModel(50, 5))
    document = sweep(emulator, tmp_path, "--trials", "1", "--load", "0,12", wcu=4)
    assert [t["load_wps"] for t in document["trials"]] == [0.0, 12.0]
    # A trial's own write competes with the load: bounded if it was taken, else failed
    # with AWS's refusal named (after the writer's retries), never a figure.
    for trial in document["trials"]:
        (write,) = [op for op in trial["history"] if op["kind"] == "write"]
        assert trial["true_in_bound"] or (
            trial["status"] == "failed" and trial["lag_s"] is None
            and write["error"] == "ProvisionedThroughputExceededException"), trial
    assert document["trials"][0]["true_in_bound"]  # no load: within capacity
    loaded = document["load"][1]
    assert loaded["failed"] > 0, loaded  # ProvisionedThroughputExceededException
    assert loaded["reached_wps"] < 12 * 0.75, loaded
    shown = CliRunner().invoke(cli, ["report", str(tmp_path / "load.json")])
    assert "lag under load" in shown.output


def test_lag_stays_flat_on_demand(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.backend.set(lag=LagModel(50, 5))
    document = sweep(emulator, tmp_path, "--trials", "2", "--load", "0,20")
    steps = by_rate(document)
    assert steps[20.0]["trials"] == 2 and steps[20.0]["replicated"] == 2
    # Judged on the emulator's log (the polls' own noise is not the point): on demand
    # nothing queues, so the true lag under load stays where it was without; the margin
    # is for deliveries a loaded machine runs late, in both steps alike.
    assert steps[20.0]["true_p50_s"] < steps[0.0]["true_p50_s"] + 0.25


def test_a_load_sweep_timed_by_probes(emulator: EmulatorServer, tmp_path: Path) -> None:
    # The load comes from the client; the trials from the probes beside the replicas.
    emulator.backend.set(lag=LagModel(50, 5))
    document = sweep(emulator, tmp_path, "--trials", "1", "--load", "0,12", "--probes")
    assert [(t["via"], t["load_wps"]) for t in document["trials"]] == [
        ("probes", 0.0), ("probes", 12.0)]
    assert all(t["true_in_bound"] for t in document["trials"])
    assert by_rate(document)[12.0]["trials"] == 1


def test_load_refuses_what_it_cannot_do(emulator: EmulatorServer, tmp_path: Path) -> None:
    for args, said in ((("--load", "ten"), "writes per second from 0.1 to 4000"),
                       (("--load", "5,x"), "separated by commas"),
                       (("--load", "5", "--png", str(tmp_path / "x.jpg")), "*.png")):
        result = run_cli(emulator.url, "race", *args)
        assert result.exit_code == 2, result.output
        assert said in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_a_partition_key_takes_its_partitions_write_units_and_no_more() -> None:
    ranges = KeyRanges(4)
    assert [ranges.take("a", "t", B, "k", 10.0, 1) for _ in range(6)] == [True] * 5 + [False]
    assert ranges.take("a", "t", B, "other", 10.0, 1)  # another key: its own partition
    assert ranges.take("a", "t", B, "k", 10.5, 1)  # half a second frees two units


def test_the_load_spreads_over_partitions_where_one_hot_key_is_refused(
        emulator: EmulatorServer) -> None:
    """Each partition takes a bounded rate (AWS: 1,000 write units a second; here 2, so
    the emulator shows it): the load's writes, spread over partition keys, all land,
    while as many writes to one partition key are refused."""
    assert run_cli(emulator.url, "setup", "--bookmarks", "1").exit_code == 0
    emulator.backend.configure({"partition_wcu": 2})
    client = boto3.client("dynamodb", region_name="us-west-2", endpoint_url=emulator.url,
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(retries={"total_max_attempts": 1}))
    sent: list[dict[str, Any]] = []

    class Counting:
        def put_item(self, **request: Any) -> Any:
            sent.append(request)
            return client.put_item(**request)

    counts = write_at_rate(Counting(), "global-serverless", 60, 2, "spread",
                           lambda: len(sent) >= 48)
    assert counts["ok"] == len(sent) and counts["failed"] == 0, counts
    with pytest.raises(ClientError) as hot:
        for n in range(10):
            client.put_item(TableName="global-serverless",
                            Item={"PK": {"S": "hot"}, "SK": {"S": str(n)}})
    error: dict[str, Any] = dict(hot.value.response)
    assert error["Error"]["Code"] == "ProvisionedThroughputExceededException"
    # DynamoDB names why it throttled (API reference, ThrottlingReason).
    assert error["ThrottlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"
