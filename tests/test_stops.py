"""Every ending is an ending: a table deleted mid-run, SIGTERM and SIGHUP, a write whose
moment never came. Each run keeps what it measured, says why it stopped, and never
reports a trial that did not happen as a result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from gtbench.analysis import conflict_verdict
from gtbench.cli import cli
from gtbench.emulator.server import EmulatorServer
from gtbench.history import OK, Op
from tests.helpers import control, wait_until

TWO = "us-west-2,eu-west-1"
TABLE = "global-serverless"


def _client(url: str, region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _setup(url: str) -> None:
    result = CliRunner().invoke(cli, ["setup", "--endpoint-url", url, "--regions", TWO])
    assert result.exit_code == 0, result.stderr


def _experiment_writes(server: EmulatorServer) -> int:
    return sum(1 for r in server.backend.replicator.records()
               if str(r["key"].get("PK", {}).get("S", "")).startswith(
                   ("gtbench-race", "gtbench-conflict")))


def _experiment_items(server: EmulatorServer) -> int:
    """The experiment's items written so far: each trial writes an item of its own, so
    a third means two trials are over, whatever the machine's load."""
    return len({json.dumps(r["key"], sort_keys=True) for r in server.backend.replicator.records()
                if str(r["key"].get("PK", {}).get("S", "")).startswith(
                    ("gtbench-race", "gtbench-conflict"))})


def _check(path: Path) -> None:
    checked = CliRunner().invoke(cli, ["report", str(path), "--check"])
    assert checked.exit_code == 0, checked.stderr


# -- the table deleted from under a run ---------------------------------------------------

DELETED = {
    "race": ["race", "--trials", "200"],
    "conflict": ["conflict", "--trials", "200", "--no-timelines"],
    "conflict increment": ["conflict", "--mode", "increment", "--increments", "3",
                           "--pace-ms", "20", "--trials", "200", "--no-timelines"],
    "race --load": ["race", "--load", "5,5,5", "--load-warm-up", "0", "--trials", "30"],
}


@pytest.mark.parametrize("case", list(DELETED))
def test_a_table_deleted_mid_run_ends_it_stopped_with_every_trial_kept(
        emulator: EmulatorServer, tmp_path: Path, case: str) -> None:
    """`gtbench teardown` from another shell: the run ends as stopped (exit 1), its
    completed trials saved and checkable."""
    _setup(emulator.url)

    def delete() -> None:
        wait_until(lambda: _experiment_items(emulator) >= 3, timeout=120, interval=0.02,
                   message="two trials over")
        for region in ("eu-west-1", "us-west-2"):  # the replica, then the table
            _client(emulator.url, region).delete_table(TableName=TABLE)
            wait_until(lambda r=region: TABLE not in _client(  # type: ignore[misc]
                emulator.url, r).list_tables()["TableNames"], message=f"gone in {region}")

    deleter = threading.Thread(target=delete, daemon=True)
    deleter.start()
    out = tmp_path / "run.json"
    result = CliRunner().invoke(cli, [*DELETED[case], "--endpoint-url", emulator.url,
                                      "--regions", TWO, "--json", str(out)])
    deleter.join(timeout=30)
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert out.exists(), result.stderr
    document = json.loads(out.read_text())
    assert document["stopped"], document.get("stopped")
    assert len(document["trials"]) > 0
    _check(out)


# -- a write whose moment never came -----------------------------------------------------

def test_a_trial_whose_second_write_was_never_sent_is_incomplete_not_a_result(
        doomed: EmulatorServer, tmp_path: Path) -> None:
    """The emulator dies while the second writer waits out a 20 s offset: the trial is
    incomplete (no verdict), the run says it stopped and exits 1, and the saved file
    re-checks as incomplete."""
    _setup(doomed.url)

    def kill() -> None:
        wait_until(lambda: _experiment_writes(doomed) >= 1, timeout=60, interval=0.01,
                   message="the first write")
        doomed.stop()

    threading.Thread(target=kill, daemon=True).start()
    out = tmp_path / "conflict.json"
    result = CliRunner().invoke(cli, ["conflict", "--offset-ms", "20000", "--trials", "3",
                                      "--endpoint-url", doomed.url, "--regions", TWO,
                                      "--json", str(out)])
    assert result.exit_code == 3, result.stderr
    assert "incomplete" in result.stderr
    assert "every write from" not in result.output  # the old false "converged" sentence
    document = json.loads(out.read_text())
    first = document["trials"][0]
    assert first["status"] == "incomplete" and first["unsent"], first["status"]
    assert document["summary"]["incomplete"] == 1
    assert document["summary"]["lww_held"] == 0 and document["summary"]["converged"] == 0
    _check(out)


def test_an_unsent_write_makes_the_verdict_incomplete_whatever_the_reads_show() -> None:
    """On a hand-made history where the one sent write was read in both regions (which
    alone would read as converged): with a write unsent, the trial is incomplete."""
    write = Op(region="us-west-2", kind="write", sent_ns=0, received_ns=10, result=OK,
               value=1, write_id="us-west-2#0")
    reads = [Op(region=r, kind="read", sent_ns=20 + k, received_ns=30 + k, result=OK,
                value=1, write_id="us-west-2#0", process=k) for k, r in
             enumerate(["us-west-2", "eu-west-1"])]
    assert conflict_verdict([write], reads).status == "converged"
    verdict = conflict_verdict([write], reads, unsent=1)
    assert verdict.status == "incomplete"
    assert not verdict.converged and not verdict.contested and verdict.winner_region is None


# -- SIGTERM and SIGHUP, as Ctrl-C ---------------------------------------------------------

def _as_from_a_terminal() -> None:
    """The signals as a command started from a terminal has them: a test run may
    inherit SIGHUP ignored (nohup, a background job), which gtbench keeps ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_the_run_save_it_and_end_its_marker(
        emulator: EmulatorServer, tmp_path: Path, signum: int, status: int) -> None:
    _setup(emulator.url)
    out = tmp_path / "race.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "race", "--trials", "500", "--endpoint-url",
         emulator.url, "--regions", TWO, "--json", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_as_from_a_terminal)
    wait_until(lambda: _experiment_writes(emulator) >= 3, timeout=60, interval=0.02,
               message="trials under way")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    # Named as what it was, never as a Ctrl-C nobody pressed.
    assert signal.Signals(signum).name in stderr
    assert "stopped by Ctrl-C or a stop signal" in " ".join(stdout.split()), stdout
    document = json.loads(out.read_text())
    assert document["interrupted"] is True and len(document["trials"]) >= 1
    _check(out)
    # The run's marker says it ended: no later run counts it as sharing the table.
    markers = _client(emulator.url, "us-west-2").query(
        TableName=TABLE, KeyConditionExpression="PK = :pk", ConsistentRead=True,
        ExpressionAttributeValues={":pk": {"S": "gtbench-runs"}})["Items"]
    assert markers and all("EndedAt" in m for m in markers), markers


def test_sigterm_during_setup_is_one_line_and_exit_143(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    """Outside a run (set-up seeding 20,000 items), SIGTERM stops as Ctrl-C does."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "setup", "--bookmarks", "20000", "--endpoint-url",
         emulator.url, "--regions", TWO],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_as_from_a_terminal)
    assert process.stderr is not None
    for line in process.stderr:  # set-up under way: its first step said
        if "creating table" in line:
            break
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "SIGTERM" in stderr


# -- a wedged endpoint ---------------------------------------------------------------------

@pytest.fixture
def mute_port() -> Iterator[int]:
    """A loopback listener that accepts connections and never answers."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_an_endpoint_that_never_answers_is_one_line_within_the_runs_timeout(
        mute_port: int) -> None:
    """No call waits past the run's timeout (2 s here): once nothing has answered for
    that long, the command ends in one line instead of retrying for minutes."""
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["race", "--timeout", "2", "--endpoint-url",
                                      f"http://127.0.0.1:{mute_port}", "--regions", TWO])
    assert result.exit_code == 1, result.stderr
    assert "answered nothing" in result.stderr and "Traceback" not in result.stderr
    # Its own bound: one read timeout of 2 s and the connect; minutes before.
    assert time.monotonic() - started < 60


def test_an_emulator_stopped_mid_run_ends_the_run_with_its_trials_saved(
        tmp_path: Path) -> None:
    """SIGSTOP on the emulator's process while a race runs: the run stops (exit 1) with
    the trials it completed saved and checkable."""
    emulator = subprocess.Popen([sys.executable, "-m", "gtbench.emulator"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        _setup(url)
        out = tmp_path / "race.json"
        race = subprocess.Popen(
            [sys.executable, "-m", "gtbench", "race", "--trials", "500", "--timeout", "2",
             "--endpoint-url", url, "--regions", TWO, "--json", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert race.stdout is not None
        measured = 0
        while measured < 3:  # three trials measured, then the endpoint wedges (a trial's
            line = race.stdout.readline()  # line may wrap: count the lines that start one)
            assert line, "the race ended before three trials"
            measured += line.startswith("trial")
        emulator.send_signal(signal.SIGSTOP)
        _, stderr = race.communicate(timeout=120)
        assert race.returncode == 3, stderr
        assert "answered nothing" in stderr and "Traceback" not in stderr
        document = json.loads(out.read_text())
        assert document["stopped"] and len(document["trials"]) >= 3
        _check(out)
    finally:
        emulator.send_signal(signal.SIGCONT)
        emulator.kill()
        emulator.wait()


def test_an_interrupted_demo_removes_its_table_and_its_emulator_and_names_no_deleted_file(
        state: dict[str, str]) -> None:
    """Ctrl-C in the demo's race: its table goes, the emulator it started on demand
    stops (nothing is left in it), and no message points into the scratch folder that
    was deleted."""
    process = subprocess.Popen([sys.executable, "-m", "gtbench", "demo"], env={
        **state, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, preexec_fn=_as_from_a_terminal)
    assert process.stderr is not None
    said = []
    for line in process.stderr:  # the race's first line: the demo is under way
        said.append(line)
        if line.startswith("racing"):
            break
    process.send_signal(signal.SIGINT)
    said.append(process.communicate(timeout=120)[1])
    stderr = "".join(said)
    assert process.returncode == 130, stderr
    assert "gtbench-demo-" not in stderr and "Traceback" not in stderr
    assert "removing gtbench-demo" in stderr and "were not kept" in stderr
    status = subprocess.run([sys.executable, "-m", "gtbench", "local", "status", "--json"],
                            env=state, capture_output=True, text=True, timeout=60)
    assert json.loads(status.stdout)["running"] is False, stderr


# -- the replicas agree the moment a run exits ------------------------------------------------

AGREE = {
    "race": (TWO, ["race", "--trials", "3"]),
    "conflict": (TWO, ["conflict", "--trials", "2", "--no-timelines"]),
    "conflict increment": (TWO, ["conflict", "--mode", "increment", "--increments", "3",
                                 "--pace-ms", "20", "--trials", "1", "--no-timelines"]),
    "outage": (TWO, ["outage", "--duration", "1", "--lead", "0.5"]),
    "matrix": ("us-west-2,eu-west-1,us-east-1", ["matrix", "--trials", "2", "--table",
                                                 TABLE]),
}


@pytest.mark.parametrize("case", list(AGREE))
def test_the_replicas_agree_the_moment_a_run_exits(emulator: EmulatorServer,
                                                   case: str) -> None:
    """Its marker, heartbeats and items have reached every region: `gtbench status`
    right after finds no difference (it once found the outage's last heartbeats)."""
    regions, args = AGREE[case]
    setup = CliRunner().invoke(cli, ["setup", "--endpoint-url", emulator.url, "--regions",
                                     regions])
    assert setup.exit_code == 0, setup.stderr
    result = CliRunner().invoke(cli, [*args, "--endpoint-url", emulator.url, "--regions",
                                      regions])
    assert result.exit_code == 0, result.stderr
    # Nothing waited for: the replicas as the run left them.
    agreement = control(emulator.url, f"agreement?table={TABLE}")
    assert agreement["agree"], agreement["differences"]


def test_a_second_ctrl_c_after_the_save_does_not_change_the_exit(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    """A second Ctrl-C once the document is on disk, while the process exits: exit 130
    still (it was a death by SIGINT, once a traceback from queue.get)."""
    _setup(emulator.url)
    out = tmp_path / "race.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "race", "--trials", "500", "--endpoint-url",
         emulator.url, "--regions", TWO, "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: _experiment_writes(emulator) >= 3, timeout=60, interval=0.02,
               message="trials under way")
    process.send_signal(signal.SIGINT)
    try:
        wait_until(out.exists, timeout=60, interval=0.001, message="the document saved")
    except AssertionError:  # what the run said, for a failure seen once
        process.kill()
        raise AssertionError(f"no document 60 s after Ctrl-C; the run said:\n"
                             f"{process.communicate(timeout=60)[1]}") from None
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr


def test_a_stop_whose_raise_was_lost_still_ends_the_run_at_the_next_trial() -> None:
    """Python drops an exception raised while the main thread runs a finalizer, so a
    Ctrl-C landing there would be lost and the run go on to its last trial. The handler
    also marks the stop; the loop of trials ends at the next trial, keeping both."""
    from concurrent.futures import ThreadPoolExecutor

    from gtbench import signals
    from gtbench.experiments.trials import RunEnd, run_trials

    ran: list[int] = []

    def job(n: int) -> Any:
        def trial(stop: threading.Event) -> int:
            ran.append(n)
            if n == 1:
                signals.requested.set()  # the handler ran; its raise went nowhere
            return n
        return trial

    end, kept = RunEnd(), list[int]()
    try:
        run_trials((job(n) for n in range(5)), end, kept, status=lambda t: "ok",
                   ops=lambda t: [], pool=ThreadPoolExecutor(1))
    finally:
        signals.requested.clear()
    assert ran == kept == [0, 1] and end.interrupted and end.ended_at > 0


def test_running_the_cli_in_process_leaves_the_callers_signal_handlers_alone() -> None:
    """A test (or a program) that runs gtbench's CLI in its own process keeps its own
    handlers: once, every later child process inherited SIGINT ignored."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM,
                                                signal.SIGHUP)}
    result = CliRunner().invoke(cli, ["race", "--trials", "0"])
    assert result.exit_code == 2
    assert {s: signal.getsignal(s) for s in before} == before


def test_an_outage_stopped_before_its_cut_says_no_cut_and_checks_clean(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    """SIGTERM in the outage's lead: no cut held (its length is null, not the time
    since the clock's origin), and `report --check` judges it the same later."""
    _setup(emulator.url)
    out = tmp_path / "outage.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "outage", "--lead", "30", "--duration", "5",
         "--endpoint-url", emulator.url, "--regions", TWO, "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_from_a_terminal)
    wait_until(lambda: sum(1 for r in emulator.backend.replicator.records()
                           if r["key"]["PK"]["S"] == "gtbench-outage") >= 6,
               timeout=60, interval=0.02, message="the workload under way")
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 143, stderr
    document = json.loads(out.read_text())
    assert document["summary"]["cut_s"] is None
    _check(out)


def test_teardown_runs_only_removes_the_runs_items_and_keeps_the_table(
        emulator: EmulatorServer) -> None:
    """What experiments leave in the table (docs/experiments.md) can go without the
    table: the workshop's items stay, every region ends without the runs' items."""
    _setup(emulator.url)
    for args in (["race", "--trials", "2"], ["conflict", "--trials", "1", "--no-timelines"]):
        ran = CliRunner().invoke(cli, [*args, "--endpoint-url", emulator.url, "--regions",
                                       TWO])
        assert ran.exit_code == 0, ran.stderr
    result = CliRunner().invoke(cli, ["teardown", "--runs-only", "--yes", "--endpoint-url",
                                      emulator.url, "--regions", TWO])
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())  # wrapped at the terminal's width
    assert "under PK=gtbench-race" in said and "gtbench-runs" in said
    control(emulator.url, "settle", "POST", {"timeout_s": 10})
    for region in TWO.split(","):
        items = _client(emulator.url, region).scan(TableName=TABLE, ConsistentRead=True)[
            "Items"]
        partitions = {i["PK"]["S"] for i in items}
        assert not {p for p in partitions if p.startswith("gtbench-")}, (region, partitions)
        assert {"user100", "library"} <= partitions  # the workshop's data stays
