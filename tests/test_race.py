"""gtbench race on the emulator: bounds hold the truth; paused replication times out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from click.testing import Result

from gtbench import analysis
from gtbench.analysis import CloudWatchStats
from gtbench.analysis.stats import percentile
from gtbench.document import record as document_record
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.history import Op
from gtbench.regions import AWS, Regions, Settings
from tests.helpers import control, run_cli, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]


def run(emulator: EmulatorServer, *args: str, regions: str = f"{A},{B}") -> Result:
    result: Result = run_cli(emulator.url, *args, regions=regions)
    return result


def test_every_true_lag_lies_inside_its_bound(emulator: EmulatorServer) -> None:
    assert run(emulator, "setup", regions=f"{A},{B},{C}").exit_code == 0
    emulator.backend.set(lag=LagModel(120, 30))
    result = run(emulator, "race", "--trials", "6", "--pollers", "4", "--interval-ms", "20",
                 "--json", "-", regions=f"{A},{B},{C}")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["experiment"] == "race" and document["target"] == "local"
    trials = document["trials"]
    assert {(t["from_region"], t["to_region"]) for t in trials} == {(A, B), (A, C)}
    assert len(trials) == 12
    for t in trials:
        assert t["true_lag_s"] is not None, t
        assert t["lag_low_s"] <= t["true_lag_s"] <= t["lag_high_s"], t
        assert t["stale_reads"] >= 1  # a 120 ms lag loses to 20 ms polling
    summary = document["summary"]
    assert (summary["trials"], summary["replicated"], summary["timed_out"]) == (12, 12, 0)
    # The median lag is bounded as each trial is: by the medians of the bounds, around
    # the median of the truth (not a window a loaded machine could overrun). The same
    # nearest-rank median as the summary's: an interpolated one of the bounds can land
    # above the summary's lower-middle value (a CI run did).
    low, true, high = (percentile([t[k] for t in trials], 50)
                       for k in ("lag_low_s", "true_lag_s", "lag_high_s"))
    assert low <= true <= high and low <= summary["p50_s"] <= high
    assert "saw the write from us-west-2 after" in result.stderr


def test_paused_replication_gives_timed_out_trials_and_a_prompt_exit(
        emulator: EmulatorServer) -> None:
    assert run(emulator, "setup").exit_code == 0
    control(emulator.url, "pause", "POST")
    result = run(emulator, "race", "--trials", "2", "--timeout", "0.3", "--interval-ms", "20",
                 "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["timed_out"] == 2
    assert all(t["lag_s"] is None and t["lag_low_s"] is None for t in document["trials"])
    # Each trial stopped reading at its timeout: its 4 pollers, one read every 20 ms
    # each, sent at most one read per poller per interval of the 0.3 s (however late a
    # loaded machine woke them), so nothing waited on the held deliveries.
    for t in document["trials"]:
        reads = [o for o in t["history"] if o["kind"] == "read"]
        assert 0 < len(reads) <= 4 * (round(0.3 / 0.02) + 1), len(reads)
    # Nor did the run wait for its marker to cross a paused link: it said so.
    assert "paused" in result.stderr
    assert "never saw a write" in result.stderr


def test_a_reader_that_is_not_a_replica_is_one_line(emulator: EmulatorServer,
                                                    ddb: Client) -> None:
    assert run(emulator, "setup").exit_code == 0
    result = run(emulator, "race", "--to", C, regions=f"{A},{B},{C}")
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"gtbench: error: {C} is not a replica of global-serverless in {A} (its regions: "
        f"{A}, {B}) (run with `--regions {A},{B}`, or add {C} with "
        f"`gtbench setup --regions {A},{B},{C}`)")
    missing = run(emulator, "race", "--table", "nope")
    assert "table nope does not exist" in missing.stderr


def test_bound_arithmetic() -> None:
    write = Op(A, "write", sent_ns=0, received_ns=10_000_000, value=7)
    reads = [Op(B, "read", 20_000_000, 25_000_000, value=None),
             Op(B, "read", 30_000_000, 34_000_000, value=None),
             Op(B, "read", 40_000_000, 44_000_000, value=7),
             Op(B, "read", 35_000_000, 50_000_000, value=7),
             Op(B, "read", 45_000_000, 47_000_000, "fail")]
    bound = analysis.lag_bound(write, reads, 7)
    assert bound is not None
    assert (bound.low_s, bound.high_s, bound.stale_reads) == (0.02, 0.044, 2)
    assert analysis.lag_bound(write, reads[:2], 7) is None


def test_cloudwatch_is_read_at_its_own_period_with_valid_statistics_and_waited_for() -> None:
    """On AWS: five-minute periods, Average/Minimum/Maximum (no SampleCount), and a wait
    until every period the run touched has a datapoint and the last one has closed."""
    import boto3

    from gtbench.experiments import cloudwatch

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y",
                            region_name=A)
    regions = Regions(Settings(target=AWS), None, session)
    client = regions.service_client("cloudwatch", A)
    start, end = 1_000_000_250.0, 1_000_000_550.0  # the periods at ..0200 and ..0500
    first, second = (datetime.fromtimestamp(1_000_000_200, timezone.utc),
                     datetime.fromtimestamp(1_000_000_500, timezone.utc))
    expected = {"Namespace": "AWS/DynamoDB", "MetricName": "ReplicationLatency",
                "Dimensions": [{"Name": "TableName", "Value": "global-serverless"},
                               {"Name": "ReceivingRegion", "Value": B}],
                "StartTime": ANY, "EndTime": ANY, "Period": 300,
                "Statistics": ["Average", "Minimum", "Maximum"], "Unit": "Milliseconds"}
    point = {"Unit": "Milliseconds"}
    stubber = Stubber(client)
    stubber.add_response("get_metric_statistics", {"Datapoints": [
        {**point, "Timestamp": first, "Average": 900.0, "Minimum": 500.0, "Maximum": 1500.0}]},
        expected)
    stubber.add_response("get_metric_statistics", {"Datapoints": [
        {**point, "Timestamp": first, "Average": 900.0, "Minimum": 500.0, "Maximum": 1500.0},
        {**point, "Timestamp": second, "Average": 1200.0, "Minimum": 1000.0,
         "Maximum": 1300.0}]}, expected)
    now = [1_000_000_850.0]  # the last period has closed
    waits: list[tuple[int, int]] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with stubber:
        got = cloudwatch.await_latency(
            regions, "global-serverless", {(A, B): [start, end]}, wait_s=600,
            on_wait=lambda waited, arrived, wanted: waits.append((arrived, wanted)),
            sleep=sleep, clock=lambda: now[0])
        stubber.assert_no_pending_responses()
    stats = got[(A, B)]
    assert waits == [(1, 2)]  # one wait, with one of the two periods in
    assert stats.covered and stats.period_s == 300 and len(stats.periods) == 2
    assert (stats.average_s, stats.minimum_s, stats.maximum_s) == (1.05, 0.5, 1.5)


def test_cloudwatch_that_never_arrives_is_said_not_zero() -> None:
    from gtbench.experiments import cloudwatch
    from gtbench.report.race import cloudwatch_line

    stats = CloudWatchStats.of([], 300, False, 900.0)
    assert stats.average_s is None and not stats.covered
    line = cloudwatch_line(document_record(stats))
    assert "no datapoint arrived within 900 s" in line
    # Only the periods that held a write are waited for: none between them.
    assert cloudwatch.periods_of([299.0, 601.0, 650.0], 300) == [0.0, 600.0]


def test_a_race_on_a_table_another_run_writes_to_says_so(
        emulator: EmulatorServer, ddb: Callable[[str], Any], tmp_path: Path) -> None:
    """Another gtbench run is writing to the same table (its marker is there, not yet
    ended): the race's document names it and the report says its figures hold that
    traffic. A run that ended before this one began is not named."""

    from gtbench.experiments.runs import RunMarker

    assert run_cli(emulator.url, "setup").exit_code == 0
    earlier = RunMarker(ddb("us-west-2"), "global-serverless", "outage", time.time() + 60)
    assert earlier.finish() == []
    other = RunMarker(ddb("us-west-2"), "global-serverless", "conflict", time.time() + 600)
    out = tmp_path / "race.json"
    result = run_cli(emulator.url, "race", "--trials", "1", "--json", str(out))
    assert result.exit_code == 0, result.stderr
    saved = json.loads(out.read_text())
    assert [(o["run"], o["experiment"]) for o in saved["concurrent_runs"]] == [
        (other.mine.run, "conflict")]
    assert "shared table: 1 other gtbench run wrote to global-serverless" in " ".join(
        result.stdout.split())
    # The other run sees this race too.
    assert [o["experiment"] for o in other.finish() or []] == ["race"]


def test_a_killed_runs_marker_stops_counting_once_its_lease_lapses(
        emulator: EmulatorServer, ddb: Callable[[str], Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed without a word stops renewing its marker: within its lease (not at
    the latest it could have ended, up to 25 minutes later) no run counts it; a live
    run renews its lease while it lasts, however long."""
    from gtbench.experiments import runs

    assert run_cli(emulator.url, "setup").exit_code == 0
    # A lease 40 renewals long: a loaded machine that starves the renewing thread for
    # half a second (two CPU hogs did, with a 0.5 s lease) must not lapse the live one.
    monkeypatch.setattr(runs, "RENEW_S", 0.05)
    monkeypatch.setattr(runs, "LEASE_S", 2.0)
    live = runs.RunMarker(ddb("us-west-2"), "global-serverless", "race", time.time() + 3600)
    dead = runs.RunMarker(ddb("us-west-2"), "global-serverless", "outage", time.time() + 3600)
    dead._stop.set()  # killed: it renews no more, and never marks its end

    def lease(marker: runs.RunMarker) -> float:
        item = ddb("us-west-2").get_item(TableName="global-serverless", Key=marker.key,
                                         ConsistentRead=True)["Item"]
        return float(item["EndsBy"]["N"])

    first = lease(live)
    wait_until(lambda: lease(live) > first, timeout=10, message="the live lease renewed")
    wait_until(lambda: lease(dead) < time.time(), timeout=10, message="the dead lease lapsed")
    later = runs.RunMarker(ddb("us-west-2"), "global-serverless", "conflict",
                           time.time() + 60)
    seen = [o["experiment"] for o in later.finish() or []]
    assert seen == ["race"], seen  # the live run, not the dead one
    live.finish()
