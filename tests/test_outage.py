"""``gtbench outage``: a region cut off under a steady workload, measured against the
emulator's ground truth; and the FIS path with botocore's Stubber."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from gtbench import analysis, document
from gtbench.analysis import OutageWrite, Snapshot, heartbeat
from gtbench.cli import cli
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.errors import GtbenchError
from gtbench.experiments.outage import (
    WINDOW_SLACK_S,
    OutagePlan,
    OutageResult,
    Progress,
    run_outage,
)
from gtbench.history import OK, Op
from gtbench.local.cut import LocalCut
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision
from tests.helpers import control, run_cli, wait_until

STRONG_REGIONS = "us-west-2,us-east-1,us-east-2"


def _mrec_outage(emulator: EmulatorServer, tmp_path: Path) -> tuple[Any, Any, Path]:
    """setup, then a 2 s outage of eu-west-1 (lag 300 ± 50 ms): the CLI's result, the
    saved document and its path."""
    emulator.backend.set(lag=LagModel(300, 50))
    assert run_cli(emulator.url, "setup").exit_code == 0
    out = tmp_path / "outage.json"
    result = run_cli(emulator.url, "outage", "--duration", "2", "--lead", "0.5",
                     "--json", str(out))
    assert result.exit_code == 0, result.stderr
    return result, json.loads(out.read_text()), out


def isolate_in_force(emulator: EmulatorServer, saved: dict[str, Any]) -> tuple[int, int]:
    """When the run's isolate fault took hold and let go, by the emulator's record, on
    the run's own clock (perf_counter ns)."""
    def ended() -> list[dict[str, Any]]:
        return [f for f in control(emulator.url, "faults")["ended"] if f["kind"] == "isolate"]

    # A FIS cut lets go a moment after it is removed: wait for its record.
    (isolate,) = wait_until(ended, timeout=10, message="the isolate fault's end")
    offset = saved["wall_offset_s"]
    took_hold = isolate.get("effective_at", isolate["started_at"])
    return int((took_hold - offset) * 1e9), int((isolate["ends_at"] - offset) * 1e9)


SLACK_NS = int(WINDOW_SLACK_S * 1e9)  # the two clocks, lined up once: a reading's error


def test_an_mrec_cut_loses_what_the_ground_truth_says(emulator: EmulatorServer,
                                                     tmp_path: Path) -> None:
    result, saved, out = _mrec_outage(emulator, tmp_path)
    s, truth = saved["summary"], saved["truth"]
    assert saved["experiment"] == "outage" and saved["consistency"] == "EVENTUAL"
    cut = next(r for r in s["regions"] if r["cut"])
    assert cut["region"] == "eu-west-1" and cut["acked_during"] > 0  # it went on writing
    assert s["recovery_point_writes"] > 0 and s["recovery_point_max_age_s"] > 0
    # Agreement was reached and bounded; how soon is a measurement, not a claim (a
    # loaded machine takes longer).
    assert s["converge_low_s"] <= s["converge_s"] <= s["converge_high_s"]
    # Exactly the writes the emulator's own log says: not a count, the same ids.
    assert truth is not None
    # Every write the cut region acknowledged while the fault held, by the emulator's own
    # record of when it did, could not leave it: each is in the recovery point.
    took_hold, let_go = isolate_in_force(emulator, saved)
    held = {w["write_id"] for w in saved["history"]["writes"]
            if w["region"] == cut["region"] and w["result"] == OK
            and w["sent_ns"] >= took_hold + SLACK_NS
            and w["received_ns"] <= min(let_go - SLACK_NS, saved["end_ns"])}
    assert held and held <= set(truth["recovery_point"]), (held, truth["recovery_point"])
    assert sorted(s["recovery_point"]) == sorted(truth["recovery_point"])
    assert sorted(x["write_id"] for x in s["lost"]) == sorted(truth["lost"])
    assert s["lost_writes"] == len(truth["lost"])
    assert s["lost_updates"] is not None and s["lost_updates"] <= s["updates"]
    assert any(d["differing"] > 0 for d in s["divergence"] if d["t_s"] >= 0)
    assert control(emulator.url, "faults")["faults"] == []  # the cut ended
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.stderr
    flat = " ".join(result.stdout.split())
    assert "(the same writes); lost" in flat and "Recovery point:" in flat


def test_an_mrsc_cut_refuses_and_loses_nothing(emulator: EmulatorServer,
                                               tmp_path: Path) -> None:
    emulator.backend.set(lag=LagModel(300, 50))
    assert run_cli(emulator.url, "setup", "--consistency", "strong",
                   regions=STRONG_REGIONS).exit_code == 0
    out = tmp_path / "outage.json"
    result = run_cli(emulator.url, "outage", "--region", "us-east-1", "--duration", "2",
                     "--lead", "0.5", "--json", str(out), regions=STRONG_REGIONS)
    assert result.exit_code == 0, result.stderr
    saved = json.loads(out.read_text())
    s = saved["summary"]
    cut = next(r for r in s["regions"] if r["cut"])
    assert cut["acked_during"] == 0  # every write in the cut region failed...
    assert cut["refused_during"] + cut["indeterminate_during"] > 0
    # ...and so did every strong read sent and answered while it was on. (The summary
    # counts those sent while it was on: on a loaded machine one sent just before the
    # end was served after it, and succeeded.)
    inside = [o for o in saved["history"]["reads"] if o["region"] == "us-east-1"
              and saved["start_ns"] <= o["sent_ns"] and o["received_ns"] <= saved["end_ns"]]
    assert inside and all(o["result"] != OK for o in inside), inside
    assert cut["failed_strong_reads_during"] >= len(inside)
    others = [r for r in s["regions"] if not r["cut"]]
    assert all(r["acked_during"] > 0 and r["failed_strong_reads_during"] == 0 for r in others)
    assert s["recovery_point_writes"] == 0 and s["lost_writes"] == 0
    assert s["lost_updates"] == 0
    assert saved["truth"] == {"recovery_point": [], "lost": []}
    writes = saved["history"]["writes"]
    failed = {w["error"] for w in writes if w["region"] == "us-east-1" and w["result"] != OK}
    assert "InternalServerError" in failed  # what FIS makes an isolated MRSC region answer
    said = " ".join(result.stdout.split())
    failed_during = cut["refused_during"] + cut["indeterminate_during"]
    assert (f"While cut off, {failed_during} of us-east-1's writes failed" in said
            and "and 0 were acknowledged" in said), said


class InterruptMidCut(Progress):
    def tick(self, result: OutageResult) -> None:
        if result.start_ns:
            raise KeyboardInterrupt


def test_ctrl_c_mid_cut_ends_the_cut_and_keeps_the_history(emulator: EmulatorServer) -> None:
    settings = Settings(endpoint_url=emulator.url)
    regions = open_regions(settings)
    provision.setup(regions, settings)
    plan = OutagePlan("eu-west-1", duration_s=30, lead_s=1.2)
    result = run_outage(regions, settings, plan, LocalCut(emulator.url, "eu-west-1", 30),
                        InterruptMidCut())
    assert result.interrupted
    assert control(emulator.url, "faults")["faults"] == []  # the cut did not outlive it
    assert len(result.writes) >= 10 and result.snapshots and result.end_ns > result.start_ns
    summary = result.summary()  # what was not measured is unknown, not zero
    assert summary.recovery_point_writes is None and summary.converge_s is None
    saved = document.outage_document(result, document.Context.of(settings, emulator.url))
    assert saved["interrupted"] is True and len(saved["history"]["writes"]) == len(
        result.writes)
    assert document.check(json.loads(json.dumps(saved))) == []


def _write(region: str, n: int, key: str, at_ms: float, result: str = OK) -> OutageWrite:
    op = Op(region, "write", int(at_ms * 1e6), int((at_ms + 5) * 1e6), result,  # type: ignore[arg-type]
            n, 0, f"{region}#{n}")
    return OutageWrite(op, key, False)


def _snap(region: str, at_ms: float, items: dict[str, str],
          writes: dict[str, list[str]] | None = None) -> Snapshot:
    return Snapshot(region, int(at_ms * 1e6), int((at_ms + 3) * 1e6), OK, items, writes)


def test_recovery_point_and_lost_writes_from_hand_made_histories() -> None:
    """A (cut) writes k1 twice during the cut; B writes k1 once, later in time: B's
    image replaces A's everywhere, and A's writes are lost; B held neither."""
    writes = [_write("A", 0, "k1", 0), _write("A", 1, "k1", 100), _write("B", 0, "k1", 150),
              _write("B", 1, "k2", 10)]
    held = [_snap("B", 1000, {"k1": "B#0", "k2": "B#1"}, {"k1": ["B#0"], "k2": ["B#1"]})]
    point = analysis.recovery_point(writes, "A", held, int(1000 * 1e6))
    assert [str(w.op.write_id) for w in point] == ["A#0", "A#1"]
    final = _snap("A", 2000, {"k1": "B#0", "k2": "B#1"}, {"k1": ["B#0"], "k2": ["B#1"]})
    lost = analysis.lost_writes(writes, final, 0)
    assert [(x.write_id, x.replaced_by) for x in lost] == [("A#0", "B#0"), ("A#1", "B#0")]
    other = _snap("B", 2000, {"k1": "B#0", "k2": "B#1"}, {"k1": ["B#0"], "k2": ["B#1"]})
    assert analysis.agree([final, other])
    stale = _snap("B", 2000, {"k1": "A#1", "k2": "B#1"}, {"k1": ["A#0", "A#1"], "k2": ["B#1"]})
    assert not analysis.agree([final, stale])
    rows = analysis.divergence([_snap("A", 100, {"k1": "A#0"}), _snap("B", 200, {"k1": "B#0"}),
                                _snap("A", 1100, {"k1": "B#0"}),
                                _snap("B", 1200, {"k1": "B#0"})], ["A", "B"], 0)
    assert [(d.t_s, d.differing) for d in rows] == [(0.0, 1), (1.0, 0)]


def test_a_figure_not_measured_is_never_compared_with_the_truth() -> None:
    """Interrupted before the regions agreed: no final image, so "lost" is not measured.
    Beside the truth it says so, and makes no claim of same or different writes."""
    writes = [_write("A", 0, "k1", 0), _write("B", 0, "k1", 150)]
    held = [_snap("B", 1000, {"k1": "B#0"}, {"k1": ["B#0"]})]
    summary = analysis.outage_summary("A", ["A", "B"], writes, [], [], held, [], 0,
                                      int(1000 * 1e6))
    assert summary.lost_writes is None and summary.recovery_point_writes == 1
    point, lost = analysis.against_truth(summary, ["A#0"], ["A#0"])
    assert (point.measured, point.true, point.same_writes) == (1, 1, True)
    assert (lost.measured, lost.true, lost.same_writes) == (None, 1, None)
    wrong = analysis.against_truth(summary, ["B#0"], [])[0]
    assert wrong.same_writes is False  # the same count of other writes is no match
    from gtbench.report.outage import sentences

    said = " ".join(sentences({"consistency": "EVENTUAL", "summary": {
        **document.record(summary),
        "against_truth": document.record([point, lost])}}))
    assert "lost writes not measured (1 true)" in said and "None" not in said


def test_check_recomputes_the_comparison_with_the_truth() -> None:
    """The comparison is part of the summary: a hand edit that makes it say the writes
    matched is found by report --check, not believed by the renderer."""
    saved = json.loads(Path("examples/outage.json").read_text())
    assert document.check(saved) == []
    saved["summary"]["against_truth"][1]["measured"] = 0
    assert any("against_truth[1].measured" in line for line in document.check(saved))


def test_outage_refuses_bad_input_in_one_line(emulator: EmulatorServer) -> None:
    bad = run_cli(emulator.url, "outage", "--region", "ap-south-1")
    assert bad.exit_code == 2 and "is not one of --regions" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    aws = CliRunner().invoke(cli, ["outage", "--target", "aws"])
    assert aws.exit_code == 2 and "--fis-role-arn" in aws.stderr


# -- the cut on AWS: FIS, with botocore's Stubber ---------------------------------------

TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/global-serverless"
ROLE = "arn:aws:iam::123456789012:role/gtbench-fis"


def _fis() -> Any:
    return boto3.client("fis", region_name="eu-west-1", aws_access_key_id="AKIAEXAMPLE",
                        aws_secret_access_key="x")


def _template(stub: Stubber) -> None:
    stub.add_response("create_experiment_template",
                      {"experimentTemplate": {"id": "EXT123"}},
                      {"clientToken": ANY, "description": ANY, "roleArn": ROLE,
                       "stopConditions": [{"source": "none"}],
                       "targets": {"Table": {"resourceType": "aws:dynamodb:global-table",
                                             "resourceArns": [TABLE_ARN],
                                             "selectionMode": "ALL"}},
                       "actions": {"PauseReplication": {
                           "actionId": "aws:dynamodb:global-table-pause-replication",
                           # --duration 10 + FIS's 300 s allowance + a 60 s margin
                           "parameters": {"duration": "PT370S"},
                           "targets": {"Tables": "Table"}}},
                       "tags": {"gtbench:created-by": "gtbench outage"}})


def stub_a_whole_cut(stub: Stubber) -> None:
    """FIS's answers to one cut, from its template to the template's deletion."""
    _template(stub)
    stub.add_response("start_experiment", {"experiment": {"id": "EXP1"}},
                      {"clientToken": ANY, "experimentTemplateId": "EXT123"})
    stub.add_response("get_experiment", {"experiment": {"state": {"status": "initiating"}}},
                      {"id": "EXP1"})
    stub.add_response("get_experiment", {"experiment": {"state": {"status": "running"}}},
                      {"id": "EXP1"})
    stub.add_response("stop_experiment", {}, {"id": "EXP1"})
    # Agreement is measured only once the experiment has ended (its deny statements
    # leave the resource policy then), not when the stop was asked for.
    stub.add_response("get_experiment", {"experiment": {"state": {"status": "stopping"}}},
                      {"id": "EXP1"})
    stub.add_response("get_experiment", {"experiment": {"state": {"status": "stopped"}}},
                      {"id": "EXP1"})
    stub.add_response("delete_experiment_template", {}, {"id": "EXT123"})


def test_fis_cut_creates_starts_stops_and_deletes() -> None:
    from gtbench.experiments.fis import FisCut

    client = _fis()
    cut = FisCut(client, TABLE_ARN, ROLE, 10, poll_s=0)
    with Stubber(client) as stub:
        stub_a_whole_cut(stub)
        assert cut.allowance_s == 300
        cut.start()
        cut.end()
        cut.end()  # twice is harmless: nothing is left to undo
        stub.assert_no_pending_responses()


def test_fis_cut_that_cannot_start_leaves_nothing_and_names_the_role() -> None:
    from gtbench.experiments.fis import FisCut

    client = _fis()
    cut = FisCut(client, TABLE_ARN, ROLE, 10, poll_s=0)
    with Stubber(client) as stub:
        _template(stub)
        stub.add_client_error("start_experiment", "ValidationException",
                              f"The role {ROLE} cannot be assumed by FIS")
        stub.add_response("delete_experiment_template", {}, {"id": "EXT123"})
        with pytest.raises(GtbenchError) as excinfo:
            cut.start()
        stub.assert_no_pending_responses()  # the template was deleted
    assert "cannot be assumed" in str(excinfo.value)
    assert ROLE in (excinfo.value.hint or "") and "dynamodb:PutResourcePolicy" in (
        excinfo.value.hint or "")
    assert "fis:TagResource" in (excinfo.value.hint or "")  # the template is tagged


def test_fis_cut_whose_experiment_already_ended_still_deletes_its_template() -> None:
    from gtbench.experiments.fis import FisCut

    client = _fis()
    cut = FisCut(client, TABLE_ARN, ROLE, 10, poll_s=0)
    cut.template_id, cut.experiment_id = "EXT123", "EXP1"
    with Stubber(client) as stub:
        stub.add_client_error("stop_experiment", "ValidationException",
                              "The experiment is already completed")
        stub.add_response("get_experiment", {"experiment": {"state": {"status": "completed"}}},
                          {"id": "EXP1"})
        stub.add_response("delete_experiment_template", {}, {"id": "EXT123"})
        cut.end()
        stub.assert_no_pending_responses()


def test_a_missing_role_is_refused_before_anything_runs_and_aws_asks_first(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from moto import mock_aws

    for name in ("AWS_PROFILE", "GTBENCH_ENDPOINT_URL", "GTBENCH_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with mock_aws():
        import boto3

        from tests.helpers import make_table

        make_table(boto3.client("dynamodb", region_name="us-west-2"), "global-serverless")
        refused = CliRunner().invoke(cli, ["outage", "--target", "aws"])
        asked = CliRunner().invoke(cli, ["outage", "--target", "aws", "--fis-role-arn", ROLE],
                                   input="n\n")
    assert refused.exit_code == 2 and "--fis-role-arn" in refused.stderr
    flat = " ".join(asked.stderr.split())
    assert asked.exit_code != 0 and "AWS FIS experiment" in flat and ROLE in flat
    assert "billable" in flat and "AWS account 123456789012" in flat


def test_the_isolate_fault_cuts_replication_both_ways(ddb: Callable[[str], Any],
                                                      emulator: EmulatorServer) -> None:
    from tests.helpers import item, key, make_table, wait_until

    make_table(ddb("us-west-2"))
    ddb("us-west-2").update_table(TableName="tbl",
                                  ReplicaUpdates=[{"Create": {"RegionName": "eu-west-1"}}])
    wait_until(lambda: ddb("eu-west-1").describe_table(TableName="tbl")["Table"][
        "TableStatus"] == "ACTIVE")
    fault = control(emulator.url, "faults", "POST", {"kind": "isolate", "region": "eu-west-1"})
    ddb("eu-west-1").put_item(TableName="tbl", Item=item("p", "from-eu"))  # still served
    ddb("us-west-2").put_item(TableName="tbl", Item=item("p", "from-us"))
    pending = control(emulator.url, "status")
    assert pending["pending"] >= 2  # both held
    assert "Item" not in ddb("us-west-2").get_item(TableName="tbl", Key=key("p", "from-eu"),
                                                   ConsistentRead=True)
    control(emulator.url, f"faults/{fault['fault']['id']}", "DELETE")
    wait_until(lambda: "Item" in ddb("us-west-2").get_item(
        TableName="tbl", Key=key("p", "from-eu"), ConsistentRead=True))
    wait_until(lambda: "Item" in ddb("eu-west-1").get_item(
        TableName="tbl", Key=key("p", "from-us"), ConsistentRead=True))


class StartsThenInterrupted:
    """A cut whose start is interrupted half-way (a Ctrl-C while FIS starts)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    allowance_s = 1.0

    def describe(self) -> str:
        return "a test cut"

    def start(self) -> None:
        self.calls.append("start")
        raise KeyboardInterrupt

    def end(self) -> None:
        self.calls.append("end")


def test_ctrl_c_while_the_cut_starts_still_undoes_it(emulator: EmulatorServer) -> None:
    settings = Settings(endpoint_url=emulator.url)
    regions = open_regions(settings)
    provision.setup(regions, settings)
    cut = StartsThenInterrupted()
    result = run_outage(regions, settings, OutagePlan("eu-west-1", lead_s=0.3), cut)
    assert result.interrupted and cut.calls == ["start", "end"]
    assert result.writes  # the lead's writes are kept


def test_a_stored_run_checks_the_same_whatever_order_the_writes_were_answered_in() -> None:
    """Writers answer out of send order; the document keeps send order: the verdict's
    lists must not depend on which."""
    writes = [_write("B", 0, "k1", 150), _write("A", 1, "k1", 100), _write("A", 0, "k2", 0)]
    final = [_snap(r, 2000, {"k1": "B#0", "k2": "B#9"}, {"k1": ["B#0"], "k2": ["B#9"]})
             for r in ("A", "B")]
    result = OutageResult(OutagePlan("A"), "run", ("A", "B"), writes=writes,
                          held=[_snap("B", 1000, {}, {})], rounds=[final],
                          start_ns=0, end_ns=int(1000 * 1e6))
    saved = json.loads(json.dumps(document.outage_document(
        result, document.Context("local", None, "t", ("A", "B"), None, {}))))
    assert [x["write_id"] for x in saved["summary"]["lost"]] == ["A#0", "A#1"]
    assert saved["summary"]["recovery_point"] == ["A#0", "A#1"]
    assert document.check(saved) == []


# -- the cut seen from the data: heartbeats --------------------------------------------

def _beat(region: str, seq: int, sent_s: float) -> Op:
    ns = int(sent_s * 1e9)
    return Op(region, "write", ns, ns + 5_000_000, OK, seq, 0, f"{region}#hb{seq}")


def _seen(region: str, source: str, at_s: float, seq: int | None) -> heartbeat.BeatSeen:
    ns = int(at_s * 1e9)
    return heartbeat.BeatSeen(region, source, ns - 5_000_000, ns, seq)


def test_the_observed_cut_starts_at_the_first_beat_that_did_not_get_through() -> None:
    # eu-west-1 beats every 0.2 s; us-west-2 reads every 0.2 s and sees each beat 0.3 s
    # after it is sent, until beat 10 (sent at 2.0 s): from then on its reads show beat
    # 9, until at 9.0 s they show 29. The cut was asked for at 1.5 s.
    beats = [_beat("eu-west-1", i, 0.2 * i) for i in range(30)]

    def reads(last_through: int) -> list[heartbeat.BeatSeen]:
        out = [_seen("us-west-2", "eu-west-1", 0.2 * i + 0.3, min(i, last_through))
               for i in range(44)]
        return [*out, _seen("us-west-2", "eu-west-1", 9.0, 29)]

    seen = reads(9)
    stall = heartbeat.stall_threshold("eu-west-1", beats, seen, int(1.5e9), 0.25)
    assert stall == pytest.approx(1.1, abs=0.02)  # 2 x 0.3 s + 2 x 0.25 s
    cut = heartbeat.observe_cut("eu-west-1", beats, seen, int(1.5e9), stall, int(9.5e9))
    assert cut.start_ns == int(2.0e9) and cut.end_ns == int(9.0e9)
    assert cut.start_by_ns == int(2.005e9)  # the held beat's answer
    # Before a read sent a stall after the beat still lacks it, nothing is claimed; a
    # reader that merely fell silent proves nothing either.
    assert heartbeat.observe_cut("eu-west-1", beats, seen, int(1.5e9), stall,
                                 int(3.0e9)).start_ns is None
    silent = [x for x in seen if not 2.2e9 < x.sent_ns < 8.9e9]
    assert heartbeat.observe_cut("eu-west-1", beats, silent, int(1.5e9), stall,
                                 int(8.5e9)).start_ns is None
    # A beat held from before the request: the cut cannot have begun before it was asked.
    held = heartbeat.observe_cut("eu-west-1", beats, reads(6), int(1.5e9), stall,
                                 int(9.5e9))
    assert held.start_ns == int(1.5e9)


def test_a_beat_that_took_a_stall_to_arrive_is_no_cut() -> None:
    """A writer stalled between taking a beat's send time and its arrival (a loaded
    machine): reads sent a stall after the send, but before the answer, lack it. That
    is no evidence of a cut; only reads a stall after the answer are."""
    beats = [_beat("eu-west-1", i, 0.2 * i) for i in range(5)]
    stalled = Op("eu-west-1", "write", int(1.0e9), int(2.6e9), OK, 5, 0, "eu-west-1#hb5")
    beats += [stalled, *(_beat("eu-west-1", i, 2.6 + 0.2 * (i - 5)) for i in range(6, 10))]

    def shown(at_s: float) -> int | None:  # a beat shows elsewhere 0.3 s after its answer
        return max((int(b.value or 0) for b in beats if b.received_ns / 1e9 + 0.3 <= at_s),
                   default=None)

    seen = [_seen("us-west-2", "eu-west-1", 0.3 + 0.2 * i, shown(0.3 + 0.2 * i))
            for i in range(25)]
    assert [s.seq for s in seen if 2.1e9 < s.sent_ns < 2.8e9] == [4, 4, 4]  # staged
    assert heartbeat.observe_cut("eu-west-1", beats, seen, int(0.5e9), 1.1,
                                 int(5.5e9)).start_ns is None


class NeverCuts:
    """A cut that is asked for and never takes hold (FIS that never acts)."""

    allowance_s = 0.5

    def describe(self) -> str:
        return "a cut that never holds"

    def start(self) -> None:
        pass

    def end(self) -> None:
        pass


def test_a_cut_that_never_takes_hold_is_said_and_no_figure_is_made_up(
        emulator: EmulatorServer) -> None:
    settings = Settings(endpoint_url=emulator.url)
    regions = open_regions(settings)
    provision.setup(regions, settings)
    result = run_outage(regions, settings, OutagePlan("eu-west-1", duration_s=1, lead_s=0.5),
                        NeverCuts())
    assert result.stopped is not None and "never took hold within 0.5 s" in result.stopped
    assert result.writes and result.beats and result.seen  # the history is kept
    s = result.summary()
    assert s.cut_s is None and s.cut_observed_s is None and s.cut_requested_s is not None
    assert s.recovery_point_writes is None and s.lost_writes is None
    saved = document.outage_document(result, document.Context.of(settings, emulator.url))
    assert document.rebuild(saved)["summary"] == saved["summary"]
    from gtbench.report.outage import sentences
    assert "never showed in the heartbeats" in " ".join(sentences(saved))


def test_a_cut_fis_delays_is_measured_from_when_it_took_hold(emulator: EmulatorServer,
                                                             tmp_path: Path) -> None:
    """The emulator rehearses FIS: the isolate fault takes hold up to 3 s late. The cut
    is counted from the heartbeats, and the recovery point and lost writes still equal
    the emulator's ground truth, write for write."""
    emulator.backend.configure({"fis_delay_s": 3})
    result, saved, out = _mrec_outage(emulator, tmp_path)
    s, truth = saved["summary"], saved["truth"]
    assert s["cut_requested_s"] is not None and s["cut_observed_s"] is not None
    # Counted from when the fault took hold (the emulator's record), not from the ask: no
    # later than the first beat the cut region sent once it held, and after every beat
    # another region read before it let go (that one got through).
    took_hold, let_go = isolate_in_force(emulator, saved)
    beats = {b["value"]: b for b in saved["history"]["beats"] if b["region"] == "eu-west-1"}
    first_held = min(b["sent_ns"] for b in beats.values()
                     if b["sent_ns"] >= took_hold + SLACK_NS)
    through = max(x["seq"] for x in saved["history"]["beats_seen"]
                  if x["source"] == "eu-west-1" and x["region"] != "eu-west-1"
                  and x["seq"] is not None and x["received_ns"] < let_go - SLACK_NS)
    observed = saved["origin_ns"] + s["cut_observed_s"] * 1e9
    assert s["cut_requested_s"] <= s["cut_observed_s"]
    assert beats[through]["sent_ns"] < observed <= first_held + 1e3
    assert s["cut_observed_end_s"] > s["cut_observed_s"] + 2  # --duration from the start
    assert s["cut_s"] >= 2
    assert truth is not None
    assert sorted(s["recovery_point"]) == sorted(truth["recovery_point"])
    assert sorted(x["write_id"] for x in s["lost"]) == sorted(truth["lost"])
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.stderr
    assert "took hold at" in " ".join(result.stdout.split())


class LateCut:
    """The emulator's isolate fault, taking hold a second after it is asked for."""

    def __init__(self, url: str) -> None:
        self.cut = LocalCut(url, "eu-west-1", 2)
        self.allowance_s = self.cut.allowance_s
        self.timer = threading.Timer(1.0, self.cut.start)

    def describe(self) -> str:
        return "an isolate fault a second late"

    def start(self) -> None:
        self.timer.start()

    def end(self) -> None:
        self.timer.cancel()
        self.timer.join()
        self.cut.end()


def test_a_silence_taken_for_the_cut_too_early_does_not_shorten_it(
        emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine the live view once took a stall for the cut, a second before
    it held, and the run held it 0.5 s instead of 2. Staged here: the live view's first
    answer is the instant of asking; the run must hold the cut its duration from where
    the whole record places it (the first held beat's answer), not from that answer."""
    from gtbench.experiments import outage

    real = outage._await_cut
    answers: list[tuple[int, int] | None] = []

    def early_first(result: OutageResult, *args: Any) -> tuple[int, int] | None:
        early = (result.requested_ns, result.requested_ns)
        answers.append(early if not answers else real(result, *args))
        return answers[-1]

    monkeypatch.setattr(outage, "_await_cut", early_first)
    settings = Settings(endpoint_url=emulator.url)
    regions = open_regions(settings)
    provision.setup(regions, settings)
    cut = LateCut(emulator.url)
    result = run_outage(regions, settings, OutagePlan("eu-west-1", duration_s=2, lead_s=0.5),
                        cut)
    assert result.stopped is None
    observed = result.observed()
    assert observed is not None and observed.start_ns is not None
    assert observed.start_by_ns is not None
    assert len(answers) >= 2 and result.start_ns == observed.start_ns  # the record's
    if observed.start_by_ns <= result.requested_ns:
        # The fault came a second after asking, so the first held beat was answered after
        # asking, unless its delivery was a second late (a stalled process): then the
        # early answer and the record's coincide and there is nothing to tell apart.
        pytest.skip("a delivery a second late: the staging could not separate the answers")
    assert result.end_ns >= observed.start_by_ns + int(2e9)  # held its duration after it


def test_the_recovery_point_says_which_writes_were_sent_during_the_cut() -> None:
    """A#0 was sent before the cut began (at 50 ms) and never left A; A#1 during it:
    both are in the recovery point, one as the cut's own, one as a lag it inherited,
    acknowledged 45 ms before the cut's start."""
    writes = [_write("A", 0, "k1", 0), _write("A", 1, "k2", 100), _write("B", 0, "k3", 10)]
    held = [_snap("B", 1000, {"k3": "B#0"}, {"k3": ["B#0"]})]
    summary = analysis.outage_summary("A", ["A", "B"], writes, [], [], held, [],
                                      int(50 * 1e6), int(1000 * 1e6))
    assert summary.recovery_point == ["A#0", "A#1"]
    assert (summary.recovery_point_during, summary.recovery_point_before) == (1, 1)
    assert summary.recovery_point_oldest_before_cut_s == pytest.approx(0.045)


def test_an_answer_under_the_cut_that_no_document_names_is_recorded_not_fatal() -> None:
    """AWS documents AccessDeniedException for an MRSC replica not authorized to
    replicate, and FIS's reference names no error: under the cut, such an answer is an
    ``info`` op with its code (before it, it is the user's error and goes up)."""
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    from gtbench.experiments.outage import write_once

    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("update_item", "AccessDeniedException",
                                  "Replication is not authorized", http_status_code=400)
        with pytest.raises(ClientError):
            write_once(client, "t", "us-east-1", "k", "us-east-1#0", False, 7, 0)
        op = write_once(client, "t", "us-east-1", "k", "us-east-1#1", False, 7, 0,
                        under_cut=True)
    assert (op.result, op.error, op.write_id) == ("info", "AccessDeniedException",
                                                  "us-east-1#1")
