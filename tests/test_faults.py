"""The emulator's nemesis, and what gtbench makes of the faults it injects."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from gtbench.document import Context, race_document
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.experiments import race
from gtbench.regions import Settings, open_regions
from tests.helpers import control, global_table, item, key, make_table, run_cli, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]


def bare(emulator: EmulatorServer, region: str) -> Any:
    """A client that never retries, so each fault shows as it is."""
    return boto3.client("dynamodb", region_name=region, endpoint_url=emulator.url,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard",
                                               "total_max_attempts": 1}))


def fault(emulator: EmulatorServer, **spec: Any) -> dict[str, Any]:
    answer: dict[str, Any] = control(emulator.url, "faults", "POST", spec)["fault"]
    return answer



def holds(ddb: Client, region: str, pk: str, sk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = ddb(region).get_item(
        TableName="tbl", Key=key(pk, sk), ConsistentRead=True).get("Item")
    return found


# -- the emulator -----------------------------------------------------------------------


def test_every_ended_fault_is_kept_with_when_it_took_hold_and_let_go() -> None:
    """The record an experiment's cut is judged against: on a held clock, a FIS-delayed
    isolate (taking hold late, letting go a little late), one that never took hold, one
    that ended by itself and one cleared, each with its own times."""
    from gtbench.emulator.clock import Clock
    from gtbench.emulator.faults import Faults

    clock = Clock()
    t0 = clock.hold()
    faults = Faults(seed=7, clock=clock)
    faults.fis_delay_s = 3.0
    late = faults.add({"kind": "isolate", "region": A})
    assert late.effective_at is not None and t0 < late.effective_at <= t0 + 3
    clock.advance(late.effective_at - t0)
    assert faults.isolated(A)
    faults.remove(late.id)  # in force: it lingers (FIS ends with its experiment)
    assert faults.isolated(A)
    clock.advance(1.0)
    assert not faults.isolated(A)
    never = faults.add({"kind": "isolate", "region": B})
    faults.remove(never.id)  # before it took hold
    faults.fis_delay_s = 0.0
    timed = faults.add({"kind": "pause", "source": A, "target": B, "duration_s": 2})
    clock.advance(5.0)
    cleared = faults.add({"kind": "outage", "region": C})
    clock.advance(0.5)
    faults.clear()
    ended = {f["id"]: f for f in faults.ended()}
    assert list(ended) == [late.id, never.id, timed.id, cleared.id]  # in ending order
    assert ended[late.id]["effective_at"] == late.effective_at
    assert late.effective_at < ended[late.id]["ends_at"] <= late.effective_at + 0.3
    assert ended[never.id]["ends_at"] < ended[never.id]["effective_at"]  # never in force
    assert ended[timed.id]["ends_at"] == timed.started_at + 2  # its own end, not when seen
    assert ended[cleared.id]["ends_at"] == cleared.started_at + 0.5
    assert faults.describe() == []
    faults.reset()
    assert faults.ended() == []


def test_an_outage_fails_the_regions_requests_and_holds_its_replication(
        emulator: EmulatorServer, ddb: Client) -> None:
    global_table(ddb, B)
    ddb(A).put_item(TableName="tbl", Item=item("before", "1", n=1))
    wait_until(lambda: holds(ddb, B, "before", "1"), message="replication before the fault")
    emulator.backend.set(lag=LagModel(20, 0))
    outage = fault(emulator, kind="outage", region=B)
    with pytest.raises(ClientError) as excinfo:
        bare(emulator, B).get_item(TableName="tbl", Key=key("before", "1"))
    assert excinfo.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    ddb(A).put_item(TableName="tbl", Item=item("during", "1", n=2))  # A still serves
    wait_until(lambda: control(emulator.url, "status")["held"] == 1,
               message="the delivery to the cut region held")
    control(emulator.url, f"faults/{outage['id']}", "DELETE")
    wait_until(lambda: holds(ddb, B, "during", "1"), message="held delivery landed")
    rows = control(emulator.url, "replications?table=tbl")["replications"]
    during = [r for r in rows if r["key"]["PK"]["S"] == "during"]
    assert [r["outcome"] for r in during] == ["applied"]
    assert during[0]["applied_at"] - during[0]["due_at"] > 0  # late: it waited


def test_a_dropped_connection_is_what_the_client_sees_in_drop_mode(
        emulator: EmulatorServer, ddb: Client) -> None:
    make_table(ddb(A))
    fault(emulator, kind="outage", region=A, mode="drop")
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        bare(emulator, A).describe_table(TableName="tbl")
    assert ddb(B).list_tables()["TableNames"] == []  # another region is unaffected


def test_a_fault_with_a_duration_ends_by_itself(emulator: EmulatorServer, ddb: Client) -> None:
    global_table(ddb, B)
    emulator.backend.set(lag=LagModel(10, 0))
    fault(emulator, kind="pause", source=A, target=B, duration_s=0.4)
    started = time.monotonic()
    ddb(A).put_item(TableName="tbl", Item=item("p", "1", n=1))
    ddb(B).put_item(TableName="tbl", Item=item("p", "2", n=1))
    # The other direction flows while A -> B is paused.
    wait_until(lambda: holds(ddb, A, "p", "2"), message="B -> A flows")
    assert holds(ddb, B, "p", "1") is None
    wait_until(lambda: holds(ddb, B, "p", "1"), timeout=5, message="A -> B after the pause")
    assert time.monotonic() - started >= 0.35
    assert control(emulator.url, "faults")["faults"] == []


def test_throttling_refuses_a_share_and_splits_batches(emulator: EmulatorServer,
                                                       ddb: Client) -> None:
    make_table(ddb(A))
    fault(emulator, kind="throttle", region=A, share=1.0,
          code="ProvisionedThroughputExceededException")
    with pytest.raises(ClientError) as excinfo:
        bare(emulator, A).get_item(TableName="tbl", Key=key("x", "1"))
    assert excinfo.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    control(emulator.url, "faults", "DELETE")
    fault(emulator, kind="throttle", region=A, share=0.5)
    items = [item("batch", f"{i:02d}", n=i) for i in range(25)]
    answer = bare(emulator, A).batch_write_item(
        RequestItems={"tbl": [{"PutRequest": {"Item": i}} for i in items]})
    unprocessed = answer["UnprocessedItems"].get("tbl", [])
    assert 0 < len(unprocessed) < 25  # 0.5^25 either way: never in practice
    control(emulator.url, "faults", "DELETE")
    stored = ddb(A).scan(TableName="tbl")["Items"]
    assert len(stored) == 25 - len(unprocessed)
    refused = {r["PutRequest"]["Item"]["SK"]["S"] for r in unprocessed}
    assert refused.isdisjoint({i["SK"]["S"] for i in stored})


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "outage"}, "region must be a region name"),
    ({"kind": "outage", "region": B, "mode": "smoke"}, "mode must be one of"),
    ({"kind": "throttle", "region": B, "share": 1.5}, "share must be a number above 0"),
    ({"kind": "throttle", "region": B, "sharee": 0.5}, "unknown field 'sharee'"),
    ({"kind": "pause", "source": A, "target": A}, "two different regions"),
    ({"kind": "earthquake"}, "kind must be one of"),
])
def test_a_bad_fault_is_refused_with_a_reason(emulator: EmulatorServer, spec: dict[str, Any],
                                              message: str) -> None:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as excinfo:
        control(emulator.url, "faults", "POST", spec)
    assert excinfo.value.code == 400
    assert message in json.loads(excinfo.value.read())["error"]


def test_after_every_fault_clears_the_replicas_converge(emulator: EmulatorServer,
                                                        ddb: Client) -> None:
    global_table(ddb, B, C)
    emulator.backend.set(lag=LagModel(30, 20))
    fault(emulator, kind="outage", region=C)
    fault(emulator, kind="pause", source=A, target=B)
    fault(emulator, kind="throttle", region=B, share=0.3)
    for i in range(30):  # the same few items, from both live regions, some deleted
        region = A if i % 2 else B
        sk = str(i % 7)
        if i % 5 == 4:
            ddb(region).delete_item(TableName="tbl", Key=key("c", sk))
        else:
            ddb(region).put_item(TableName="tbl", Item=item("c", sk, n=i))
    control(emulator.url, "faults", "DELETE")

    def images(region: str) -> list[Any]:
        return sorted(json.dumps(i, sort_keys=True)
                      for i in ddb(region).scan(TableName="tbl", ConsistentRead=True)["Items"])

    wait_until(lambda: control(emulator.url, "status")["pending"] == 0, timeout=10,
               message="every delivery settled")
    assert images(A) == images(B) == images(C)
    assert images(A)  # something survived the deletes


# -- gtbench under faults ------------------------------------------------------------------


def test_setup_under_30_percent_throttling_seeds_every_item(emulator: EmulatorServer,
                                                            ddb: Client) -> None:
    fault(emulator, kind="throttle", region=A, share=0.3)
    fault(emulator, kind="throttle", region=B, share=0.3,
          code="ProvisionedThroughputExceededException")
    result = run_cli(emulator.url, "setup", "--bookmarks", "400")
    assert result.exit_code == 0, result.stderr
    control(emulator.url, "faults", "DELETE")
    for region in (A, B):
        count = ddb(region).scan(TableName="global-serverless", Select="COUNT")["Count"]
        assert count == 413, region


def test_setup_seeds_1000_items_under_sustained_50_percent_throttling(
        emulator: EmulatorServer, ddb: Client, tmp_path: Path) -> None:
    """Half of every data-plane call throttled, for the whole seeding (40 batches a
    region): the batch clients never retry (no retry quota to run dry), so gtbench's own
    loops back off and send again until every item is in both regions (the nemesis
    benchmark seeds 10,000 under 30% throttling)."""
    data_plane = ["BatchWriteItem", "BatchGetItem", "Scan"]
    for region in (A, B):
        fault(emulator, kind="throttle", region=region, share=0.5, operations=data_plane)
    # In a process of its own, as users run it: the client and the in-process emulator
    # would otherwise share one interpreter lock (several times slower).
    result = subprocess.run(
        [sys.executable, "-m", "gtbench", "setup", "--bookmarks", "987", "--endpoint-url",
         emulator.url, "--regions", f"{A},{B}"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "GTBENCH_STATE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    control(emulator.url, "faults", "DELETE")
    for region in (A, B):
        count = ddb(region).scan(TableName="global-serverless", Select="COUNT")["Count"]
        assert count == 1_000, region


def _race(emulator: EmulatorServer, trials: int, on_trial: Callable[[race.Trial], None],
          timeout_s: float = 2.0) -> race.RaceResult:
    settings = Settings(endpoint_url=emulator.url)
    regions = open_regions(settings)
    plan = race.RacePlan(((A, B),), trials=trials, pollers=2, interval_s=0.02,
                         timeout_s=timeout_s)
    return race.run_race(regions, settings, plan, on_trial=on_trial)


def _seen_or_truly_late(status: str, true_lag_s: float | None, floor_s: float | None) -> bool:
    """A trial replicated, or timed out with a floor on its lag (its last stale read)
    that the emulator's log bears out: applied no sooner (or not yet when read)."""
    return status == "replicated" or (status == "timed_out" and floor_s is not None and (
        true_lag_s is None or true_lag_s >= floor_s))


def test_a_race_through_an_outage_keeps_the_good_trials(emulator: EmulatorServer) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0

    def cut_after_second(trial: race.Trial) -> None:
        if trial.index == 1:  # the reading region goes away for a while
            fault(emulator, kind="outage", region=B, duration_s=1.5)

    result = _race(emulator, 6, cut_after_second)
    statuses = [t.verdict().status for t in result.trials]
    assert statuses[:2] == ["replicated", "replicated"]
    assert "indeterminate" in statuses[2:4]  # reads failed: unknown, not "timed out"
    assert statuses[-1] == "replicated"  # and the run went on after it
    assert result.stopped is None and not result.interrupted
    document = race_document(result, Context.of(Settings(endpoint_url=emulator.url),
                                                emulator.url))
    summary = document["summary"]
    assert summary["indeterminate"] == statuses.count("indeterminate") >= 1
    assert summary["timed_out"] == 0
    failed = [op for t in document["trials"] for op in t["history"] if op["result"] != "ok"]
    assert failed and all(op["error"] for op in failed)


def test_a_run_of_failed_trials_stops_the_run_and_saves_it(emulator: EmulatorServer,
                                                          tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    path = tmp_path / "race.json"

    def cut_the_writer(trial: race.Trial) -> None:
        if trial.index == 1:
            fault(emulator, kind="outage", region=A)

    result = _race(emulator, 20, cut_the_writer, timeout_s=0.3)
    assert result.stopped is not None and "3 trials in a row" in result.stopped
    statuses = [t.verdict().status for t in result.trials]
    assert statuses[2:] == ["indeterminate"] * 3
    # Before the cut, each trial replicated, or timed out (a loaded machine can stall a
    # 40 ms delivery past 0.3 s) with a floor the emulator's log bears out: never bad.
    assert all(_seen_or_truly_late(v.status, v.true_lag_s, v.censored_at_s)
               for v in (t.verdict() for t in result.trials[:2])), result.trials[:2]
    assert all(t.write.result == "info" for t in result.trials[2:])  # 503: fate unknown
    control(emulator.url, "faults", "DELETE")

    # The CLI says so in one line, exits 1, and saves what was measured. The writer's
    # region goes away as the second trial ends: at a trial boundary, so that exactly two
    # trials come before the cut however slowly a loaded machine runs them.
    measure = race.run_trial

    def cut_after_second(*args: Any, **kwargs: Any) -> race.Trial:
        trial = measure(*args, **kwargs)
        if trial.index == 1:
            fault(emulator, kind="outage", region=A, duration_s=60)
        return trial

    monkeypatch.setattr(race, "run_trial", cut_after_second)
    cli = run_cli(emulator.url, "race", "--trials", "9", "--timeout", "0.3", "--json",
                  str(path))
    assert cli.exit_code == 3  # stopped early, what it measured saved
    assert cli.stderr.strip().splitlines()[-1].startswith("gtbench: error: stopped after 3")
    saved = json.loads(path.read_text())
    assert saved["stopped"] and "ServiceUnavailable" in saved["stopped"]
    assert saved["summary"]["indeterminate"] == 3
    before = saved["trials"][:-3]
    assert len(before) == 2 and all(
        _seen_or_truly_late(t["status"], t["true_lag_s"], t["censored_at_s"])
        for t in before), before


def test_a_conflict_with_one_side_throttled_gives_a_verdict(emulator: EmulatorServer) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    # Every write in B is refused (its reads still answer): the case that used to crash.
    fault(emulator, kind="throttle", region=B, share=1.0, operations=["PutItem"])
    result = run_cli(emulator.url, "conflict", "--trials", "2", "--json", "-")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    for t in document["trials"]:
        assert [w["result"] for w in t["writes"] if w["region"] == B] == ["fail"]
        assert t["status"] == "converged" and t["contested"] is False
        assert t["winner_region"] == A and t["loser_write"] is None
        assert t["later_write_won"] is None  # no rival: nothing to order
    s = document["summary"]
    assert (s["converged"], s["contested"], s["lww_held"], s["too_close"]) == (2, 0, 0, 0)
    assert "no conflict: every write from eu-west-1 was refused" in result.stderr


def test_the_fault_commands_start_list_and_clear(emulator: EmulatorServer) -> None:
    from click.testing import CliRunner

    from gtbench.cli import cli

    def local(*args: str) -> Any:
        return CliRunner().invoke(cli, ["local", "fault", *args, "--endpoint-url",
                                        emulator.url], catch_exceptions=False)

    started = local("outage", B, "--mode", "drop", "--for", "30")
    assert started.exit_code == 0, started.stderr
    assert "started #" in started.stdout and f"outage of {B} (drop)" in started.stdout
    assert re.search(r", ends in (29|30) s \(at \d\d:\d\d:\d\d\)", started.stdout)
    assert local("throttle", A, "--share", "0.25", "--ops", "PutItem").exit_code == 0
    assert local("pause", f"{A}:{B}").exit_code == 0
    listed = local("list")
    assert f"throttle 25% of {A}'s PutItem with ThrottlingException" in listed.stdout
    assert f"replication paused from {A} to {B}, until cleared" in listed.stdout
    assert len(local("list", "--json").stdout and
               json.loads(local("list", "--json").stdout)["faults"]) == 3
    first = json.loads(local("list", "--json").stdout)["faults"][0]["id"]
    assert local("clear", str(first)).exit_code == 0
    assert len(control(emulator.url, "faults")["faults"]) == 2
    missing = local("clear", "999")
    assert missing.exit_code == 1 and "no fault 999" in missing.stderr
    bad = local("pause", "us-west-2")
    assert bad.exit_code == 2 and "is not SRC:DST" in bad.stderr
    assert "cleared 2 faults" in local("clear").stdout
