"""gtbench race on the emulator: bounds hold the truth; paused replication times out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.stub import ANY, Stubber
from click.testing import Result

from gtbench import analysis
from gtbench.analysis import CloudWatchStats
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.history import Op
from gtbench.race import cloudwatch_latency
from gtbench.regions import AWS, Regions, Settings
from tests.helpers import control, run_cli

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]


def run(emulator: EmulatorServer, *args: str, regions: str = f"{A},{B}") -> Result:
    result: Result = run_cli(emulator.url, *args, regions=regions)
    return result


def test_every_true_lag_lies_inside_its_bound(emulator: EmulatorServer) -> None:
    assert run(emulator, "setup", regions=f"{A},{B},{C}").exit_code == 0
    emulator.app.replicator.lag = LagModel(120, 30)
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
    assert 0.05 < summary["p50_s"] < 0.3
    assert "saw the write from us-west-2 after" in result.stderr


def test_paused_replication_gives_timed_out_trials_and_a_prompt_exit(
        emulator: EmulatorServer) -> None:
    assert run(emulator, "setup").exit_code == 0
    control(emulator.url, "pause", "POST")
    started = time.monotonic()
    result = run(emulator, "race", "--trials", "2", "--timeout", "0.3", "--interval-ms", "20",
                 "--json", "-")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["timed_out"] == 2
    assert all(t["lag_s"] is None and t["lag_low_s"] is None for t in document["trials"])
    assert elapsed < 10  # two 0.3 s trials, no waiting on the held deliveries
    assert "never saw a write" in result.stderr


def test_a_reader_that_is_not_a_replica_is_one_line(emulator: EmulatorServer,
                                                    ddb: Client) -> None:
    assert run(emulator, "setup").exit_code == 0
    result = run(emulator, "race", "--to", C, regions=f"{A},{B},{C}")
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"gtbench: error: {C} is not a replica of global-serverless in {A} "
        "(add it with `gtbench setup --regions ...`)")
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


def test_cloudwatch_latency_reads_the_metric_in_the_source_region() -> None:
    import boto3

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y",
                            region_name=A)
    regions = Regions(Settings(target=AWS), None, session)
    client = regions.service_client("cloudwatch", A)
    stubber = Stubber(client)
    stubber.add_response("get_metric_statistics", {"Datapoints": [
        {"Average": 900.0, "Maximum": 1500.0, "SampleCount": 3.0, "Unit": "Milliseconds"},
        {"Average": 1200.0, "Maximum": 1300.0, "SampleCount": 1.0, "Unit": "Milliseconds"}]},
        {"Namespace": "AWS/DynamoDB", "MetricName": "ReplicationLatency",
         "Dimensions": [{"Name": "TableName", "Value": "global-serverless"},
                        {"Name": "ReceivingRegion", "Value": B}],
         "StartTime": ANY, "EndTime": ANY, "Period": 60,
         "Statistics": ["Average", "Maximum", "SampleCount"], "Unit": "Milliseconds"})
    with stubber:
        got = cloudwatch_latency(regions, "global-serverless", A, B, 1e9, 1e9 + 60)
    assert got == CloudWatchStats(average_s=0.975, maximum_s=1.5, samples=4.0)
