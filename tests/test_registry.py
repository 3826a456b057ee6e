"""The experiment registry: every experiment one record, dispatched by name nowhere
else; a walkthrough adds a toy experiment and ``gtbench report`` renders and checks it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gtbench import registry
from gtbench.cli import cli
from gtbench.registry import Experiment


@pytest.mark.parametrize("name", registry.names())
def test_every_part_of_every_record_is_a_function(name: str) -> None:
    experiment = registry.get(name)
    for part in ("rebuild", "check", "terminal", "markdown", "figure", "runs", "holding"):
        assert callable(getattr(experiment, part)), part


def test_the_registry_loads_no_renderer_until_asked() -> None:
    """`gtbench --help` and the CLI's start import the registry's module, not the
    records: rich and the renderers load only when a result is read."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, gtbench.registry; "
         "print(sorted(m for m in sys.modules if m.startswith(('rich', 'gtbench.report'))))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_registry_knows_the_experiments_and_refuses_others_in_one_line(
        tmp_path: Path) -> None:
    assert set(registry.names()) >= {"race", "conflict", "compare", "outage", "matrix"}
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"experiment": "load", "format": 2, "trials": []}))
    result = CliRunner().invoke(cli, ["report", str(path)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"gtbench: error: {path}: unknown experiment 'load' (this gtbench knows "
        f"{', '.join(registry.names())}) (upgrade gtbench, or check the file's "
        "\"experiment\" field)"]


def test_a_toy_experiment_is_one_record_and_report_renders_and_checks_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walkthrough of docs/ARCHITECTURE.md: a new experiment needs its functions and
    one record; report, report --check and --markdown then find it by name."""
    def summarize(document: dict[str, Any]) -> dict[str, Any]:
        return {"coins": len(document["trials"]),
                "heads": sum(1 for t in document["trials"] if t["side"] == "heads")}

    def rebuild(document: dict[str, Any], context: Any) -> dict[str, Any]:
        return {**document, "summary": summarize(document)}

    def check(document: dict[str, Any]) -> list[str]:
        again = rebuild(document, None)["summary"]
        return [f"summary.{k}: stated {document['summary'].get(k)!r}, computed {v!r}"
                for k, v in again.items() if document["summary"].get(k) != v]

    toy = Experiment(
        "coins", holds="trials", rebuild=rebuild, check=check,
        terminal=lambda d: [f"{d['summary']['heads']} heads in {d['summary']['coins']} tosses"],
        markdown=lambda d: f"| heads | {d['summary']['heads']} |", figure=lambda d: None)
    monkeypatch.setitem(registry._REGISTRY, "coins", toy)
    trials = [{"side": "heads"}, {"side": "tails"}, {"side": "heads"}]
    path = tmp_path / "coins.json"
    path.write_text(json.dumps({"experiment": "coins", "format": 2, "trials": trials,
                                "summary": {"coins": 3, "heads": 2}}))
    shown = CliRunner().invoke(cli, ["report", str(path)])
    assert shown.exit_code == 0, shown.stderr
    assert "2 heads in 3 tosses" in shown.stdout
    assert CliRunner().invoke(cli, ["report", str(path), "--markdown"]).stdout.strip() == \
        "| heads | 2 |"
    checked = CliRunner().invoke(cli, ["report", str(path), "--check"])
    assert checked.exit_code == 0, checked.stderr
    assert "3 trials, 0 operations" in checked.stderr
    path.write_text(json.dumps({"experiment": "coins", "format": 2, "trials": trials,
                                "summary": {"coins": 3, "heads": 3}}))  # a hand edit
    tampered = CliRunner().invoke(cli, ["report", str(path), "--check"])
    assert tampered.exit_code == 1 and "summary.heads: stated 3, computed 2" in tampered.stderr
