"""The front door: --version, --help that teaches, and the command set."""

from __future__ import annotations

import subprocess
import sys

from gtbench import __version__


def gtbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gtbench", *args], capture_output=True,
                          text=True, timeout=60)


def test_version() -> None:
    done = gtbench("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"gtbench, version {__version__}"


def test_help_lists_every_command_and_a_first_session() -> None:
    done = gtbench("--help")
    assert done.returncode == 0
    for command in ("local", "setup", "status", "teardown", "race"):
        assert f"\n  {command} " in done.stdout, command
    assert "A first session" in done.stdout


def test_race_help_explains_the_bound() -> None:
    done = gtbench("race", "--help")
    assert done.returncode == 0
    assert "[ss - wa, fr - ws]" in done.stdout
    assert "GTBENCH_REGIONS" in done.stdout  # every shared option names its variable


def test_unknown_command_is_one_line() -> None:
    done = gtbench("frobnicate")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["gtbench: error: No such command 'frobnicate'."]
