"""The ``gtbench`` command line: a click group, one small module per command family."""

from __future__ import annotations

import sys
from typing import Any

import click

from gtbench import __version__
from gtbench.errors import GtbenchError


def _fail(message: str, code: int) -> None:
    click.echo(f"gtbench: error: {message}", err=True)
    sys.exit(code)


class GtbenchGroup(click.Group):
    """Turns every error a user can cause into one line on stderr and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from gtbench.awserrors import describe_aws_error

        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            _fail("aborted; nothing further was changed", 1)
        except KeyboardInterrupt:
            _fail("interrupted; run the same command again to resume", 130)
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


@click.group(cls=GtbenchGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="gtbench")
def cli() -> None:
    """See, measure and explain how Amazon DynamoDB global tables replicate.

    gtbench runs against a local global-tables emulator by default (started on
    demand), or against real AWS with --target aws.

    \b
    A first session:
      gtbench demo         all of it on the emulator in a minute, explained
      gtbench setup        create the global table and seed the workshop data
      gtbench status       see every replica and whether they agree
      gtbench race         time replication, with a rigorous bound on each lag
      gtbench conflict     write one item in two regions at once: last writer wins
      gtbench report FILE  show a saved result again, as Markdown or a figure
      gtbench teardown     remove what setup created
      gtbench local --help the emulator: lag, ground truth, start and stop
    """


def main() -> None:
    from gtbench.cli import conflict, demo, local, provision, race, report

    local.register(cli)
    provision.register(cli)
    race.register(cli)
    conflict.register(cli)
    report.register(cli)
    demo.register(cli)
    cli.main(prog_name="gtbench")
