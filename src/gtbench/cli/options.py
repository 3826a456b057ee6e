"""Options shared by every command that talks to DynamoDB."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gtbench.errors import UsageError
from gtbench.regions import AWS, LOCAL, Settings, parse_regions

F = TypeVar("F", bound=Callable[..., Any])
# In click's context meta: results go to a scratch folder that will be deleted.
SCRATCH_KEY = "gtbench.scratch_results"
# In click's context meta: a step of `gtbench demo`, which cleans up the emulator itself.
DEMO_KEY = "gtbench.demo"


def regions_callback(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    try:
        return parse_regions(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


class Finite(click.FloatRange):
    """A float within its range that is a real number. click's FloatRange lets NaN
    through every comparison (``nan < 0`` is false) and infinity past a missing bound:
    both once crashed or hung a run. Every float option of gtbench is one of these."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def finite(text: str, *, low: float = 0.0, high: float = 3_600_000.0) -> float:
    """A number inside an option's own syntax (REGION=MS...); ValueError if it is not a
    finite number in [low, high] (the emulator's own check, as its control API does)."""
    from gtbench.emulator.values import number

    return number(float(text), text, low=low, high=high)


def check_endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from urllib.parse import urlsplit

    if any(c.isspace() or not c.isprintable() for c in value):
        raise click.BadParameter(f"{value!r} contains a space or a control character; a URL "
                                 "has none (such as http://127.0.0.1:8000)", ctx, param)
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{value!r} is not an http(s) URL, such as "
                                 "http://127.0.0.1:8000", ctx, param)
    return value.rstrip("/")


def _output(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from gtbench.terminal import check_output_path

    problem = check_output_path(value) if value is not None else None
    if problem:
        raise click.BadParameter(f"{problem}: nothing was run", ctx, param)
    return value


def table_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from gtbench.awsrules import table_name_problem

    if table_name_problem(value):
        raise click.BadParameter(f"{value!r} is not a DynamoDB table name (3 to 255 of "
                                 "a-z A-Z 0-9 _ - .)", ctx, param)
    return value


def target_options(command: F) -> F:
    """--target, --endpoint-url, --regions, --table, --profile, each with its GTBENCH_ variable."""
    decorators = [
        click.option("--target", type=click.Choice([LOCAL, AWS]), default=LOCAL,
                     envvar="GTBENCH_TARGET", show_default=True, show_envvar=True,
                     help="local: gtbench's emulator (started on demand). aws: real DynamoDB "
                          "with your boto3 credentials; billable."),
        click.option("--endpoint-url", metavar="URL", envvar="GTBENCH_ENDPOINT_URL",
                     show_envvar=True, callback=check_endpoint,
                     help="One DynamoDB endpoint for every region, such as a running "
                          "emulator. Nothing is started on demand when it is given."),
        click.option("--regions", callback=regions_callback, default="us-west-2,eu-west-1",
                     metavar="REGIONS",
                     envvar="GTBENCH_REGIONS", show_default=True, show_envvar=True,
                     help="Comma-separated regions; the first is the home region."),
        click.option("--table", default="global-serverless", envvar="GTBENCH_TABLE",
                     callback=table_callback,
                     show_default=True, show_envvar=True, help="The global table's name."),
        click.option("--profile", metavar="NAME", envvar="AWS_PROFILE",
                     help="AWS named profile (with --target aws)."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def settings_from(target: str, endpoint_url: str | None, regions: tuple[str, ...], table: str,
                  profile: str | None) -> Settings:
    return Settings(target=target, endpoint_url=endpoint_url, regions=regions, table=table,
                    profile=profile)


yes_option = click.option("--yes", "-y", is_flag=True,
                          help="Do not ask for confirmation (for scripts).")

clock_error_option = click.option(
    "--clock-error-ms", type=Finite(min=0, max=60000), default=None,
    help="With --probes: the error of each probe's clock [default: measured by each probe "
         "against time.aws.com on AWS; 1 ms on the emulator].")


def resolution_option(default_ms: float, help: str) -> Callable[[F], F]:
    """``--resolution-ms``: the spacing between reads in a reading region (race, matrix,
    compare), its range declared once."""
    return click.option("--resolution-ms", type=Finite(min=0.5, max=10000),
                        default=default_ms, show_default=True, help=help)


def timeout_option(help: str = "Seconds a trial waits for the value before timing out.",
                   low: float = 0.05) -> Callable[[F], F]:
    """``--timeout`` (seconds, into ``timeout_s``): how long a trial waits; every call of
    the run waits at most this long for its answer too (``Regions.fit_calls_to``)."""
    return click.option("--timeout", "timeout_s", type=Finite(min=low, max=3600),
                        default=10.0, show_default=True, help=help)


def check_probe_flags(use_probes: bool, clock_error_ms: float | None) -> None:
    if clock_error_ms is not None and not use_probes:
        raise UsageError("--clock-error-ms is for --probes (one clock needs no error bound)")


json_option = click.option(
    "--json", "json_path", metavar="PATH", callback=_output,
    help="Write the result document (its shape is in docs/json.md) to PATH; '-' writes it to "
         "stdout and everything else to stderr. `gtbench report PATH` shows it again.")


def _png_output(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    value = _output(ctx, param, value)
    if value is not None and value != "-":
        from pathlib import PurePath

        suffix = PurePath(value).suffix.lower()
        if suffix not in ("", ".png"):
            # matplotlib picks the format from the name, and refuses .txt only after the
            # whole run: checked now.
            raise click.BadParameter(f"{value!r}: --png writes a PNG image; name the file "
                                     "*.png: nothing was run", ctx, param)
    if value == "-":
        raise click.BadParameter("a figure cannot go to stdout; name a *.png file: nothing "
                                 "was run", ctx, param)
    return value


def png_option(help: str) -> Callable[[F], F]:
    """``--png PATH``: a figure, its path and format checked before the run."""
    return click.option("--png", "png_path", metavar="PATH", callback=_png_output, help=help)


def confirm_billable(settings: Settings, account: str | None, what: str, yes: bool) -> None:
    """On AWS, say what an experiment will write and where, and ask (``--yes`` skips)."""
    if settings.target != AWS or yes:
        return
    click.confirm(f"{what} in table {settings.table}, AWS account {account} "
                  f"({', '.join(settings.regions)}); the items stay until `gtbench teardown`. "
                  "This is billable (see Cost in docs/aws.md). Continue?",
                  abort=True, err=True)
