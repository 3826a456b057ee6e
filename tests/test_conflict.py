"""gtbench conflict on the emulator: who wins, what vanishes, what a counter loses."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import pytest

from gtbench import analysis
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.history import Op
from tests.helpers import run_cli

A, B = "us-west-2", "eu-west-1"
REQUIRED_TRIAL_KEYS = {"offset_ms", "writes", "converged", "final_value", "winner_region",
                       "later_write_won", "converge_s", "loser_seen_remotely", "timeline"}


def _reads(trial: dict[str, Any], region: str) -> list[Op]:
    ops = (Op.from_json(o) for o in trial["history"])
    return sorted((o for o in ops if o.kind == "read" and o.region == region),
                  key=lambda o: o.sent_ns)


def _read_between(trial: dict[str, Any], region: str, after_s: float, before_s: float) -> bool:
    """Was ``region`` read wholly between two instants (seconds after the trial's release)?"""
    release = trial["release_ns"]
    return any((o.sent_ns - release) / 1e9 >= after_s and (o.received_ns - release) / 1e9
               <= before_s for o in _reads(trial, region))


def _check_lost_unseen_against_truth(trial: dict[str, Any]) -> None:
    """"Lost unseen" is read from polls; the emulator's log says what really happened.

    Never applied elsewhere: it must be counted lost unseen. Applied elsewhere before the
    later write was sent, and the other region read in between: it must have been seen.
    """
    earlier = next(w for w in trial["writes"] if w["write_id"] == trial["earlier_write"])
    later = next(w for w in trial["writes"] if w["write_id"] != trial["earlier_write"])
    truth = trial["truth"][earlier["write_id"]]
    if not truth["delivered"]:
        assert trial["earlier_discarded_unseen"] is True, trial
    elif _read_between(trial, later["region"], earlier["acked"] + truth["lag_s"],
                       later["sent"]):
        assert trial["earlier_discarded_unseen"] is False, trial


def conflict(emulator: EmulatorServer, *args: str) -> dict[str, Any]:
    result = run_cli(emulator.url, "conflict", "--json", "-", "--no-timelines", *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["experiment"] == "conflict" and document["target"] == "local"
    return document


@pytest.fixture
def table(emulator: EmulatorServer) -> EmulatorServer:
    assert run_cli(emulator.url, "setup").exit_code == 0
    return emulator


@pytest.mark.parametrize("offset", ["30", "-30"])
def test_a_later_write_inside_the_lag_wins_everywhere_and_the_other_vanishes(
        table: EmulatorServer, offset: str) -> None:
    # 30 ms is well above the staging skew on a quiet machine (< 2 ms) and well below the
    # 500 ms lag. Beside a CPU hog a writer can be held past the offset, or even past the
    # lag: the order that counts is the one the trial measured, whether the later write
    # overtook the earlier one in flight is the emulator's log's to say, and the time the
    # regions truly disagreed, from that log, must lie inside the bound the reads give.
    table.backend.set(lag=LagModel(500, 20))
    document = conflict(table, "--trials", "3", "--offset-ms", offset)
    assert document["ground_truth"] is True
    for t in document["trials"]:
        assert set(t) >= REQUIRED_TRIAL_KEYS, t.keys()
        assert t["converged"], t
        if t["order_from"] != "ground truth":
            # A write of unknown fate (its answer timed out under load) leaves no truth
            # to line up; the order then comes from the send-ack windows, which a 30 ms
            # offset can leave overlapping: too close to call, never the wrong way.
            assert t["later_write_won"] in (True, None), t
            continue
        # Later is the emulator's stamp order, not the send times: a writer preempted
        # between taking its send time and writing to the socket reaches the region
        # after a write sent after it (30 ms is a short time beside CPU hogs).
        winner = max(t["writes"], key=lambda w: t["truth"][w["write_id"]]["stamp"])
        # Said with the trial's order and stamps: a failure here must be readable.
        assert t["winner_region"] == winner["region"], (t["truth"], t["writes"])
        assert t["later_write_won"] is True, (t["order_from"], t["truth"], t["writes"])
        assert t["final_value"] == winner["value"]
        # What each region showed last is the winner's value.
        last = {r: [e for e in t["timeline"] if e["region"] == r][-1]["value"] for r in (A, B)}
        assert last == {A: winner["value"], B: winner["value"]}
        assert t["converge_low_s"] <= t["converge_s"] <= t["converge_high_s"]
        # The winner's lag to the losing region, bounded from reads, holds the truth.
        assert t["winner_lag_low_s"] <= t["winner_true_lag_s"] <= t["winner_lag_high_s"]
        _check_lost_unseen_against_truth(t)
        truth = t["truth"]
        loser, winner_truth = truth[t["loser_write"]], truth[winner["write_id"]]
        apart = winner_truth["stamp"] - loser["stamp"]
        if loser["due_lag_s"] <= apart:
            continue  # the earlier write arrived first: no conflict in flight (see below)
        # Overtaken in flight (every trial, unless a writer was held 500 ms): the loser was
        # overwritten as if it never happened, and the emulator's log agrees.
        assert t["loser_seen_remotely"] is False and t["loser_delivered"] is False, t
        # Truly the loser's region held the loser from its stamp until the winner arrived;
        # the winner's region held nothing, then the winner.
        disagreed = apart + winner_truth["lag_s"]
        # The bound holds the truth; its low end is what the reads surely saw, which is
        # nothing when a loaded machine held the loser's region's polls over the window.
        assert 0 <= t["disagreed_low_s"] <= disagreed <= t["disagreed_high_s"], (t, disagreed)
        assert t["disagreed_low_s"] <= t["disagreed_s"] <= t["disagreed_high_s"]
    s = document["summary"]
    assert (s["trials"], s["converged"], s["lww_violated"]) == (3, 3, 0)
    assert s["lww_held"] + s["too_close"] == 3
    assert s["lww_held"] >= sum(t["order_from"] == "ground truth" for t in document["trials"])
    assert s["earlier_discarded_unseen"] == sum(t["earlier_discarded_unseen"]
                                                for t in document["trials"])


def test_an_offset_above_the_lag_is_no_conflict_the_earlier_write_is_seen_first(
        table: EmulatorServer) -> None:
    """Judged against the emulator's log, within each trial's own polling, never a
    window: a loaded machine may stage the writes closer than asked."""
    document = conflict(table, "--trials", "3", "--offset-ms", "300")  # lag 40 +- 10 ms
    for t in document["trials"]:
        first = next(w for w in t["writes"] if w["region"] == A)
        second = next(w for w in t["writes"] if w["region"] == B)
        truth = t["truth"]
        later = max((first, second), key=lambda w: truth[w["write_id"]]["stamp"])
        assert t["winner_region"] == later["region"] and t["later_write_won"] is True
        reached_b = first["acked"] + truth[first["write_id"]]["lag_s"]  # at the latest
        if reached_b >= second["sent"]:
            continue  # staged inside the lag after all: a conflict, judged elsewhere
        # A's write reached Ireland before Ireland's own was sent: no conflict.
        assert t["loser_delivered"] is True
        if _read_between(t, B, reached_b, second["sent"]):  # and Ireland was read then
            assert t["loser_seen_remotely"] is True
            in_b = [e for e in t["timeline"] if e["region"] == B and e["value"] is not None]
            assert in_b[0]["value"] == first["value"]  # B showed A's write before its own
        assert t["winner_lag_low_s"] <= t["winner_true_lag_s"] <= t["winner_lag_high_s"]
        _check_lost_unseen_against_truth(t)
    # "Later" is the applying order, so it always won; the sentence says how often the
    # winner was also the write sent later (here Ireland's, 300 ms later: every time).
    from gtbench.report.conflict import summary_sentence

    sent_later = sum(1 for t in document["trials"] if t["winner_region"] == B)
    assert summary_sentence(document).startswith(
        f"in 3 of 3 trials the write applied last won everywhere (in {sent_later} also "
        "sent last)")


def test_a_sweep_reports_each_offset(table: EmulatorServer) -> None:
    table.backend.set(lag=LagModel(150, 10))
    document = conflict(table, "--trials", "2", "--offsets", "0,400")
    rows = {o["offset_ms"]: o for o in document["summary"]["offsets"]}
    assert set(rows) == {0.0, 400.0}
    for offset, row in rows.items():
        trials = [t for t in document["trials"] if t["offset_ms"] == offset]
        assert row["trials"] == len(trials) == 2
        assert row["earlier_discarded_unseen"] == sum(t["earlier_discarded_unseen"]
                                                      for t in trials)
        for t in trials:
            _check_lost_unseen_against_truth(t)
            assert t["winner_lag_low_s"] <= t["winner_true_lag_s"] <= t["winner_lag_high_s"]


def test_increments_are_lost_when_the_lag_outlasts_the_writes(table: EmulatorServer) -> None:
    # Each run of four read-modify-writes takes about 0.2 s on a quiet machine; a lag of
    # 1 s leaves room for a loaded one before the other region's first write arrives.
    table.backend.set(lag=LagModel(1000, 20))
    document = conflict(table, "--mode", "increment", "--trials", "2", "--increments", "4",
                        "--pace-ms", "20")
    for t in document["trials"]:
        inc = t["increment"]
        assert inc["updates"] == 8 and inc["expected"] == 0  # four +1, four -1
        assert inc["lost_updates"] == 4  # one region's whole run overwritten
        assert inc["final"] == t["final_value"] in (4, -4)
    s = document["summary"]
    assert (s["updates"], s["lost_updates"], s["expected"]) == (16, 8, 0)


def test_sequential_increments_lose_nothing(table: EmulatorServer) -> None:
    # Each region's run finishes and replicates (40 ms lag) well before the other's starts
    # (1.5 s: room for a loaded machine).
    document = conflict(table, "--mode", "increment", "--same-sign", "--trials", "1",
                        "--increments", "3", "--pace-ms", "5", "--offset-ms", "1500")
    (t,) = document["trials"]
    assert t["increment"]["lost_updates"] == 0
    assert t["increment"]["final"] == t["increment"]["expected"] == 6


def test_the_live_display_shows_timelines_and_says_who_won(table: EmulatorServer) -> None:
    result = run_cli(table.url, "conflict", "--trials", "1")
    assert result.exit_code == 0, result.stderr
    # The requested offset and the order that happened are stated apart.
    assert "trial 1 · asked: eu-west-1 0 ms after us-west-2" in result.stdout
    flat = " ".join(result.stdout.split())
    assert re.search(r"sent: (us-west-2|eu-west-1) first, (eu-west-1|us-west-2) [\d.]+ ms "
                     r"later", flat), flat[:300]
    assert "✎ write" in result.stdout
    assert "won in both regions" in result.stdout
    assert "last-writer-wins per offset" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--between", A], "--between needs two different regions"),
    (["--between", f"{A},ap-south-1"], "ap-south-1 is not one of --regions"),
    (["--offsets", "0,soon"], "is not a comma-separated list of milliseconds"),
    (["--offsets", "0,100", "--offset-ms", "5"], "give --offset-ms or --offsets, not both"),
])
def test_bad_input_is_one_line(emulator: EmulatorServer, args: list[str], message: str) -> None:
    result = run_cli(emulator.url, "conflict", *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_missing_table_is_one_line(emulator: EmulatorServer) -> None:
    result = run_cli(emulator.url, "conflict")
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


# -- the verdict, from hand-made histories --------------------------------------------


def op(region: str, sent: int, received: int, write_id: str | None,
       kind: Literal["read", "write"] = "read", value: int | None = None) -> Op:
    return Op(region, kind, sent * 1_000_000, received * 1_000_000, "ok", value, 0, write_id)


def test_the_order_of_two_writes_is_known_only_when_their_windows_do_not_overlap() -> None:
    a, b = op(A, 0, 10, "a", "write"), op(B, 5, 15, "b", "write")
    assert analysis.order(b, a) is None
    c = op(B, 11, 20, "c", "write")
    assert analysis.order(c, a) is True and analysis.order(a, c) is False
    assert analysis.order(b, a, {"a": 2.0, "b": 1.0}) is False  # ground truth decides


def test_an_earlier_write_that_wins_is_reported_as_a_violation() -> None:
    writes = [op(A, 0, 10, "a", "write", 1), op(B, 100, 110, "b", "write", 2)]
    reads = [op(A, 20, 22, "a"), op(B, 120, 122, "b"), op(B, 300, 302, "a"),
             op(A, 310, 312, "a")]
    v = analysis.conflict_verdict(writes, reads)
    assert v.converged and v.winner_region == A and v.later_write_won is False
    assert v.loser_write == "b" and v.loser_seen_remotely is False


def test_a_read_answered_late_does_not_turn_a_regions_timeline_back() -> None:
    """Seen beside CPU hogs: a read sent before the change and answered after a fresher
    one drew the region going back to the loser (or to nothing) after it agreed. A
    region's item only moves forward: such a read adds nothing to what it showed."""
    from gtbench.document import conflict_trial
    from gtbench.experiments.conflict import OVERWRITE, ConflictTrial

    writes = [op(A, 0, 10, "a", "write", 1), op(B, 30, 40, "b", "write", 2)]
    reads = [op(A, 12, 14, "a"), op(B, 1, 300, None),  # B's first read, answered last
             op(A, 118, 125, "b"), op(A, 120, 400, "a"),  # served before the first
             op(B, 45, 47, "b"), op(A, 130, 135, "b")]
    trial = ConflictTrial(0, 30.0, "k", OVERWRITE, writes,
                          sorted(reads, key=lambda o: o.sent_ns), release_ns=0)
    assert trial.verdict().converged and trial.verdict().final_write == "b"
    shown = [(e["region"], e["write_id"]) for e in conflict_trial(trial)["timeline"]]
    assert shown == [(A, "a"), (B, "b"), (A, "b")]


def test_regions_that_never_agree_have_no_winner() -> None:
    writes = [op(A, 0, 10, "a", "write", 1), op(B, 0, 10, "b", "write", 2)]
    reads = [op(A, 20, 22, "a"), op(B, 20, 22, "b"), op(A, 900, 902, "a"),
             op(B, 900, 902, "b")]
    v = analysis.conflict_verdict(writes, reads)
    assert not v.converged and v.winner_region is None and v.later_write_won is None


def test_a_trial_that_never_agreed_says_how_its_reads_went() -> None:
    """Whether the regions differed to the end, or the reads failed or waited seconds for
    their answers (an endpoint that stalled): the sentence tells them apart."""
    from dataclasses import replace

    from gtbench.document import conflict_trial
    from gtbench.experiments.conflict import OVERWRITE, ConflictTrial
    from gtbench.report.conflict import trial_sentence

    writes = [op(A, 0, 10, "a", "write", 1), op(B, 0, 10, "b", "write", 2)]
    differ = [op(A, 20, 22, "a"), op(B, 20, 22, "b")]
    plain = trial_sentence(conflict_trial(ConflictTrial(0, 0.0, "k", OVERWRITE, writes,
                                                        differ, release_ns=0)))
    assert plain.endswith("(2 writes, 2 reads).")
    stalled = [*differ, op(A, 30, 4030, "a"),
               replace(op(B, 30, 2030, None), result="info", error="ReadTimeoutError"),
               op(B, 2040, 2042, "b")]
    said = trial_sentence(conflict_trial(ConflictTrial(0, 0.0, "k", OVERWRITE, writes,
                                                       stalled, release_ns=0)))
    assert "had not agreed" in said
    assert "5 reads, 1 failed: ReadTimeoutError x1" in said
    assert "the slowest read waited 4.0 s for its answer" in said


@pytest.mark.parametrize(("code", "result"), [
    ("ProvisionedThroughputExceededException", "fail"),  # certainly not applied
    ("InternalServerError", "info"),  # may or may not have been applied
    ("AccessDeniedException", None),  # the user's to fix: raised, not recorded
])
def test_a_failed_write_is_recorded_by_what_is_known_of_it(code: str,
                                                            result: str | None) -> None:
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    from gtbench.experiments import conflict

    client = boto3.client("dynamodb", region_name=A, aws_access_key_id="x",
                          aws_secret_access_key="x")
    spec = conflict.WriteSpec(A, f"{A}#0", 0.0, 1234)
    with Stubber(client) as stubber:
        stubber.add_client_error("put_item", service_error_code=code)
        key = {"PK": {"S": "p"}, "SK": {"S": "s"}}
        if result is None:
            with pytest.raises(ClientError):
                conflict._write(conflict.Gate(client), "t", key, spec, conflict.OVERWRITE,
                                0, 0.0)
        else:
            written = conflict._write(conflict.Gate(client), "t", key, spec,
                                      conflict.OVERWRITE, 0, 0.0)
            # The value it meant to write is kept: if its fate is unknown, it may yet show.
            assert written is not None
            assert (written.result, written.write_id, written.value, written.error) == (
                result, f"{A}#0", 1234, code)


def test_a_stopped_run_wakes_a_writer_waiting_for_a_far_offset_and_sends_nothing() -> None:
    """Ctrl-C sets the trial's stop: a writer held for a 60 s offset returns at once,
    with no write sent (the stubbed client would fail the test on any call)."""
    import threading
    import time

    import boto3
    from botocore.stub import Stubber

    from gtbench.experiments import conflict

    client = boto3.client("dynamodb", region_name=A, aws_access_key_id="x",
                          aws_secret_access_key="x")
    gate = conflict.Gate(client)
    stop = threading.Event()
    spec = conflict.WriteSpec(A, f"{A}#0", 60.0, 1)
    done: list[list[Any]] = []
    with Stubber(client):  # no response queued: a sent request would raise
        writer = threading.Thread(target=lambda: done.append(conflict._writer(
            gate, "t", {"PK": {"S": "p"}, "SK": {"S": "s"}}, [spec], conflict.OVERWRITE,
            time.perf_counter(), 100, stop)))
        writer.start()
        stop.set()
        writer.join(timeout=10)
    assert not writer.is_alive() and done == [[]]
    # Held at the gate itself (the request built and signed), it is cancelled, not sent.
    gate.release_s, gate.stop = time.perf_counter() + 60, stop
    assert conflict._write(gate, "t", {"PK": {"S": "p"}, "SK": {"S": "s"}}, spec,
                           conflict.OVERWRITE, 0, time.perf_counter() + 60) is None


@pytest.mark.parametrize("strong", [False, True])
def test_a_writers_gate_is_on_a_client_of_its_own(strong: bool) -> None:
    """The release gate holds only its writer's requests: it is not on the cached clients
    the pollers read with (on a strong table both want single-attempt clients)."""
    import boto3

    from gtbench.experiments import conflict
    from gtbench.regions import AWS, Regions, Settings

    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x",
                            region_name=A)
    regions = Regions(Settings(AWS, None, (A, B), "t"), None, session)
    gates = conflict.writer_gates(regions, conflict.ConflictPlan(regions=(A, B)), strong)
    for region in (A, B):
        client = gates[region].client
        assert client is not regions.reader(region) and client is not regions.writer(region)
        attempts = client.meta.config.retries["total_max_attempts"]
        assert attempts == (1 if strong else regions.writer_attempts)
