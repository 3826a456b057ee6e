"""The emulator dies mid-run, once during each experiment: every one stops within
seconds, saves the history it measured, and says why in one line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gtbench.cli import cli
from gtbench.emulator.server import EmulatorServer
from tests.helpers import wait_until

TWO = "us-west-2,eu-west-1"
THREE = "us-west-2,us-east-1,us-east-2"


def _kill_when(server: EmulatorServer, ready: Callable[[], bool]) -> dict[str, float]:
    """Stop ``server`` (its socket closes: every call is refused) once ``ready``."""
    killed: dict[str, float] = {}

    def kill() -> None:
        wait_until(ready, timeout=120, interval=0.02, message="the run under way")
        server.stop()
        killed["at"] = time.monotonic()

    threading.Thread(target=kill, daemon=True).start()
    return killed


def _replications(server: EmulatorServer, table_part: str = "") -> int:
    """Replicated writes of the experiment's own items (not the seed data), on tables
    whose name holds ``table_part``."""
    return sum(1 for r in server.backend.replicator.records() if table_part in r["table"]
               and str(r["key"].get("PK", {}).get("S", "")).startswith(
                   ("gtbench-race", "gtbench-conflict", "gtbench-outage")))


def _setup(server: EmulatorServer, regions: str) -> None:
    result = CliRunner().invoke(cli, ["setup", "--endpoint-url", server.url,
                                      "--regions", regions])
    assert result.exit_code == 0, result.stderr


CASES: dict[str, tuple[str, list[str], str, Callable[[dict[str, Any]], int]]] = {
    # experiment: (regions, arguments, table part of the killing count, measured)
    "race": (TWO, ["race", "--trials", "200"], "global-serverless",
             lambda d: len(d["trials"])),
    "race --probes": (TWO, ["race", "--probes", "--trials", "200"], "global-serverless",
                      lambda d: len(d["trials"])),
    "conflict": (TWO, ["conflict", "--trials", "200", "--no-timelines"], "global-serverless",
                 lambda d: len(d["trials"])),
    "conflict --mode increment": (
        TWO, ["conflict", "--mode", "increment", "--increments", "3", "--pace-ms", "20",
              "--trials", "200", "--no-timelines"], "global-serverless",
        lambda d: len(d["trials"])),
    "outage": (TWO, ["outage", "--duration", "30", "--lead", "1"], "global-serverless",
               lambda d: len(d["history"]["writes"])),
    "compare": (THREE, ["compare", "--trials", "50"], "-mrec",
                lambda d: len(d["modes"][0]["race"]["trials"])),
}


@pytest.mark.parametrize("experiment", list(CASES))
def test_a_killed_emulator_ends_the_run_and_the_history_is_saved(
        doomed: EmulatorServer, tmp_path: Path, experiment: str) -> None:
    regions, args, table_part, measured = CASES[experiment]
    if args[0] != "compare":
        _setup(doomed, regions)
    baseline = _replications(doomed, table_part)
    killed = _kill_when(doomed, lambda: _replications(doomed, table_part) >= baseline + 8)
    out = tmp_path / f"{args[0]}.json"
    result = CliRunner().invoke(cli, [*args, "--endpoint-url", doomed.url, "--regions",
                                      regions, "--json", str(out)])
    ended = time.monotonic()
    assert "at" in killed, result.stderr  # the kill came while it ran
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    # It stopped within a short time of the endpoint going away, not at a timeout.
    assert ended - killed["at"] < 60, ended - killed["at"]
    assert out.exists(), (result.stderr, repr(result.exception))
    document = json.loads(out.read_text())
    assert document["experiment"] == args[0] and document["stopped"], document["stopped"]
    assert measured(document) > 0
    # What was saved is a history that checks clean.
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.stderr


# -- Ctrl-C, once and twice ------------------------------------------------------------------

def _interrupted_conflict(emulator: EmulatorServer, out: Path, signals: int
                          ) -> tuple[int, float, str]:
    """A conflict run whose second writer waits 30 s, Ctrl-C'd (``signals`` times) once
    its first write has landed: its exit status, how long it took to exit, stderr."""
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gtbench", "conflict", "--endpoint-url", emulator.url,
         "--regions",
         TWO, "--offset-ms", "30000", "--trials", "3", "--json", str(out)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert process.stderr is not None
    # The first writer's write is in the emulator's log: the second waits for its moment.
    wait_until(lambda: _replications(emulator) > 0, timeout=60, message="the first write")
    sent = time.monotonic()
    for _ in range(signals):  # whatever the run is doing then: measuring or waiting
        process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]
    return process.returncode, time.monotonic() - sent, stderr


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_during_a_long_offset_acts_at_once_and_saves(
        emulator: EmulatorServer, tmp_path: Path, signals: int) -> None:
    _setup(emulator, TWO)
    out = tmp_path / "conflict.json"
    code, took, stderr = _interrupted_conflict(emulator, out, signals)
    assert code == 130, stderr
    assert took < 30, took  # not the 30 s offset it would have slept through
    assert "Traceback" not in stderr
    document = json.loads(out.read_text())
    assert document["interrupted"] is True
