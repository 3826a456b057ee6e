"""gtbench report, demo and the examples: saved results render as the live run did."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gtbench.emulator.server import EmulatorServer
from gtbench.registry import FORMAT_VERSION
from tests.helpers import run_cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RESULTS = sorted(EXAMPLES.glob("*.json"))


def report(*args: str) -> Any:
    from click.testing import CliRunner

    from gtbench.cli import cli

    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_there_is_an_example_of_each_experiment_and_mode() -> None:
    kinds = {(d["experiment"], d.get("mode"), len(d["settings"].get("offsets_ms", [0])) > 1)
             for d in (json.loads(p.read_text()) for p in RESULTS)}
    assert kinds == {("race", None, False), ("conflict", "overwrite", False),
                     ("conflict", "overwrite", True), ("conflict", "increment", False),
                     ("compare", None, False), ("outage", None, False)}


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_every_example_renders_in_the_terminal_and_as_markdown(path: Path) -> None:
    result = report(str(path))
    assert result.exit_code == 0, result.stderr
    document = json.loads(path.read_text())
    heading = {"race": "replication lag in seconds",
               "conflict": "read-modify-write" if document.get("mode") == "increment"
               else "last-writer-wins per offset",
               "compare": "MREC and MRSC, same regions, same workloads",
               "outage": "items that differed between the regions"}[document["experiment"]]
    assert heading in result.stdout
    markdown = report(str(path), "--markdown")
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith("**") and "| --- |" in markdown.stdout
    rows = [line for line in markdown.stdout.splitlines() if line.startswith("| ")]
    regions = len(document.get("regions") or [])
    expected = {"race": lambda: len(document["summary"]["pairs"]),
                "conflict": lambda: len(document["summary"]["offsets"]),
                # three operations per region, then nine rows of what each kind lost
                "compare": lambda: 3 * regions + 9,
                "outage": lambda: regions}[document["experiment"]]()
    assert len(rows) == 2 + expected  # header, rule, one row per pair, offset or figure


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.stem)
def test_every_example_draws_a_png(path: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{path.stem}.png"
    result = report(str(path), "--png", str(out))
    assert result.exit_code == 0, result.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"  # what it shows: tests/test_figures.py
    # Asked for a figure, it says so and prints nothing else.
    assert result.stdout == "" and result.stderr.strip() == f"wrote {out}"


def test_a_missing_plot_extra_gets_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    result = report(str(RESULTS[0]), "--png", str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert "pip install 'gtbench[plot]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(("content", "message"), [
    ("not json at all", "is not a gtbench result: it is not JSON"),
    ('{"hello": "world"}', "is not a gtbench result: it has no experiment"),
    ('[1, 2, 3]', "is not a gtbench result"),
    (json.dumps({"experiment": "race", "format": FORMAT_VERSION + 1, "trials": []}),
     f"is result format {FORMAT_VERSION + 1}, newer than this gtbench reads"),
])
def test_a_file_that_is_not_a_result_is_one_line(tmp_path: Path, content: str,
                                                 message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    result = report(str(path))
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = report(str(tmp_path / "absent.json"))
    assert result.exit_code == 1 and "cannot read" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("experiment", [["race", "--trials", "3", "--interval-ms", "20"],
                                        ["conflict", "--trials", "2"]])
def test_a_saved_result_renders_exactly_as_the_live_run(
        emulator: EmulatorServer, tmp_path: Path, experiment: list[str]) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    path = tmp_path / "result.json"
    live = run_cli(emulator.url, *experiment, "--json", str(path))
    assert live.exit_code == 0, live.stderr
    again = report(str(path))
    assert again.exit_code == 0
    assert again.stdout == live.stdout


def test_the_library_example_runs() -> None:
    spec = importlib.util.spec_from_file_location("library_example", EXAMPLES / "library.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    documents = module.main()
    assert documents["race"]["summary"]["replicated"] == 5
    offsets = {o["offset_ms"]: o for o in documents["conflict"]["summary"]["offsets"]}
    assert offsets[0.0]["lww_held"] == 2 and offsets[1000.0]["earlier_discarded_unseen"] == 0


def test_every_experiment_draws_with_png_the_figure_report_draws_from_its_document(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    """One way to draw: each experiment takes --png (checked before the run), and the
    figure is the one `report --png` draws from the saved document."""
    from click.testing import CliRunner

    from gtbench.cli import cli

    assert run_cli(emulator.url, "setup").exit_code == 0
    runs = {"race": ["--trials", "2"],
            "conflict": ["--trials", "1", "--no-timelines"],
            "outage": ["--duration", "1", "--lead", "0.5"]}
    for name, args in runs.items():
        refused = run_cli(emulator.url, name, *args, "--png", str(tmp_path / f"{name}.svg"))
        assert refused.exit_code == 2 and "*.png" in refused.stderr, (name, refused.stderr)
        drawn, saved = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
        result = run_cli(emulator.url, name, *args, "--png", str(drawn), "--json", str(saved))
        assert result.exit_code == 0, (name, result.stderr)
        again = tmp_path / f"{name}-again.png"
        assert CliRunner().invoke(cli, ["report", str(saved), "--png", str(again)]
                                  ).exit_code == 0
        # The same figure: drawn from the same document by the same code.
        assert drawn.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert drawn.stat().st_size == pytest.approx(again.stat().st_size, rel=0.02), name
