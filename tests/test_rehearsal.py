"""Rehearsing AWS: a client placed in one region, measurements that stay sharp from afar,
and every write path replicating until the replicas agree."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest

from gtbench.emulator.distance import Distance, measured_rtt_ms
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.experiments.race import schedule_for
from tests.helpers import control, global_table, key, make_table, run_cli, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]


def test_the_round_trip_table_is_symmetric_and_known_pairs_are_aws_medians() -> None:
    assert measured_rtt_ms(A, B) == measured_rtt_ms(B, A) == 118
    assert measured_rtt_ms("us-east-1", "us-east-2") == 15
    assert measured_rtt_ms(A, A) == 0.0
    assert measured_rtt_ms("eu-west-3", "eu-north-1") == 27.0  # other EU pairs: 11 to 27
    assert measured_rtt_ms(A, "sa-east-1") is None  # unknown: never guessed


def test_a_request_to_a_far_region_takes_at_least_its_round_trip(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    make_table(ddb(A))
    make_table(ddb(B))
    emulator.backend.set(distance=Distance(A, {B: 120.0}))

    def timed(region: str) -> float:
        start = time.perf_counter()
        ddb(region).get_item(TableName="tbl", Key=key("x", "1"))
        return time.perf_counter() - start

    far = min(timed(B) for _ in range(3))
    near = min(timed(A) for _ in range(3))
    # The far trip is a floor no load can lower; the near one's speed is this machine's,
    # so what it is owed (no trip at all) is read from the emulator, not from a clock.
    assert far >= 0.120 and near < far
    status = control(emulator.url, "status")["distance"]
    assert status["client_region"] == A and status["overrides_ms"] == {B: 120.0}
    assert status["rtt_ms"][A] == 0.0 and status["rtt_ms"][B] == 120.0


def test_an_unknown_round_trip_is_refused_with_the_fix(emulator: EmulatorServer,
                                                       ddb: Callable[[str], Any]) -> None:
    from botocore.exceptions import ClientError

    emulator.backend.set(distance=Distance(A))
    with pytest.raises(ClientError) as excinfo:
        ddb("sa-east-1").list_tables()
    assert "--rtt sa-east-1=MS" in excinfo.value.response["Error"]["Message"]


def test_local_status_shows_the_round_trip_to_every_region_it_knows(
        emulator: EmulatorServer) -> None:
    """A client placed in us-west-2, no table yet: status shows every region the
    distance table knows from there (Ireland 118 ms), not only the client's own."""
    from gtbench.cli.local import describe_distance

    emulator.backend.set(distance=Distance(A))
    trips = control(emulator.url, "status")["distance"]["rtt_ms"]
    assert trips[A] == 0 and trips[B] == 118 and trips["us-east-1"] == 64
    said = describe_distance(control(emulator.url, "status")["distance"])
    assert said.startswith(f"in {A}:") and f"{B} 118 ms" in said


def test_pollers_are_chosen_to_keep_reads_evenly_spaced() -> None:
    near, far = schedule_for(0.004, 0.005), schedule_for(0.123, 0.005)
    assert (near.pollers, round(near.spacing_s, 6)) == (1, 0.005)
    assert far.pollers == 31 and round(far.spacing_s, 6) == 0.005
    assert far.interval_s >= 0.123  # no poller asked to send faster than its round trip


def test_a_race_from_afar_keeps_the_true_lag_inside_its_bound(emulator: EmulatorServer
                                                              ) -> None:
    emulator.backend.set(distance=Distance(A, {B: 60.0, C: 30.0}))
    regions = f"{A},{B},{C}"
    assert run_cli(emulator.url, "setup", regions=regions).exit_code == 0
    emulator.backend.set(lag=LagModel(150, 30))
    result = run_cli(emulator.url, "race", "--trials", "4", "--json", "-", regions=regions)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    schedules = document["schedules"]
    assert schedules[B]["pollers"] > schedules[C]["pollers"] > 1  # farther, more pollers
    assert all(abs(s["spacing_ms"] - 5.0) < 1e-9 for s in schedules.values())
    for t in document["trials"]:
        assert t["lag_low_s"] <= t["true_lag_s"] <= t["lag_high_s"], t
        rtt = 0.060 if t["to_region"] == B else 0.030
        assert t["lag_high_s"] - t["lag_low_s"] >= rtt  # never narrower than the distance
    assert "client in us-west-2 (emulated round trips: us-west-2 0 ms, eu-west-1 60 ms" \
        in result.stderr


def test_arrival_alignment_sends_each_write_half_its_round_trip_early() -> None:
    """The schedule, exactly: what alignment decides is pure (no clock to judge)."""
    from gtbench.experiments.conflict import ConflictPlan, specs_for

    trips = {A: 0.010, B: 0.210}
    send = {w.region: w.at_s for w in specs_for(ConflictPlan((A, B), align="send"), 0, trips)}
    assert send == {A: 0.0, B: 0.0}
    arrival = {w.region: w.at_s
               for w in specs_for(ConflictPlan((A, B), align="arrival"), 0, trips)}
    assert arrival == pytest.approx({A: 0.1, B: 0.0})  # B leaves 100 ms sooner
    # With an offset, the offset is between the arrivals: B lands 50 ms after A.
    late = {w.region: w.at_s
            for w in specs_for(ConflictPlan((A, B), align="arrival"), 50, trips)}
    assert late[B] + trips[B] / 2 - (late[A] + trips[A] / 2) == pytest.approx(0.050)
    # Increments keep their pace after the shifted start.
    paced = specs_for(ConflictPlan((A, B), mode="increment", increments=2, pace_ms=20,
                                   align="arrival"), 0, trips)
    assert [(w.write_id, round(w.at_s, 3)) for w in paced] == [
        (f"{A}#0", 0.1), (f"{A}#1", 0.12), (f"{B}#0", 0.0), (f"{B}#1", 0.02)]


def test_arrival_alignment_lands_the_writes_closer_than_sending_together(
        emulator: EmulatorServer) -> None:
    """End to end, judged by the emulator's own stamps and only by their order: B's write
    is 200 ms of round trip away, so sent together it lands about 100 ms after A's;
    aligned on arrival the gap shrinks by about that (a loaded machine adds noise to
    both, never 50 ms to one alone in the median of five)."""
    import statistics

    emulator.backend.set(distance=Distance(A, {B: 200.0}))
    assert run_cli(emulator.url, "setup").exit_code == 0
    gaps: dict[str, float] = {}
    for align in ("send", "arrival"):
        result = run_cli(emulator.url, "conflict", "--trials", "5", "--align", align,
                         "--json", "-", "--no-timelines")
        assert result.exit_code == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["settings"]["align"] == align
        assert document["round_trips_s"][B] >= 0.2
        # The emulator stamps a write when it arrives: B's arrival after A's.
        gaps[align] = statistics.median(
            (t["truth"][f"{B}#0"]["stamp"] - t["truth"][f"{A}#0"]["stamp"]) * 1000
            for t in document["trials"])
    assert gaps["send"] > 50 and gaps["arrival"] < gaps["send"] - 50, gaps


# -- every write path replicates ---------------------------------------------------------


def test_partiql_writes_replicate(emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    from tests.helpers import wait_until

    make_table(ddb(A))
    ddb(A).update_table(TableName="tbl", ReplicaUpdates=[{"Create": {"RegionName": B}}])
    wait_until(lambda: ddb(B).describe_table(TableName="tbl")["Table"]["TableStatus"]
               == "ACTIVE", message="replica")

    def in_b(sk: str) -> Any:
        return ddb(B).get_item(TableName="tbl", Key=key("q", sk), ConsistentRead=True).get("Item")

    ddb(A).execute_statement(Statement="INSERT INTO \"tbl\" VALUE {'PK': 'q', 'SK': '1', 'n': 1}")
    wait_until(lambda: in_b("1"), message="ExecuteStatement INSERT")
    ddb(A).execute_statement(Statement="UPDATE \"tbl\" SET n = ? WHERE PK = 'q' AND SK = '1'",
                             Parameters=[{"N": "5"}])
    wait_until(lambda: (in_b("1") or {}).get("n") == {"N": "5"}, message="UPDATE")
    ddb(A).batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO \"tbl\" VALUE {'PK': 'q', 'SK': '2'}"},
        {"Statement": "INSERT INTO \"tbl\" VALUE {'PK': 'q', 'SK': '3'}"}])
    wait_until(lambda: in_b("2") and in_b("3"), message="BatchExecuteStatement")
    ddb(A).execute_transaction(TransactStatements=[
        {"Statement": "DELETE FROM \"tbl\" WHERE PK = 'q' AND SK = '2'"}])
    wait_until(lambda: in_b("2") is None, message="ExecuteTransaction DELETE")
    rows = control(emulator.url, "replications?table=tbl")["replications"]
    assert {r["kind"] for r in rows} == {"put", "delete"}
    assert all(r["source_region"] == A for r in rows)


def test_concurrent_random_writes_through_every_api_converge(emulator: EmulatorServer
                                                            ) -> None:
    from benchmarks.convergence import run_workload

    emulator.backend.set(lag=LagModel(20, 15))  # jittered: writes cross in flight
    tally, held = run_workload(emulator.url, ops=80, keys=6, seed=11)
    assert set(tally.ops) >= {"put", "update-set", "update-add", "update-remove", "delete",
                              "batch", "transaction", "conditional", "partiql-insert",
                              "partiql-update", "partiql-delete"}
    replicas = list(held.values())
    assert replicas[0], "nothing survived: the workload proves nothing"
    assert replicas[0] == replicas[1] == replicas[2]


# -- settings that replicas share ----------------------------------------------------------



def test_ttl_settings_reach_every_replica_and_expiry_replicates(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    from tests.helpers import item, wait_until

    global_table(ddb, B)
    control(emulator.url, "config", "POST", {"ttl_sweep_s": 0.1})
    ddb(A).update_time_to_live(TableName="tbl", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    assert ddb(B).describe_time_to_live(TableName="tbl")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    ddb(A).put_item(TableName="tbl", Item=item("ttl", "old", expires=int(time.time()) - 60))
    ddb(A).put_item(TableName="tbl", Item=item("ttl", "new", expires=int(time.time()) + 3600))

    def holds(region: str, sk: str) -> bool:
        return "Item" in ddb(region).get_item(TableName="tbl", Key=key("ttl", sk),
                                              ConsistentRead=True)

    def expiry_replicated() -> bool:
        rows = [r for r in control(emulator.url, "replications?table=tbl")["replications"]
                if r["key"]["SK"]["S"] == "old"]
        return any((r["kind"], r["source_region"], r["target_region"], r["outcome"])
                   == ("delete", A, B, "applied") for r in rows)

    # Judged by the emulator's log, not by reads alone: "old" absent from B may be a put
    # still on its way (deliveries are due by their own lag, not in send order). The
    # expiry is a delete in A, replicated like any other.
    wait_until(lambda: expiry_replicated() and holds(B, "new") and not holds(A, "old")
               and not holds(B, "old"), timeout=10,
               message="the expiry replicated and the expired item gone from both regions")
    assert holds(A, "new")


def test_a_gsi_added_later_appears_in_every_replica(emulator: EmulatorServer,
                                                   ddb: Callable[[str], Any]) -> None:
    from tests.helpers import item, wait_until

    global_table(ddb, B, C)
    ddb(A).update_table(
        TableName="tbl", AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}}])
    for region in (B, C):
        indexes = ddb(region).describe_table(TableName="tbl")["Table"].get(
            "GlobalSecondaryIndexes", [])
        assert [i["IndexName"] for i in indexes] == ["by-g"], region
    ddb(A).put_item(TableName="tbl", Item={**item("gsi", "1"), "g": {"S": "find-me"}})
    wait_until(lambda: ddb(C).query(
        TableName="tbl", IndexName="by-g", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "find-me"}})["Count"] == 1,
        message="the replicated item in the replica's index")
    ddb(B).update_table(TableName="tbl", StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for region in (A, C):  # streams are shared too
        assert ddb(region).describe_table(TableName="tbl")["Table"]["StreamSpecification"] \
            == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}, region
    # Per-replica settings stay where they were sent.
    ddb(B).update_table(TableName="tbl", DeletionProtectionEnabled=True)
    assert ddb(A).describe_table(TableName="tbl")["Table"].get(
        "DeletionProtectionEnabled") in (False, None)
    ddb(B).update_table(TableName="tbl", DeletionProtectionEnabled=False)


def test_delete_table_removes_only_that_regions_replica(emulator: EmulatorServer,
                                                       ddb: Callable[[str], Any]) -> None:
    from botocore.exceptions import ClientError

    from tests.helpers import item, wait_until

    global_table(ddb, B, C)
    answer = ddb(C).delete_table(TableName="tbl")
    assert answer["TableDescription"]["TableStatus"] == "DELETING"
    wait_until(lambda: [r["RegionName"] for r in ddb(A).describe_table(
        TableName="tbl")["Table"].get("Replicas", [])] == [B], message="C gone from A's view")
    ddb(A).put_item(TableName="tbl", Item=item("after", "1"))
    wait_until(lambda: "Item" in ddb(B).get_item(TableName="tbl", Key=key("after", "1")),
               message="A and B go on replicating")
    with pytest.raises(ClientError) as excinfo:
        ddb(C).describe_table(TableName="tbl")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # A seeded B just now: AWS keeps a source region for 24 hours.
    with pytest.raises(ClientError) as held:
        ddb(A).delete_table(TableName="tbl")
    assert "acted as a source region" in held.value.response["Error"]["Message"]


@pytest.mark.parametrize("name", ["ab", "bad name!", "x" * 256])
def test_bad_table_names_are_refused(emulator: EmulatorServer, ddb: Callable[[str], Any],
                                     name: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as excinfo:
        make_table(ddb(A), name)
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    result = run_cli(emulator.url, "setup", "--table", name)
    assert result.exit_code == 2
    assert "is not a DynamoDB table name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_race_cloudwatch_waits_for_the_periods_the_emulator_publishes_late(
        emulator: EmulatorServer, ddb: Client) -> None:
    """The emulator publishes ReplicationLatency as AWS does: one aggregate per period,
    after the period and a publication delay (shortened here from 300 s and minutes)."""
    emulator.backend.configure({"metric_period_s": 1, "metric_delay_s": 60})
    assert run_cli(emulator.url, "setup").exit_code == 0
    cloudwatch = boto3.client("cloudwatch", region_name=A, endpoint_url=emulator.url,
                              aws_access_key_id="gtbenchlocal",
                              aws_secret_access_key="gtbenchlocal")

    def points(**extra: Any) -> list[Any]:
        now = datetime.now(timezone.utc)
        return list(cloudwatch.get_metric_statistics(
            Namespace="AWS/DynamoDB", MetricName="ReplicationLatency",
            Dimensions=[{"Name": "TableName", "Value": "global-serverless"},
                        {"Name": "ReceivingRegion", "Value": B}],
            StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
            Period=1, Statistics=["Average", "Minimum", "Maximum"], **extra)["Datapoints"])

    # setup's 13 seed deliveries: nothing is published until their period is over and the
    # delay has passed, then one datapoint for the whole period.
    assert emulator.backend.latency.pending() >= 1 and points() == []
    emulator.backend.configure({"metric_delay_s": 1})
    published = wait_until(points, timeout=10, message="a published period")
    assert all(p["Minimum"] <= p["Average"] <= p["Maximum"] for p in published)

    # The last trial's period is published 3 s after it closes: the race ends its trials
    # well within the first 2 of them, even on a loaded machine (the wait starts after).
    emulator.backend.configure({"metric_delay_s": 3})
    result = run_cli(emulator.url, "race", "--trials", "3", "--cloudwatch",
                     "--cloudwatch-wait", "30", "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    (pair,) = document["summary"]["pairs"]
    got = pair["cloudwatch"]
    assert got["covered"] is True and got["period_s"] == 1 and got["periods"]
    assert got["waited_s"] >= 1.0  # the last period had to close and be published
    # The emulator's own lags, in seconds: inside the range of what it applied in B (its
    # log), not a window around 40 ms that a stalled process's late delivery overruns.
    lags = [r["applied_at"] - r["written_at"] for r in emulator.backend.replicator.records()
            if r["table"] == "global-serverless" and r["target_region"] == B
            and r["outcome"] == "applied"]
    assert min(lags) - 1e-3 <= got["minimum_s"] <= got["average_s"] <= got["maximum_s"] \
        <= max(lags) + 1e-3
    assert "AWS's average per 1 s period" in " ".join(result.stderr.split())


def test_a_ctrl_c_while_waiting_for_cloudwatch_keeps_the_race(
        emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtbench.experiments import cloudwatch

    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(cloudwatch, "await_latency", interrupted)
    assert run_cli(emulator.url, "setup").exit_code == 0
    result = run_cli(emulator.url, "race", "--trials", "2", "--cloudwatch", "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["trials"]) == 2
    assert "stopped waiting for CloudWatch: the race is kept" in " ".join(
        result.stderr.split())
