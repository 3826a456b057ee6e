"""A run is a history: kept whole in the document, checked again from the file, and never
lost to Ctrl-C, a bad path or a bad flag."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtbench import analysis, document, registry
from gtbench.analysis import FinalImage
from gtbench.emulator.server import EmulatorServer
from gtbench.history import Op
from tests.helpers import run_cli

A, B = "us-west-2", "eu-west-1"
MS = 1_000_000


def report(*args: str) -> Any:
    from click.testing import CliRunner

    from gtbench.cli import cli

    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


@pytest.fixture
def table(emulator: EmulatorServer) -> EmulatorServer:
    assert run_cli(emulator.url, "setup").exit_code == 0
    return emulator


# -- the record -------------------------------------------------------------------------


@pytest.mark.parametrize("experiment", [
    ["race", "--trials", "3", "--interval-ms", "20"],
    ["conflict", "--trials", "2"],
    ["conflict", "--mode", "increment", "--trials", "1", "--increments", "3"],
])
def test_a_saved_run_holds_every_operation_and_checks_clean(
        table: EmulatorServer, tmp_path: Path, experiment: list[str]) -> None:
    path = tmp_path / "result.json"
    assert run_cli(table.url, *experiment, "--json", str(path)).exit_code == 0
    saved = json.loads(path.read_text())
    assert saved["format"] == registry.FORMAT_VERSION
    env = saved["environment"]
    assert {"gtbench", "python", "boto3", "botocore"} <= set(env)
    assert saved["emulator"]["lag"]["lag_ms"] == 40.0  # the emulator's settings, recorded
    for trial in saved["trials"]:
        ops = [Op.from_json(o) for o in trial["history"]]
        kinds = {o.kind for o in ops}
        assert kinds == {"read", "write"}
        assert all(o.received_ns >= o.sent_ns and o.result in ("ok", "fail", "info")
                   for o in ops)
        assert trial["reads"] == sum(o.kind == "read" for o in ops)
    checked = report(str(path), "--check")
    assert checked.exit_code == 0, checked.stderr
    assert "every verdict and summary follows from its history" in checked.stderr


def test_check_finds_a_figure_the_history_does_not_give(table: EmulatorServer,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "race.json"
    assert run_cli(table.url, "race", "--trials", "3", "--interval-ms", "20", "--json",
                   str(path)).exit_code == 0
    saved = json.loads(path.read_text())
    saved["trials"][1]["lag_s"] += 0.5  # a verdict edited by hand
    for op in saved["trials"][2]["history"]:  # the fresh reads removed: never replicated
        if op["kind"] == "read" and op["value"] == saved["trials"][2]["value"]:
            op["value"] = None
    path.write_text(json.dumps(saved))
    checked = report(str(path), "--check")
    assert checked.exit_code == 1
    assert "differs: trials[1].lag_s: stated" in checked.stderr
    assert "trials[2].status: stated 'replicated', computed 'timed_out'" in checked.stderr
    assert checked.stderr.strip().splitlines()[-1].startswith("gtbench: error:")
    differences = document.check(saved)
    assert "summary.replicated: stated 3, computed 2" in differences
    assert "summary.timed_out: stated 0, computed 1" in differences


def test_a_document_older_than_a_figure_still_checks_but_a_wrong_one_does_not(
        table: EmulatorServer, tmp_path: Path) -> None:
    """A figure added since a run was saved is absent from it: that states nothing false.
    The disagreement's bound is such a figure (conflict documents before it lack it)."""
    path = tmp_path / "conflict.json"
    assert run_cli(table.url, "conflict", "--trials", "2", "--json", str(path)).exit_code == 0
    saved = json.loads(path.read_text())
    for trial in saved["trials"]:
        del trial["disagreed_low_s"], trial["disagreed_high_s"]
    for counts in (saved["summary"], *saved["summary"]["offsets"]):
        del counts["median_disagreed_low_s"], counts["median_disagreed_high_s"]
    path.write_text(json.dumps(saved))
    assert report(str(path), "--check").exit_code == 0
    computed = saved["trials"][0]["disagreed_s"]
    saved["trials"][0]["disagreed_s"] = computed + 0.1
    assert document.check(saved) == [
        f"trials[0].disagreed_s: stated {computed + 0.1!r}, computed {computed!r}"]


def test_an_old_file_renders_but_cannot_be_checked() -> None:
    old = Path(__file__).parent / "data" / "race-format1.json"
    shown = report(str(old))
    assert shown.exit_code == 0 and "replication lag in seconds" in shown.stdout
    checked = report(str(old), "--check")
    assert checked.exit_code == 1 and "has no history to check" in checked.stderr
    assert len(checked.stderr.strip().splitlines()) == 1


# -- verdicts from hand-made histories ---------------------------------------------------


def w(region: str, sent: int, received: int, result: Any = "ok", value: int | None = 7,
      write_id: str | None = None) -> Op:
    return Op(region, "write", sent * MS, received * MS, result, value, 0, write_id,
              None if result == "ok" else "X")


def r(region: str, sent: int, received: int, value: int | None = None, result: Any = "ok",
      write_id: str | None = None) -> Op:
    return Op(region, "read", sent * MS, received * MS, result, value, 1, write_id,
              None if result == "ok" else "X")


def test_a_race_trial_is_judged_only_as_far_as_it_can_be_known() -> None:
    stale, fresh = r(B, 20, 22), r(B, 30, 32, value=7)
    assert analysis.race_verdict(w(A, 0, 10), [stale, fresh], 7).status == "replicated"
    assert analysis.race_verdict(w(A, 0, 10), [stale, r(B, 40, 42)], 7).status == "timed_out"
    # The reader was failing at the end: it may have replicated unseen.
    failing = [stale, r(B, 40, 42, result="fail")]
    assert analysis.race_verdict(w(A, 0, 10), failing, 7).status == "indeterminate"
    # A write of unknown fate is never timed, even if it shows up.
    assert analysis.race_verdict(w(A, 0, 10, "info"), [fresh], 7).status == "indeterminate"
    refused = analysis.race_verdict(w(A, 0, 10, "fail"), [], 7)
    assert (refused.status, refused.lag_s, refused.write_rtt_s) == ("failed", None, None)
    summary = analysis.lag_stats([analysis.race_verdict(w(A, 0, 10), [stale, fresh], 7),
                                  analysis.race_verdict(w(A, 0, 10, "info"), [fresh], 7),
                                  refused])
    assert (summary.replicated, summary.indeterminate, summary.failed) == (1, 1, 1)


def test_a_conflict_where_one_region_wrote_nothing_is_judged_without_a_crash() -> None:
    writes = [w(A, 0, 10, value=1, write_id="a"), w(B, 0, 10, "fail", 2, "b")]
    reads = [r(A, 20, 22, 1, write_id="a"), r(B, 20, 22, 1, write_id="a")]
    v = analysis.conflict_verdict(writes, reads)
    assert (v.status, v.contested, v.winner_region, v.loser_write) == (
        "converged", False, A, None)
    assert v.later_write_won is None and not v.earlier_discarded_unseen
    every_write_refused = analysis.conflict_verdict(
        [w(A, 0, 10, "fail", 1, "a"), w(B, 0, 10, "fail", 2, "b")], reads[:0])
    assert every_write_refused.status == "failed"


def test_how_long_the_regions_disagreed_is_bounded_by_what_the_reads_pin_down() -> None:
    # A write shown by two reads was held from the first one's return to the last one's
    # send: A surely held "a" over 12-20 and "b" over 42-45, B nothing over 12-20 and "b"
    # over 32-45. Surely apart: 12-20 (8 ms). Surely together: 42-45. Elsewhere in 0-50
    # no read pins both down, so they may have differed: at most 47 ms.
    by_region = {A: [r(A, 10, 12, 1, write_id="a"), r(A, 20, 22, 1, write_id="a"),
                     r(A, 40, 42, 2, write_id="b"), r(A, 45, 47, 2, write_id="b")],
                 B: [r(B, 10, 12), r(B, 20, 22), r(B, 30, 32, 2, write_id="b"),
                     r(B, 45, 47, 2, write_id="b")]}
    assert analysis.disagreement_bound_ns(by_region, 0, 50 * MS) == (8 * MS, 47 * MS)
    # One read pins down nothing: it shows its write at some instant inside its span.
    by_region[B][1] = r(B, 20, 22, result="fail")
    assert analysis.disagreement_bound_ns(by_region, 0, 50 * MS) == (0, 47 * MS)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_disagreement_bound_holds_the_truth_of_any_polled_history(data: Any) -> None:
    """Against the definition: random true histories of two regions (each showing a run of
    writes, none twice), polled by reads that take effect anywhere inside their span; the
    time the regions truly held different writes lies inside the bound, and the point
    estimate does too once clamped as the verdict clamps it."""
    end = 1000
    truth: dict[str, list[tuple[int, str | None]]] = {}
    for region in (A, B):
        changes = sorted(data.draw(st.sets(st.integers(1, end - 1), max_size=3)))
        names = data.draw(st.permutations(["x", "y", "z"]))
        truth[region] = [(0, None), *zip(changes, names, strict=False)]

    def held(region: str, at: float) -> str | None:
        return [w for t, w in truth[region] if t <= at][-1]

    by_region: dict[str, list[Op]] = {}
    for region in (A, B):
        polls = data.draw(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 60),
                                             st.floats(0, 1)), max_size=25))
        reads, at = [], 0
        for gap, span, where in polls:
            at += gap
            effect = at + where * span
            reads.append(Op(region, "read", at, at + span, "ok", None, 1, held(region, effect)))
            at += span
        by_region[region] = reads
    true = sum(1 for t in range(end) if held(A, t + 0.5) != held(B, t + 0.5))
    low, high = analysis.disagreement_bound_ns(by_region, 0, end)
    assert low <= true <= high
    assert low <= min(max(analysis.disagreement_ns(by_region, 0, end), low), high) <= high


def test_lost_increments_come_from_the_final_image() -> None:
    writes = [w(A, 0, 10, value=1, write_id="a0"), w(A, 20, 30, value=2, write_id="a1"),
              w(B, 5, 15, value=-1, write_id="b0"), w(B, 40, 50, "info", None, "b1")]
    reads = [r(A, 60, 62, 1, write_id="a1"), r(B, 60, 62, 1, write_id="a1")]
    v = analysis.conflict_verdict(writes, reads, increments={"a0": 1, "a1": 1, "b0": -1,
                                                             "b1": -1},
                                  final=FinalImage(2, {A: 2, B: 0}))
    assert v.increment is not None
    # Three acknowledged updates (the info one is of unknown fate), two kept.
    assert (v.increment.updates, v.increment.expected, v.increment.lost_updates) == (3, 1, 1)
    assert v.final_value == 2


# -- faults become results, and nothing measured is lost ---------------------------------


def test_ctrl_c_keeps_the_completed_trials(table: EmulatorServer, tmp_path: Path) -> None:
    path = tmp_path / "race.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "race", "--endpoint-url", table.url, "--trials",
         "200", "--interval-ms", "20", "--json", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "120"})
    assert process.stdout is not None
    lines: list[str] = []
    while len(lines) < 3:  # three trials measured
        line = process.stdout.readline()
        assert line, "race ended before three trials"
        if line.lstrip().startswith("trial"):
            lines.append(line)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    saved = json.loads(path.read_text())
    assert saved["interrupted"] is True
    assert 3 <= len(saved["trials"]) < 200
    assert saved["summary"]["trials"] == len(saved["trials"])
    assert "replication lag in seconds" in out  # the summary of what was measured
    assert f"interrupted after {len(saved['trials'])} completed trials" in err
    assert report(str(path), "--check").exit_code == 0


def test_a_path_that_cannot_be_written_is_refused_before_the_run(
        table: EmulatorServer, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_cli(table.url, "race", "--json", str(tmp_path / "missing" / "out.json"))
    assert result.exit_code == 2
    assert "does not exist: nothing was run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 10  # refused at once, not after 20 trials


def test_a_write_that_fails_at_the_end_goes_to_a_temporary_file(
        table: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtbench import terminal

    def refuse(path: str, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(terminal, "write_atomically", refuse)
    result = run_cli(table.url, "race", "--trials", "2", "--interval-ms", "20", "--json",
                     str(tmp_path / "out.json"))
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "No space left on device; the result is saved in" in last
    fallback = Path(last.split("saved in ", 1)[1].split(" instead")[0])
    try:
        assert json.loads(fallback.read_text())["summary"]["trials"] == 2
    finally:
        fallback.unlink()


@pytest.mark.parametrize("url", ["notaurl", "ftp://127.0.0.1:8000", "http://", "http://h:x"])
def test_a_bad_endpoint_url_is_one_line(url: str) -> None:
    from click.testing import CliRunner

    from gtbench.cli import cli

    result = CliRunner().invoke(cli, ["status", "--endpoint-url", url])
    assert result.exit_code == 2
    assert "is not an http(s) URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_local_stop_never_signals_a_process_that_is_not_its_emulator(tmp_path: Path) -> None:
    from gtbench.local.lifecycle import free_port

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A record left by a crash: the pid now belongs to another program.
        (tmp_path / "emulator.json").write_text(json.dumps({
            "pid": bystander.pid, "host": "127.0.0.1", "port": free_port("127.0.0.1"),
            "started_by": "user", "started_at": 0.0, "log": str(tmp_path / "log")}))
        done = subprocess.run([sys.executable, "-m", "gtbench", "local", "stop"], text=True,
                              capture_output=True, timeout=60,
                              env={**os.environ, "GTBENCH_STATE_DIR": str(tmp_path)})
        assert done.returncode == 1
        assert f"pid {bystander.pid} was not signalled" in done.stderr
        assert bystander.poll() is None  # still running
        assert not (tmp_path / "emulator.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_lag_not_seen_within_the_timeout_makes_each_figure_it_enters_a_lower_bound() -> None:
    from gtbench.report.common import lag_figure
    from gtbench.report.race import race_sentence

    seen = analysis.race_verdict(w(A, 0, 10), [r(B, 20, 22), r(B, 30, 32, value=7)], 7)
    later = analysis.race_verdict(w(A, 0, 10), [r(B, 50, 52), r(B, 60, 62, value=7)], 7)
    unseen = analysis.race_verdict(w(A, 0, 10), [r(B, 20, 22), r(B, 9000, 9002)], 7)
    assert unseen.status == "timed_out" and unseen.lag_s is None
    # Its lag exceeds the last stale read's send after the acknowledgement: 8.99 s.
    assert unseen.censored_at_s == pytest.approx(8.99)
    # Two of three not seen (the 50 writes/s row): the median is over 8.99 s,
    # never the one seen trial's lag; the least is exact.
    stats = analysis.lag_stats([seen, unseen, unseen])
    assert stats.p50_s == pytest.approx(8.99) and stats.p50_censored
    assert (stats.min_s, stats.min_censored) == (seen.lag_s, False)
    assert stats.max_censored and stats.mean_censored and stats.stdev_s is None
    # One of three not seen: the median lands on a seen trial and is exact; p99 is not.
    stats = analysis.lag_stats([later, unseen, seen])
    assert (stats.p50_s, stats.p50_censored) == (later.lag_s, False)
    assert stats.p99_censored and not stats.min_censored
    # Nothing censored: every figure exact, the spread known.
    stats = analysis.lag_stats([seen, later])
    assert not any((stats.p50_censored, stats.p99_censored, stats.max_censored,
                    stats.mean_censored)) and stats.stdev_s is not None
    # As printed: "> 8.990", never the bare figure; and a pair that saw nothing says so.
    row = {"p50_s": 8.99, "p50_censored": True, "p99_s": 0.02, "p99_censored": False}
    assert lag_figure(row, "p50") == "> 8.990" and lag_figure(row, "p99") == "0.020"
    assert lag_figure(row, "p50", 1000, 0, " ms") == "> 8990 ms"
    summary = vars(analysis.pair_summary((A, B), [unseen, unseen]))
    assert summary["p50_censored"] and "never saw a write" in race_sentence(summary)
    summary = vars(analysis.pair_summary((A, B), [seen, unseen, unseen]))
    assert "after > 8.99 s at the median" in race_sentence(summary)


def test_no_censored_trial_gives_a_finite_percentile_that_claims_to_be_exact() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.lists(st.floats(0, 5), max_size=12), st.lists(st.floats(5, 10), max_size=12),
           st.sampled_from([0, 50, 90, 99, 100]))
    def check(seen: list[float], cut: list[float], q: int) -> None:
        value, censored = analysis.censored_percentile(seen, cut, q)
        if not seen and not cut:
            assert value is None
            return
        assert value is not None
        # Whatever the unseen trials' true lags (anything above their floors), an exact
        # figure is the percentile, and a censored one is at most it.
        for true in ([c + 0.001 for c in cut], [c + 100 for c in cut]):
            actual = analysis.percentile([*seen, *true], q)
            assert value == actual if not censored else value <= actual

    check()
