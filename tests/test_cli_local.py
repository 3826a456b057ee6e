"""``gtbench local``: start, find and stop the background emulator; bad input fails cleanly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gtbench.local.lifecycle import free_port


def gtbench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gtbench", *args], env=env, text=True,
                          capture_output=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    environment = {**os.environ, "GTBENCH_STATE_DIR": str(tmp_path)}
    yield environment
    gtbench("local", "stop", env=environment)  # never leave an emulator behind


def test_start_status_stop(env: dict[str, str]) -> None:
    port = free_port("127.0.0.1")
    started = gtbench("local", "start", "--port", str(port), "--lag-ms", "123",
                      "--wcu", "20", "--pair-lag",
                      "us-west-2:eu-west-1=700/50", "--metric-period-s", "60",
                      "--replica-delay-s", "1.5", "--probe-skew-ms", "eu-west-1=-3",
                      "--pair-rtt", "us-east-1:us-east-2=15", "--rtt", "eu-west-1=90",
                      env=env)
    assert started.returncode == 0, started.stderr
    assert f"http://127.0.0.1:{port}" in started.stdout

    again = gtbench("local", "start", env=env)
    assert again.returncode == 0 and "already running" in again.stdout
    # Options the running emulator would not take are refused, never silently dropped.
    other = gtbench("local", "start", "--lag-ms", "500", "--no-network-lag", env=env)
    assert other.returncode == 1 and other.stdout == ""
    assert other.stderr.count("\n") == 1 and "Traceback" not in other.stderr
    assert "already running" in other.stderr
    assert "--lag-ms, --network-lag/--no-network-lag took no effect" in other.stderr

    status = json.loads(gtbench("local", "status", "--json", env=env).stdout)
    assert status["running"] is True
    # Every option reached the child (which takes the config as one JSON argument).
    served = status["emulator"]
    assert served["lag"]["lag_ms"] == 123 and served["lag_ms"] == 123
    assert served["capacity"]["table_wcu"] == 20
    assert served["lag"]["pairs"]["us-west-2>eu-west-1"] == {"lag_ms": 700, "jitter_ms": 50}
    assert served["metric_period_s"] == 60 and served["replica_create_delay_s"] == 1.5
    assert served["probes"]["skew_ms"] == {"eu-west-1": -3}
    assert served["mrsc"]["pair_rtt_ms"] == {"us-east-1:us-east-2": 15}
    assert served["distance"]["overrides_ms"] == {"eu-west-1": 90}
    # The faults in force, each with when it ends.
    assert gtbench("local", "fault", "pause", "us-west-2:eu-west-1", "--for", "60",
                   env=env).returncode == 0
    shown = " ".join(gtbench("local", "status", env=env).stdout.split())  # wrapped at 80
    assert "faults in force: 1" in shown and "replication paused from us-west-2 to " \
        "eu-west-1, ends in" in shown
    assert "provisioned: 20 WCU in every replica (writes beyond it refused, " \
        "replicated writes queue)" in shown

    stopped = gtbench("local", "stop", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert "its tables and items went with it" in " ".join(stopped.stdout.split())
    after = gtbench("local", "status", env=env)
    # Nothing running is an answer, as from `local stop`: exit 0, one line on stdout.
    assert after.returncode == 0 and after.stderr == ""
    assert after.stdout.strip() == "no emulator is running (start one with `gtbench local start`)"


def test_a_started_emulator_is_recorded_once_by_the_command_that_started_it(
        env: dict[str, str], tmp_path: Path) -> None:
    """`local start` and the `local serve` it launched both wrote the record, through one
    temporary file: the served process once died of the collision at start. Now the
    launched process leaves the record to its launcher, which names who started it."""
    started = gtbench("local", "start", "--port", str(free_port("127.0.0.1")), env=env)
    assert started.returncode == 0, started.stderr
    record = json.loads((tmp_path / "emulator.json").read_text())
    assert record["started_by"] == "user" and record["log"]
    log = Path(record["log"]).read_text()
    assert "Traceback" not in log
    assert not list(tmp_path.glob("*.tmp"))


def test_the_usual_port_moves_with_an_environment_variable(env: dict[str, str]) -> None:
    port = free_port("127.0.0.1")
    moved = {**env, "GTBENCH_LOCAL_PORT": str(port)}
    started = gtbench("local", "start", env=moved)
    assert started.returncode == 0 and f"http://127.0.0.1:{port}" in started.stdout
    # Found there without a record of it, as on 8000.
    elsewhere = {**moved, "GTBENCH_STATE_DIR": env["GTBENCH_STATE_DIR"] + "-elsewhere"}
    found = json.loads(gtbench("local", "status", "--json", env=elsewhere).stdout)
    assert found["url"] == f"http://127.0.0.1:{port}"
    assert gtbench("local", "stop", env=moved).returncode == 0
    for command in (("local", "status"), ("local", "serve")):
        bad = gtbench(*command, env={**env, "GTBENCH_LOCAL_PORT": "eighty"})
        assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "GTBENCH_LOCAL_PORT" in bad.stderr and "Traceback" not in bad.stderr


def test_busy_port_is_one_clear_line(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for command in (("local", "serve"), ("local", "start")):
            done = gtbench(*command, "--port", str(port), env=env)
            assert done.returncode != 0
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert "in use" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [
    ("local", "serve", "--lag-ms", "-5"),
    ("local", "serve", "--pair-lag", "nonsense"),
    ("local", "serve", "--no-such-flag"),
])
def test_bad_flags_are_one_line_and_non_zero(args: tuple[str, ...], env: dict[str, str]) -> None:
    done = gtbench(*args, env=env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("gtbench: error:")


def test_a_port_left_in_time_wait_is_free_again() -> None:
    from gtbench.local.lifecycle import port_free

    # A server that closed its side first leaves the port in TIME_WAIT for a minute; the
    # emulator (SO_REUSEADDR) can listen there again, so it must not be called taken.
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first
        client.close()
        assert not port_free("127.0.0.1", port)  # still listening: taken
    assert port_free("127.0.0.1", port)


def test_every_command_finds_the_same_unrecorded_emulator(
        env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An emulator answers on the default port with no record of it here (started from
    another state folder): every command finds and uses it alike, but `local stop`
    here leaves it running (docs/emulator.md: only what the record names is
    signalled), saying where it came from; the folder that started it stops it."""
    from click.testing import CliRunner

    from gtbench.cli import cli
    from gtbench.local import lifecycle

    port = free_port("127.0.0.1")
    elsewhere = {**env, "GTBENCH_STATE_DIR": str(tmp_path / "elsewhere")}
    started = gtbench("local", "start", "--port", str(port), env=elsewhere)
    assert started.returncode == 0, started.stderr
    try:
        monkeypatch.setenv(lifecycle.PORT_ENV, str(port))  # "the default port"
        monkeypatch.setenv("GTBENCH_STATE_DIR", str(tmp_path / "here"))  # no record here
        runner = CliRunner()
        status = runner.invoke(cli, ["local", "status", "--json"])
        assert json.loads(status.stdout)["url"] == f"http://127.0.0.1:{port}"
        shown = runner.invoke(cli, ["local", "env"])
        assert shown.exit_code == 0 and f"http://127.0.0.1:{port}" in shown.stdout
        refused = runner.invoke(cli, ["local", "stop"])
        assert refused.exit_code == 1 and "started elsewhere" in refused.stderr
        assert lifecycle.probe(f"http://127.0.0.1:{port}") is not None  # left running
    finally:
        stopped = gtbench("local", "stop", env=elsewhere)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert "its tables and items went with it" in " ".join(stopped.stdout.split())
    assert lifecycle.probe(f"http://127.0.0.1:{port}") is None


def test_three_starts_at_once_start_exactly_one_emulator(env: dict[str, str]) -> None:
    """Three `local start --port P` at once: one says "started", the others name it;
    the record names the live one, and `local stop` leaves nothing listening."""
    from gtbench.local import lifecycle

    port = free_port("127.0.0.1")
    starts = [subprocess.Popen([sys.executable, "-m", "gtbench", "local", "start", "--port",
                                str(port)], env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [(p.wait(timeout=60), *p.communicate()) for p in starts]
    assert [code for code, _, _ in outputs] == [0, 0, 0], outputs
    assert sum("started the emulator" in out for _, out, _ in outputs) == 1, outputs
    assert sum("already running" in out for _, out, _ in outputs) == 2, outputs
    status = json.loads(gtbench("local", "status", "--json", env=env).stdout)
    assert status["running"] and status["emulator"]["pid"] == status["pid"]
    assert gtbench("local", "stop", env=env).returncode == 0
    assert lifecycle.port_free("127.0.0.1", port)  # no orphan listens


@pytest.mark.parametrize("record", ["directory", '{"pid": 99999999999999999999, "host": '
                                    '"127.0.0.1", "port": 8000, "started_by": "user", '
                                    '"started_at": 0, "log": ""}'])
def test_a_record_that_is_not_one_is_one_line(env: dict[str, str], tmp_path: Path,
                                               record: str) -> None:
    state = tmp_path / "emulator.json"
    if record == "directory":
        state.mkdir()
    else:
        state.write_text(record)
    for args in (("local", "status"), ("local", "stop"), ("local", "start", "--port",
                                                           str(free_port("127.0.0.1")))):
        result = gtbench(*args, env=env)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        assert result.returncode in (0, 1), (args, result.stderr)
    if record == "directory":  # starting said why, and left nothing running
        started = gtbench("local", "start", env=env)
        assert started.returncode == 1 and "is not a file" in started.stderr


def test_an_empty_state_dir_variable_is_refused(env: dict[str, str]) -> None:
    result = gtbench("local", "status", env={**env, "GTBENCH_STATE_DIR": ""})
    assert result.returncode == 1 and "GTBENCH_STATE_DIR is set but empty" in result.stderr
