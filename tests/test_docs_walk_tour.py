"""docs/experiments.md's compare, outage and demo sections, as printed (the walk:
tests/test_readme_walk.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtbench.emulator.server import EmulatorServer
from tests.test_readme_walk import walk


def test_the_compare_commands_of_the_docs_run_as_printed(
        emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        state: dict[str, str]) -> None:
    walk("tour", emulator, tmp_path, monkeypatch, state)
