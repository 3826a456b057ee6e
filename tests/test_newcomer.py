"""The first ten minutes: the README's commands as printed, the emulator's lifecycle,
and the words and figures a newcomer reads."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gtbench.cli import cli
from gtbench.cli.demo import window_offsets
from gtbench.emulator.server import EmulatorServer
from gtbench.local.lifecycle import free_port
from tests.helpers import PAGES, README, ROOT, control, gtbench, make_table, run_cli, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"


def test_local_env_points_boto3_at_the_emulator(emulator: EmulatorServer,
                                                ddb: Callable[[str], Any],
                                                state: dict[str, str]) -> None:
    make_table(ddb(B), "seen-through-env")
    env = {**state, "AWS_PROFILE": "no-such-profile", "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
           "AWS_SECRET_ACCESS_KEY": "real-secret"}
    script = (f'eval "$({shlex.quote(sys.executable)} -m gtbench local env --region {B} '
              f'--endpoint-url {emulator.url})" && '
              f"{shlex.quote(sys.executable)} -c "
              "\"import boto3; print(boto3.client('dynamodb').list_tables()['TableNames'])\"")
    done = subprocess.run(["sh", "-c", script], env=env, text=True, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['seen-through-env']"
    printed = gtbench("local", "env", "--endpoint-url", emulator.url, env=state).stdout
    assert "real-secret" not in printed and "AKIAREALKEY" not in printed
    assert "unset AWS_PROFILE AWS_SESSION_TOKEN" in printed
    undo = gtbench("local", "env", "--unset", env=state)
    assert undo.stdout.startswith("unset AWS_ENDPOINT_URL_DYNAMODB")
    nothing = gtbench("local", "env", env=state)
    assert nothing.returncode == 1 and "no emulator is running" in nothing.stderr


# -- the emulator's lifecycle -------------------------------------------------------------


def test_a_served_emulator_is_found_and_no_second_one_starts(state: dict[str, str],
                                                             tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    log = tmp_path / "serve.log"
    with log.open("w") as sink:  # a file, not a pipe: --verbose writes a line a request
        served = subprocess.Popen([sys.executable, "-m", "gtbench", "local", "serve", "--port",
                                   str(port), "--replica-delay-s", "0", "--verbose"],
                                  env=state, stderr=sink, text=True)
    try:
        record = Path(state["GTBENCH_STATE_DIR"]) / "emulator.json"
        wait_until(record.exists, timeout=30, message="the served emulator's record")
        status = json.loads(gtbench("local", "status", "--json", env=state).stdout)
        assert status["running"] and status["started_by"] == "serve"
        assert status["url"] == f"http://127.0.0.1:{port}"
        used = gtbench("setup", env=state)
        assert used.returncode == 0, used.stderr
        assert f"local emulator at http://127.0.0.1:{port}" in used.stderr
        assert "started the local emulator" not in used.stderr
        served.send_signal(signal.SIGTERM)
        served.wait(30)
        assert not record.exists()  # gone with it
        # --verbose: a line a request, with its DynamoDB operation and status.
        said = log.read_text()
        assert re.search(r"POST / CreateTable 200 OK", said), said[-500:]
        assert re.search(r"GET /_gtbench/status - 200 OK", said), said[-500:]
    finally:
        served.kill()
        served.wait()
    none = gtbench("local", "status", env=state)
    assert none.returncode == 0 and "no emulator is running" in none.stdout


def test_an_emulator_answering_on_the_default_port_is_used_and_named(
        emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gtbench.local import lifecycle

    monkeypatch.setenv("GTBENCH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv(lifecycle.PORT_ENV, str(emulator.port))
    said: list[str] = []
    running = lifecycle.find_or_start(said.append)
    assert running.url == emulator.url and running.started_by == "found"
    assert said == [f"using the gtbench emulator already answering at {emulator.url} "
                    f"(pid {os.getpid()})"]


def test_teardown_says_when_it_leaves_the_emulator_running(state: dict[str, str]) -> None:
    first = gtbench("setup", env=state)
    assert first.returncode == 0 and "started the local emulator" in first.stderr
    url = json.loads(gtbench("local", "status", "--json", env=state).stdout)["url"]
    control(url, "config", "POST", {"replica_create_delay_s": 0, "replica_delete_delay_s": 0})
    assert gtbench("setup", "--table", "second", env=state).returncode == 0
    kept = gtbench("teardown", "--yes", env=state)
    assert kept.returncode == 0, kept.stderr
    assert "keeps running: it still holds second" in kept.stderr
    assert "gtbench local stop" in kept.stderr
    gone = gtbench("teardown", "--yes", "--table", "second", env=state)
    assert "stopped the on-demand emulator" in gone.stderr


def test_teardown_names_replicas_in_the_order_it_removes_them(emulator: EmulatorServer
                                                              ) -> None:
    regions = f"{A},{B},{C}"
    assert run_cli(emulator.url, "setup", regions=regions).exit_code == 0
    result = run_cli(emulator.url, "teardown", "--yes", regions=regions)
    assert result.exit_code == 0, result.stderr
    removed = re.findall(r"removing replica (\S+)", result.stderr + result.stdout)
    assert removed == [C, B]
    # Results wrap at the terminal's width (xdist's workers say COLUMNS=80).
    assert f"replicas {C}, {B}, then the table in {A}" in " ".join(result.stdout.split())


def test_serving_beyond_loopback_says_so(state: dict[str, str]) -> None:
    served = subprocess.Popen([sys.executable, "-m", "gtbench", "local", "serve", "--host",
                               "0.0.0.0", "--port", str(free_port("0.0.0.0"))], env=state,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert served.stderr is not None
        lines = [served.stderr.readline(), served.stderr.readline()]
        assert "listening on http://0.0.0.0" in lines[0]
        assert lines[1].startswith("warning: listening on 0.0.0.0, beyond this machine")
    finally:
        served.terminate()
        served.wait(30)


@pytest.mark.parametrize(("body", "message"), [
    ({"lagms": 5}, "unknown setting 'lagms'"),
    ({"lag_ms": -1}, "lag_ms must be a number at least 0 and at most 3600000"),
    ({"jitter_ms": "ten"}, "jitter_ms must be a number"),
])
def test_config_refuses_what_it_does_not_know(emulator: EmulatorServer, body: Any,
                                              message: str) -> None:
    import urllib.error

    before = control(emulator.url, "status")["lag"]
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        control(emulator.url, "config", "POST", body)
    assert excinfo.value.code == 400
    assert message in json.loads(excinfo.value.read())["error"]
    assert control(emulator.url, "status")["lag"] == before  # nothing changed


def test_no_network_to_aws_is_said_in_aws_terms() -> None:
    from botocore.exceptions import EndpointConnectionError

    from gtbench.awserrors import describe_aws_error

    aws = describe_aws_error(EndpointConnectionError(
        endpoint_url="https://sts.us-west-2.amazonaws.com/"))
    assert aws is not None and aws.startswith("cannot reach AWS at https://sts.")
    assert "emulator" not in aws
    local = describe_aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert local is not None and "is the emulator running?" in local


# -- what the results say ----------------------------------------------------------------


def test_the_demos_conflict_window_opens_and_closes_at_the_measured_lag() -> None:
    # Half the median lag is inside the window; half a median past the slowest, outside.
    assert window_offsets(1.02, 1.41) == (0.0, 510.0, 1000.0, 1900.0)
    assert window_offsets(0.041, 0.055) == (0.0, 20.0, 41.0, 76.0)
    assert window_offsets(5.2, 6.0)[-1] > 6000 > window_offsets(5.2, 6.0)[1]
    assert window_offsets(None, None) == (0.0, 500.0, 1000.0, 2000.0)  # nothing measured


def test_the_demo_names_no_file_it_will_delete(emulator: EmulatorServer,
                                               tmp_path: Path) -> None:
    from gtbench.cli.options import SCRATCH_KEY
    from gtbench.cli.race import race_command

    assert run_cli(emulator.url, "setup").exit_code == 0

    @click.command()
    @click.pass_context
    def scratch_run(ctx: click.Context) -> None:
        ctx.meta[SCRATCH_KEY] = True
        ctx.invoke(race_command, target="local", endpoint_url=emulator.url,
                   regions=(A, B), table="global-serverless", profile=None, trials=1,
                   json_path=str(tmp_path / "race.json"), yes=True)

    result = CliRunner().invoke(scratch_run, [])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "race.json").exists()
    assert "wrote" not in result.stderr
    named = run_cli(emulator.url, "race", "--trials", "1", "--json",
                    str(tmp_path / "kept.json"))
    assert f"wrote {tmp_path / 'kept.json'}" in named.stderr


def test_the_increment_summary_says_what_it_sums(emulator: EmulatorServer) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    result = run_cli(emulator.url, "conflict", "--mode", "increment", "--trials", "2",
                     "--increments", "2", "--pace-ms", "10", "--no-timelines")
    assert result.exit_code == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "summed over the 2 trials' separate items, the regions agree on" in flat


# -- figures -------------------------------------------------------------------------------


def _example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    return document


@pytest.fixture
def plot() -> Any:
    pytest.importorskip("matplotlib")
    from gtbench.report import plot

    return plot


def _texts(figure: Any) -> str:
    return " ".join(str(t.get_text()) for ax in figure.axes for t in ax.texts) + " " + " ".join(
        str(t.get_text()) for t in figure.texts) + " " + str(figure._suptitle.get_text())


def test_race_figure_ticks_trials_by_whole_numbers(plot: Any) -> None:
    figure = plot.race_figure(_example("race"))
    bars = figure.axes[2]
    figure.canvas.draw()
    assert all(float(x).is_integer() for x in bars.get_xticks())


def test_a_figure_of_trials_that_all_timed_out_says_so(plot: Any) -> None:
    document = _example("race")
    for t in document["trials"]:
        t.update(status="timed_out", lag_s=None, lag_low_s=None, lag_high_s=None,
                 true_lag_s=None, error_s=None)
    figure = plot.race_figure(document)
    assert "no trial replicated" in _texts(figure)
    assert "10 timed out" in _texts(figure)


def test_conflict_timelines_share_one_time_axis_and_say_what_is_not_shown(plot: Any) -> None:
    document = _example("conflict")
    document["trials"] = document["trials"] * 2  # six trials; four are drawn
    figure = plot.conflict_figure(document)
    first, *others = figure.axes
    assert all(first.get_shared_x_axes().joined(first, ax) for ax in others)
    assert "first 4 of 6 trials shown" in figure._suptitle.get_text()


def test_the_increment_figure_marks_the_lost_updates(plot: Any) -> None:
    document = _example("conflict-increment")
    increment = document["trials"][0]["increment"]
    figure = plot.conflict_figure(document)
    assert f"{increment['lost_updates']} of {increment['updates']} updates lost" \
        in _texts(figure)
    levels = {round(line.get_ydata()[0]) for line in figure.axes[0].lines
              if len(set(line.get_ydata())) == 1 and len(line.get_ydata()) == 2}
    assert {increment["expected"], increment["final"]} <= levels


def test_the_sweep_marks_measured_offsets_only(plot: Any) -> None:
    document = _example("conflict-sweep")
    figure = plot.conflict_figure(document)
    share = figure.axes[0].lines[0]
    assert share.get_linestyle() in ("None", "none", "")
    assert list(share.get_xdata()) == document["settings"]["offsets_ms"]
    assert list(figure.axes[0].get_xticks()) == document["settings"]["offsets_ms"]


def test_the_sweep_uses_the_earlier_writes_lag_in_its_own_direction(
        emulator: EmulatorServer) -> None:
    from gtbench.emulator.replication import LagModel

    assert run_cli(emulator.url, "setup").exit_code == 0
    # A -> B is slow, B -> A fast: A's write, sent first, takes 800 ms to reach B, far
    # more than B's 150 ms later start plus any delay a loaded machine adds to it. No
    # jitter: each direction's lag is then known exactly, whatever the machine's load.
    emulator.backend.set(lag=LagModel(40, 5, {(A, B): (800.0, 0.0), (B, A): (40.0, 0.0)}))
    result = run_cli(emulator.url, "conflict", "--offsets", "150", "--trials", "2",
                     "--json", "-", "--no-timelines")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    row = document["summary"]["offsets"][0]
    assert row["earlier_discarded_unseen"] == 2  # 150 ms < A's 800 ms lag: lost unseen
    trials = document["trials"]
    assert all(t["earlier_write"] == f"{A}#0" for t in trials)
    # The yardstick that explains it is the earlier write's own lag: the one the emulator
    # gave its delivery A -> B (800 ms), not B -> A's (40 ms). Judged by the lag the
    # emulator drew, not by when deliveries were applied: a stalled process applies a
    # 40 ms delivery late (seen once beside a CPU hog: 1.56 s), never with another lag.
    from gtbench.analysis import median

    assert row["median_earlier_lag_s"] == median([t["earlier_true_lag_s"] for t in trials])
    for t in trials:
        assert t["earlier_true_lag_s"] == pytest.approx(0.8, abs=1e-3)
        assert t["winner_lag_low_s"] <= t["winner_true_lag_s"] <= t["winner_lag_high_s"]


def test_every_example_checks_clean() -> None:
    for path in sorted((ROOT / "examples").glob("*.json")):
        done = CliRunner().invoke(cli, ["report", str(path), "--check"])
        assert done.exit_code == 0, (path.name, done.stderr[-500:])
    assert len(list((ROOT / "examples").glob("*.json"))) == 6


def test_the_readme_fits_the_first_ten_minutes_and_its_links_resolve() -> None:
    """The front door is short; the rest lives in docs/, every page of which is run as
    printed above, and every link from the README reaches a file."""
    assert len(README.splitlines()) <= 250
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", README)
    assert links and all((ROOT / link).exists() for link in links), links
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"ARCHITECTURE.md"}
    assert pages == {p.name for p in PAGES}


def test_an_experiment_on_a_missing_table_says_so_before_anything_else(
        emulator: EmulatorServer) -> None:
    """Not "staging 5 trials", then a warning that the run's marker never arrived, then
    the error: the error alone, after the line saying where it runs."""
    for command in (["race"], ["conflict"], ["conflict", "--mode", "increment"], ["outage"]):
        result = run_cli(emulator.url, *command)
        assert result.exit_code == 1, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("gtbench → local emulator"), lines
        assert lines[1] == ("gtbench: error: table global-serverless does not exist in "
                            "us-west-2 (create it with `gtbench setup`)")
