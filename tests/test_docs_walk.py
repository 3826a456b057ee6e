"""docs/ as printed: every local command its pages show runs, in reading order, at 80
columns (the README's: tests/test_readme_walk.py, whose walk this is)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtbench.emulator.server import EmulatorServer
from tests.test_readme_walk import walk


def test_every_local_command_in_the_docs_runs_as_printed(
        emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        state: dict[str, str]) -> None:
    walk("docs", emulator, tmp_path, monkeypatch, state)
