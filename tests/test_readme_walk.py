"""The README as printed: every local command it shows runs, in reading order, at 80
columns (docs/' commands: tests/test_docs_walk.py). Each walk is a file of its own:
they are the suite's longest tests, and pytest-xdist hands out files, so the two walks
and the rest of the suite run side by side."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from gtbench.cli import cli
from gtbench.cli.demo import window_offsets
from gtbench.emulator.server import EmulatorServer
from tests.helpers import PAGES, ROOT, commands_in, control, readme_commands, sections, wait_until


def test_every_local_command_in_the_readme_runs_as_printed(
        emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        state: dict[str, str]) -> None:
    walk("readme", emulator, tmp_path, monkeypatch, state)


EXPERIMENTS = ROOT / "docs" / "experiments.md"
# docs/experiments.md's longest sections walk in files of their own
# (tests/test_docs_walk_*.py): pytest-xdist hands out files, so they run side by side.
SPLIT = {"conflict": ("gtbench conflict",),
         "tour": ("gtbench compare", "gtbench outage", "gtbench demo")}


def chunk(part: str) -> list[str]:
    """The commands one walk runs, in reading order: "readme"; "docs" (every page but
    the split-off sections); or a split-off part of docs/experiments.md."""
    if part == "readme":
        return readme_commands("readme")
    by_section = sections(EXPERIMENTS.read_text())
    if part in SPLIT:
        return commands_in("\n".join(by_section[title] for title in SPLIT[part]))
    assert part == "docs", part
    split_off = {title for titles in SPLIT.values() for title in titles}
    kept = "\n".join(text for title, text in by_section.items() if title not in split_off)
    return commands_in("\n".join(kept if page == EXPERIMENTS else page.read_text()
                                  for page in PAGES))


# The demo runs once in the walks, as `demo --save results` (docs/experiments.md), whose
# results the walk checks; the plain form is checked for its options only.
ONCE_ELSEWHERE = ("gtbench demo",)
# An experiment the README shows and docs/ shows too runs in the docs' walk, once; the
# README's walk checks its options.
EXPERIMENTS_RUN = ("race", "conflict", "compare", "matrix", "outage", "demo")


def run_elsewhere(part: str, line: str) -> bool:
    if line in ONCE_ELSEWHERE:
        return True
    return part == "readme" and line.split()[1] in EXPERIMENTS_RUN \
        and line in readme_commands("docs")


def walk(part: str, emulator: EmulatorServer, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch, state: dict[str, str]) -> None:
    """The commands of ``part`` ("readme" or "docs") in reading order (a repeated
    command runs once)."""
    commands = chunk(part)
    assert len(commands) >= 5, commands
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.setenv("GTBENCH_STATE_DIR", state["GTBENCH_STATE_DIR"])
    # At 80 columns, as many terminals are: no figure may be cut short ("…").
    runner = CliRunner(env={"GTBENCH_ENDPOINT_URL": emulator.url, "COLUMNS": "80"})
    assert runner.invoke(cli, ["setup"]).exit_code == 0  # the README says it in prose
    ran: dict[str, Any] = {}
    for line in commands:
        args = shlex.split(line)[1:]
        if ("--target" in args and args[args.index("--target") + 1] == "aws") \
                or args[:2] == ["local", "serve"] or run_elsewhere(part, line):
            # Billable, runs until stopped, or run in the other walk: only check that
            # its options exist.
            command = cli.get_command(click.Context(cli), args[0])
            assert command is not None, line
            parent = command
            while isinstance(parent, click.Group):
                args = args[1:]
                parent = parent.get_command(click.Context(parent), args[0])  # type: ignore[assignment]
                assert parent is not None, line
            parent.make_context(args[0], args[1:], resilient_parsing=False)
            continue
        if args[0] == "report" and not (tmp_path / args[1]).exists():
            # Its document is made in another part of the walk: made here too, by the
            # command the pages show making it.
            maker = next(c for c in readme_commands("all") if f"--json {args[1]}" in c)
            assert runner.invoke(cli, shlex.split(maker)[1:]).exit_code == 0, maker
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, f"{line}\n{result.stderr[-800:]}"
        assert "…" not in result.stdout, f"{line}: a figure cut short at 80 columns"
        if "--markdown" not in args:  # Markdown is for pasting: its rows stay whole
            wide = [out for out in result.stdout.splitlines()
                    if len(out) > 80 and not out.startswith("log: ")]  # a path is a path
            assert not wide, f"{line}: lines over 80 columns: {wide[:2]}"
        ran[line] = result
    if "gtbench demo --save results" in ran:
        demo = ran["gtbench demo --save results"]
        for step in ("1/6 a global table", "2/6 replication lag", "3/6 a conflict",
                     "4/6 the conflict window", "5/6 lost updates", "6/6 strong consistency",
                     "cleaning up"):
            assert step in demo.stdout
        assert demo.stdout.count("What it means:") == 6 and "updates were lost" in demo.stdout
        # The tour reads at a glance: each step in brief, at 80 columns nothing wider.
        lines = demo.stdout.splitlines()
        assert len(lines) <= 100 and max(map(len, lines)) <= 80, (len(lines), max(
            lines, key=len))
        assert "MRSC lost 0, refused" in " ".join(demo.stdout.split())
        tables = {g["table"] for g in control(emulator.url, "status")["global_tables"]}
        assert "gtbench-demo" not in tables  # the demo removed its own table
        assert sorted(p.name for p in (tmp_path / "results").glob("*.json")) == [
            "compare.json", "conflict-increment.json", "conflict-sweep.json",
            "conflict.json", "race.json"]
        # The conflict window is swept around the lag the demo's race measured.
        raced = json.loads((tmp_path / "results" / "race.json").read_text())["summary"]
        swept = json.loads((tmp_path / "results" / "conflict-sweep.json").read_text())
        assert tuple(swept["settings"]["offsets_ms"]) \
            == window_offsets(raced["p50_s"], raced["max_s"])
    strong = "gtbench outage --table strong --regions us-west-2,us-east-1,us-east-2 --duration 4"
    if strong in ran:  # the MRSC outage: the cut region fails its writes, nothing is lost
        said = " ".join(ran[strong].stdout.split())
        assert "MRSC table" in said and "No acknowledged write was lost" in said
        assert "and 0 were acknowledged" in said
    for line, made in (("gtbench race --trials 20 --json race.json", "race.json"),
                       ("gtbench report outage.json --png outage.png", "outage.png"),
                       ("gtbench race --load 0,25,50 --trials 3 --png load.png", "load.png"),
                       ("gtbench report conflict.json --png conflict.png", "conflict.png")):
        if line in ran:
            assert (tmp_path / made).exists(), made
    # The pages clear what they set (a fault `--for N` ends by itself).
    wait_until(lambda: control(emulator.url, "faults")["faults"] == [], timeout=15,
               message="the pages' faults to end")
