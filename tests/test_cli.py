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
    session = done.stdout.split("A first session", 1)[1].split("Options:", 1)[0]
    for command in ("demo", "setup", "race", "conflict", "compare", "outage", "report",
                    "teardown"):
        assert f"gtbench {command}" in session, command


def test_race_help_explains_the_bound() -> None:
    done = gtbench("race", "--help")
    assert done.returncode == 0
    assert "[ss - wa, fr - ws]" in done.stdout
    assert "GTBENCH_REGIONS" in done.stdout  # every shared option names its variable


def test_unknown_command_is_one_line() -> None:
    done = gtbench("frobnicate")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["gtbench: error: No such command 'frobnicate'."]


def test_help_lists_each_command_with_its_own_first_line() -> None:
    from gtbench.cli import COMMANDS, cli

    for name, (_, _, line) in COMMANDS.items():
        command = cli.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.help is not None
        assert command.help.strip().splitlines()[0] == line, name


def test_help_starts_without_boto3_rich_or_moto() -> None:
    # Start-up time is measured in benchmarks/startup.py; this keeps its cause in check.
    probe = ("import sys\n"
             "from gtbench.cli import cli\n"
             "try:\n"
             "    cli.main(['--help'], prog_name='gtbench')\n"
             "except SystemExit:\n"
             "    pass\n"
             "heavy = [m for m in ('boto3', 'botocore', 'rich', 'moto') if m in sys.modules]\n"
             "print('loaded:', ','.join(heavy))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded:"


def test_every_help_reads_at_80_columns() -> None:
    """`--help` teaches: at 80 columns, as many terminals are, no line runs over."""
    import click
    from click.testing import CliRunner

    from gtbench.cli import cli

    def paths(group: click.Group, prefix: list[str]) -> list[list[str]]:
        out = [prefix]
        context = click.Context(group)
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            if isinstance(command, click.Group):
                out += paths(command, [*prefix, name])
            else:
                out.append([*prefix, name])
        return out

    for path in paths(cli, []):
        shown = CliRunner(env={"COLUMNS": "80"}).invoke(cli, [*path, "--help"])
        assert shown.exit_code == 0, path
        wide = [line for line in shown.stdout.splitlines() if len(line) > 80]
        assert not wide, (path, wide)
