"""docs/ as printed: every local command its pages show runs, in reading order, at 80
columns (the README's: tests/test_readme_walk.py, whose walk this is). The longest
sections of docs/experiments.md walk in files of their own (test_docs_walk_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtbench.emulator.server import EmulatorServer
from tests.helpers import readme_commands
from tests.test_readme_walk import SPLIT, chunk, walk


def test_the_walks_together_run_every_command_of_the_docs() -> None:
    walked = [c for part in ("docs", *SPLIT) for c in chunk(part)]
    assert set(walked) == set(readme_commands("docs"))


def test_every_local_command_in_the_docs_runs_as_printed(
        emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        state: dict[str, str]) -> None:
    walk("docs", emulator, tmp_path, monkeypatch, state)
