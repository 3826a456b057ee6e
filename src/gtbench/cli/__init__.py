"""The ``gtbench`` command line: a click group, one small module per command family.

Commands are found in ``COMMANDS`` and imported only when run, so ``gtbench --help``
loads click and nothing heavy (boto3, rich and moto stay unloaded).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from gtbench import __version__
from gtbench.errors import GtbenchError


def _fail(message: str, code: int) -> None:
    with contextlib.suppress(OSError):  # no terminal left (SIGHUP): the status says it
        click.echo(f"gtbench: error: {message}", err=True)
    sys.exit(code)


# name: (module, attribute, the one line `gtbench --help` shows; a test keeps it true)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("gtbench.cli.demo", "demo_command",
             "A first run that teaches: global tables in about 90 seconds, on the emulator."),
    "setup": ("gtbench.cli.provision", "setup_command",
              "Create the global table, add its replicas, and seed the workshop data."),
    "status": ("gtbench.cli.provision", "status_command",
               "Show each replica's status and item count, and whether the replicas agree."),
    "race": ("gtbench.cli.race", "race_command",
             "Write a new bookmark in one region, poll another, and time the replication."),
    "conflict": ("gtbench.cli.conflict", "conflict_command",
                 "Write one item from two regions at once, and watch last-writer-wins decide."),
    "compare": ("gtbench.cli.compare", "compare_command",
                "Run the same workloads on an MREC and an MRSC table, and show them side by side."),
    "outage": ("gtbench.cli.outage", "outage_command",
               "Cut a region off under a steady workload, and measure what is lost and how it "
               "heals."),
    "matrix": ("gtbench.cli.matrix", "matrix_command",
               "Time replication between every ordered pair of --regions, in one run."),
    "report": ("gtbench.cli.report", "report_command",
               "Re-render a result saved with --json: the same summary as the live run."),
    "teardown": ("gtbench.cli.provision", "teardown_command",
                 "Remove the replicas one at a time, then the table: only what gtbench created."),
    "probes": ("gtbench.cli.probes", "probes_group",
               "Probes inside the regions on AWS Lambda, for `race --probes`: deploy, status, "
               "remove."),
    "local": ("gtbench.cli.local", "local_group",
              "The local global-tables emulator: a DynamoDB endpoint that really replicates."),
}


class GtbenchGroup(click.Group):
    """Turns every error a user can cause into one line on stderr and an exit code, and
    loads each command only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        from importlib import import_module

        module, attribute, _ = COMMANDS[name]
        command: click.Command = getattr(import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The one-line help comes from the table, so listing imports no command.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_line) for name, (_, _, help_line)
                                in COMMANDS.items()])

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from gtbench import signals

        kwargs["standalone_mode"] = False
        # SIGTERM and SIGHUP stop a command as Ctrl-C does; the handlers before are put
        # back after (a test that runs the CLI in its own process keeps its own).
        previous = signals.install()
        try:
            self._run(args, kwargs)
        finally:
            signals.restore(previous)

    def _run(self, args: Any, kwargs: Any) -> None:
        from gtbench import signals
        from gtbench.awserrors import describe_aws_error

        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # click's name for a Ctrl-C
                signum = signals.signum_of(exc.__cause__)
                _fail(f"interrupted ({signals.name(signum)}); nothing further was changed",
                      signals.exit_status(signum))
            _fail("aborted; nothing further was changed", 1)
        except KeyboardInterrupt as exc:
            signum = signals.signum_of(exc)
            _fail(f"interrupted ({signals.name(signum)}); run the same command again to "
                  "resume", signals.exit_status(signum))
        except click.NoSuchOption as exc:
            _fail(_negative_value(exc.option_name) or exc.format_message(), exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except GtbenchError as exc:
            _fail(str(exc), exc.exit_code)
        except Exception as exc:
            message = describe_aws_error(exc)
            if message is None:
                raise
            _fail(message, 1)
        sys.exit(result if isinstance(result, int) else 0)


def _negative_value(name: str) -> str | None:
    """click reads ``--load -1`` as an unknown option ``-1``: say what it is."""
    import re

    if re.fullmatch(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", name) is None:
        return None
    return (f"{name} is not an option, and a negative number is no value here (an option "
            "whose value may be left out, such as --load, takes 0 or more)")


@click.group(cls=GtbenchGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="gtbench")
def cli() -> None:
    """See, measure and explain how Amazon DynamoDB global tables replicate.

    gtbench runs against a local global-tables emulator by default (started on
    demand), or against real AWS with --target aws.

    \b
    A first session:
      gtbench demo         all of it on the emulator in 90 seconds, explained
      gtbench setup        create the global table and seed the workshop data
      gtbench status       see every replica and whether they agree
      gtbench race         time replication, with a rigorous bound on each lag
      gtbench conflict     write one item in two regions at once: last writer wins
      gtbench compare      MREC and MRSC side by side: what each loses, costs
      gtbench outage       cut a region off: what was lost, how it healed
      gtbench report FILE  show a saved result again, as Markdown or a figure
      gtbench teardown     remove what setup created
      gtbench local --help the emulator: lag, ground truth, start and stop

    \b
    Exit status:
      0    done
      1    failed: the command could not do what was asked
      2    bad input: nothing ran
      3    a run stopped early (the endpoint lost, the table gone, failing
           trials); what it measured was shown and saved
      130, 143, 129  stopped by Ctrl-C, SIGTERM or SIGHUP; saved likewise
    """


def main() -> None:
    """The program: once the command has chosen its exit status, further signals are
    ignored. A second Ctrl-C while the interpreter joins its threads would otherwise
    turn that status into a death by SIGINT (and once printed a traceback from
    queue.get)."""
    from gtbench import signals

    try:
        cli.main(prog_name="gtbench")
    finally:
        signals.ignore_all()
