"""``gtbench local``: run, start, stop and inspect the local global-tables emulator."""

from __future__ import annotations

import dataclasses
import json
import shlex
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from gtbench.cli.fault import fault_group
from gtbench.cli.options import Finite, check_endpoint, finite
from gtbench.errors import GtbenchError
from gtbench.local import lifecycle
from gtbench.terminal import say

if TYPE_CHECKING:
    from gtbench.emulator.config import EmulatorConfig


def _pair_lags(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
               ) -> list[tuple[str, str, float, float | None]]:
    """``SOURCE:TARGET=MS`` or ``SOURCE:TARGET=MS/JITTER``, each."""
    out: list[tuple[str, str, float, float | None]] = []
    for value in values:
        try:
            pair, figures = value.split("=", 1)
            source, target = pair.split(":", 1)
            lag, _, jitter = figures.partition("/")
            out.append((source.strip(), target.strip(), finite(lag),
                        finite(jitter) if jitter else None))
        except ValueError as exc:
            raise click.BadParameter(f"{value!r} is not SOURCE:TARGET=MS[/JITTER], such as "
                                     "us-west-2:eu-west-1=1500/300", ctx, param) from exc
    return out


def _per_region(values: tuple[str, ...], low: float, high: float, example: str,
                ctx: click.Context, param: click.Parameter) -> dict[str, float]:
    """``REGION=FIGURE``, each, the figure from ``low`` to ``high``."""
    out: dict[str, float] = {}
    for value in values:
        region, sep, text = value.partition("=")
        try:
            figure = finite(text, high=high)
        except ValueError:
            figure = low - 1
        if not sep or not region.strip() or figure < low:
            raise click.BadParameter(f"{value!r} is not {param.metavar}, such as {example}",
                                     ctx, param)
        out[region.strip()] = figure
    return out


def _rtts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
          ) -> dict[str, float]:
    """``REGION=MS``, each."""
    return _per_region(values, 0, 60_000, "eu-west-1=118", ctx, param)


def _skews(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
           ) -> dict[str, float]:
    """``REGION=MS``, each; MS may be negative (a clock behind)."""
    out: dict[str, float] = {}
    for value in values:
        region, sep, figure = value.partition("=")
        try:
            ms = finite(figure.lstrip("-"), high=60_000) * (-1 if figure.startswith("-") else 1)
        except ValueError:
            ms = None
        if not sep or not region.strip() or ms is None:
            raise click.BadParameter(f"{value!r} is not REGION=MS, such as eu-west-1=3 or "
                                     "eu-west-1=-3", ctx, param)
        out[region.strip()] = ms
    return out


def _pair_rtts(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
               ) -> dict[tuple[str, str], float]:
    """``A:B=MS``, each: an MRSC round trip between two regions (either direction)."""
    out: dict[tuple[str, str], float] = {}
    for value in values:
        pair, sep, figure = value.partition("=")
        a, colon, b = pair.partition(":")
        try:
            ms = finite(figure, high=60_000)
        except ValueError:
            ms = -1.0
        if not sep or not colon or not a.strip() or not b.strip() or ms < 0:
            raise click.BadParameter(f"{value!r} is not A:B=MS, such as us-east-1:us-east-2=15",
                                     ctx, param)
        out[(a.strip(), b.strip())] = ms
    return out


def _host(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An address this machine can listen on: a bad one said so, not as a busy port."""
    import socket

    try:
        socket.getaddrinfo(value, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise click.BadParameter(f"{value!r} is not a host name or address this machine "
                                 "knows (such as 127.0.0.1 or ::1)", ctx, param) from None
    return value


def _client_region(ctx: click.Context, param: click.Parameter, value: str | None
                   ) -> str | None:
    from gtbench.awsrules import known_regions

    if value is not None and value not in known_regions():
        raise click.BadParameter(f"unknown region {value!r}", ctx, param)
    return value


def _serve_options(command: Any) -> Any:
    """The emulator's settings as options: the numbers from its settings table (each
    with the range, default and help it has there), then the structured ones."""
    from gtbench.emulator.capacity import MAX_WCU
    from gtbench.emulator.config import SERVED, SETTINGS

    options = [click.option(s.flag, s.name, type=Finite(min=s.low, max=s.high),
                            default=s.read(SERVED), show_default=True,
                            help=f"{s.help} [unit: {s.unit}]")
               for s in SETTINGS if s.flag]
    options += [
        click.option("--pair-lag", "pair_lags", callback=_pair_lags, multiple=True,
                     metavar="SRC:DST=MS[/JITTER]",
                     help="Lag for one direction, such as us-west-2:eu-west-1=1500/300. "
                          "Repeatable."),
        click.option("--replica-delay-s", type=Finite(min=0, max=3600),
                     default=SERVED.replicas.create_delay_s, show_default=True,
                     help="How long a new replica stays CREATING (and a removed one "
                          "DELETING)."),
        click.option("--seed", type=int, default=None,
                     help="Seed the lag sampler, for repeatable runs."),
        click.option("--client-region", metavar="REGION", callback=_client_region,
                     help="Place the client in REGION: each request to a region is held "
                          "for the round trip between them (measured medians between AWS "
                          "regions) [default: every region on loopback]."),
        click.option("--rtt", "rtts", metavar="REGION=MS", multiple=True, callback=_rtts,
                     help="The round trip to one region, in ms, over the built-in table. "
                          "Repeatable."),
        click.option("--pair-rtt", "pair_rtts", metavar="A:B=MS", multiple=True,
                     callback=_pair_rtts,
                     help="The round trip between two regions that an MRSC write or strong "
                          "read pays, over the built-in table. Repeatable."),
        click.option("--network-lag/--no-network-lag", default=SERVED.lag.network,
                     show_default=True,
                     help="Add half the round trip between two regions (the built-in table "
                          "of measured medians) to every delivery between them: a write "
                          "cannot arrive sooner than the network allows, so pairs across an "
                          "ocean lag more than pairs within a continent."),
        click.option("--probe-skew-ms", "probe_skews", metavar="REGION=MS", multiple=True,
                     callback=_skews,
                     help="Set the clock of the local probe in REGION this far off true time "
                          "(negative: behind), to rehearse `race --probes` with clocks that "
                          "err. Repeatable."),
        click.option("--wcu", "table_wcu", type=Finite(min=0.1, max=MAX_WCU), default=None,
                     help="Make every global table provisioned with WCU write units a "
                          "second in every replica (AWS gives all replicas one write "
                          "capacity). A write beyond it (1 unit per KB) is refused with "
                          "ProvisionedThroughputExceededException; a replicated write "
                          "waits its turn, so a replica that also takes its own writes "
                          "falls behind and lag grows [default: on-demand, which keeps "
                          "up]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _config(options: dict[str, Any]) -> EmulatorConfig:
    """The emulator config the settings options of `serve` or `start` describe."""
    from gtbench.emulator.config import SERVED, SETTINGS, ReplicaSettings
    from gtbench.emulator.distance import Distance

    config = SERVED
    for setting in SETTINGS:
        if setting.flag:
            config = setting.write(config, options[setting.name])
    lag = config.lag
    pairs = {(s, t): (ms, lag.jitter_ms if jitter is None else jitter)
             for s, t, ms, jitter in options["pair_lags"]}
    delay = options["replica_delay_s"]
    return config.replaced(
        lag=dataclasses.replace(lag, pairs=pairs, network=options["network_lag"]),
        replicas=ReplicaSettings(delay, delay),
        distance=Distance(options["client_region"], options["rtts"]),
        seed=options["seed"], pair_rtt_ms=options["pair_rtts"],
        probe_skew_ms=options["probe_skews"], table_wcu=options["table_wcu"])


@click.group("local")
def local_group() -> None:
    """The local global-tables emulator: a DynamoDB endpoint that really replicates.

    One port serves every region (the region comes from each request's
    signature), so boto3 and `aws --endpoint-url` work unchanged. Each write to a
    replicated table reaches the other replicas after a sampled lag, and
    concurrent writes resolve by last writer wins, as on AWS.

    \b
    Ground truth and controls on the same port:
      GET    /_gtbench/replications   each delivery: written, applied, outcome
      DELETE /_gtbench/replications   forget settled deliveries
      POST   /_gtbench/pause          hold deliveries (none are lost)
      POST   /_gtbench/resume         release them
      GET    /_gtbench/status         lag, pending deliveries, replica groups
      POST   /_gtbench/config         change lag_ms, jitter_ms, replica delays
      POST   /_gtbench/reset          empty every table, forget replication state
      GET    /_gtbench/faults         the faults in force (`gtbench local fault`)
      POST   /_gtbench/faults         start one: outage, isolate, throttle, pause
      DELETE /_gtbench/faults[/ID]    end one, or all
      POST   /_gtbench/clock          hold time, advance it by hand, release it
      POST   /_gtbench/settle         wait for replication; do replicas agree?
    Every route, with its fields: docs/emulator.md.
    """


@local_group.command("serve")
@click.option("--host", default=lifecycle.DEFAULT_HOST, show_default=True, callback=_host,
              help="Address to listen on. Keep loopback unless you mean to share it.")
@click.option("--port", type=click.IntRange(0, 65535), default=lifecycle.DEFAULT_PORT,
              envvar=lifecycle.PORT_ENV, show_default=True, show_envvar=True,
              help="Port to listen on (0: any free port).")
@_serve_options
@click.option("--config-json", hidden=True,
              help="The whole config as JSON (what `local start` hands its child); the "
                   "settings options are then not read.")
@click.option("--verbose", is_flag=True, help="Log every request.")
def serve(host: str, port: int, config_json: str | None, verbose: bool,
          **options: Any) -> None:
    """Run the emulator in the foreground until Ctrl-C or SIGTERM."""
    import logging

    from gtbench.emulator.config import EmulatorConfig
    from gtbench.emulator.server import EmulatorServer

    if config_json is None:
        config = _config(options)
    else:
        try:
            config = EmulatorConfig.from_json(config_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--config-json") from None
    # A busy port is said in one line before anything starts.
    if port and not lifecycle.port_free(host, port):
        raise GtbenchError(f"port {port} on {host} is already in use",
                           hint="choose another with --port, or stop what is using it")
    try:
        server = EmulatorServer(config, host=host, port=port, log_requests=verbose)
    except OSError as exc:
        raise GtbenchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                           hint="choose another --port, or stop what is using it") from exc
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
        logging.getLogger("gtbench.emulator.access").setLevel(logging.INFO)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    # Other commands find a served emulator as they find a started one.
    recorded = lifecycle.record_served(host, server.port)
    click.echo(f"gtbench emulator listening on {server.url} "
               f"(lag {config.lag.lag_ms:g} ms ± {config.lag.jitter_ms:g} ms, replicas "
               f"ready after {config.replicas.create_delay_s:g} s); Ctrl-C stops it",
               err=True)
    if config.distance.on:
        click.echo(f"client placed {describe_distance(config.distance.describe())}", err=True)
    if not _loopback(host):
        click.echo(f"warning: listening on {host}, beyond this machine: the emulator checks "
                   "no credentials, and anyone who reaches it can read, change or wipe every "
                   "table (POST /_gtbench/reset)", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if recorded:
            lifecycle.forget_served()
        server.stop()
    click.echo("gtbench emulator stopped", err=True)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@local_group.command("start")
@click.option("--host", default=lifecycle.DEFAULT_HOST, show_default=True, callback=_host,
              help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help=f"Port to listen on [default: {lifecycle.DEFAULT_PORT} or "
                   f"${lifecycle.PORT_ENV}, or a free one if that is taken].")
@_serve_options
def start(host: str, port: int | None, **options: Any) -> None:
    """Start the emulator in the background (stop it with `gtbench local stop`).

    If one already runs, it is kept and named: with no options that is success, but
    options it would not take (another port, another lag) are an error, not ignored.
    """
    with lifecycle.exclusive():  # of several starts at once, exactly one starts it
        # The child takes the config whole: one JSON argument, not a flag per setting.
        _start(host, port, lifecycle.discover(),
               lambda: ["--config-json", _config(options).to_json()])


def _start(host: str, port: int | None, running: lifecycle.Running | None,
           serve_args: Callable[[], list[str]]) -> None:
    if running is not None:
        context = click.get_current_context()
        # The address it already has is not an option it failed to take.
        same = {"host": host == running.host, "port": port == running.port}
        unapplied = ["/".join(param.opts + param.secondary_opts)
                     for param in context.command.params
                     if param.name and context.get_parameter_source(param.name)
                     is click.core.ParameterSource.COMMANDLINE
                     and not same.get(param.name, False)]
        if unapplied:
            raise GtbenchError(
                f"an emulator is already running on {running.url} (pid {running.pid}), "
                f"so {', '.join(unapplied)} took no effect",
                hint="its settings are set at start: `gtbench local stop` it (its tables "
                     "go with it), then start again")
        say(f"the emulator is already running on {running.url} (pid {running.pid})")
        return
    running = lifecycle.start(host=host, port=port, started_by="user",
                              serve_args=serve_args())
    # A line each, so 80 columns hold them (the log's path is as long as it is).
    say(f"started the emulator on {running.url} (pid {running.pid})")
    click.echo(f"log: {running.log}")  # whole, to copy: a path is as long as it is
    say(f"use it with --endpoint-url {running.url}")
    say(f"or: export GTBENCH_ENDPOINT_URL={running.url}")


@local_group.command("stop")
def stop() -> None:
    """Stop the background emulator. Its tables and data are gone with it."""
    stopped = lifecycle.stop()  # signals only a process that answers as our emulator
    if stopped is None:
        say("no emulator is running")
    else:
        # Said, not only in --help: a stop is also the end of every table it held.
        say(f"stopped the emulator on {stopped.url} (pid {stopped.pid}); its tables "
                   "and items went with it (it keeps nothing on disk)")


@local_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show whether the background emulator runs, its lag model and replica groups.

    Nothing running is an answer, not an error: the exit status is 0 either way, and
    `--json` says "running": true or false for scripts.
    """
    running = lifecycle.discover()
    document = lifecycle.probe(running.url) if running else None
    if as_json:
        click.echo(json.dumps({"running": running is not None,
                               "url": running.url if running else None,
                               "pid": running.pid if running else None,
                               "started_by": running.started_by if running else None,
                               "emulator": document}, indent=2))
        return
    if running is None or document is None:
        # Like `local stop`: an answer, not an error (scripts read `status --json`).
        say("no emulator is running (start one with `gtbench local start`)")
        return
    lag = document["lag"]
    by = {"user": "you, with `gtbench local start`", "serve": "`gtbench local serve`",
          "on-demand": "gtbench, on demand", "found": "something else: found running"}
    say(f"running on {running.url} (pid {running.pid}, started by "
               f"{by.get(running.started_by, running.started_by)})")
    distance = document.get("distance") or {}
    say("client placed " + describe_distance(distance) if distance.get("client_region")
               or distance.get("overrides_ms") else "client on loopback (no distance)")
    say(f"lag {lag['lag_ms']:g} ms ± {lag['jitter_ms']:g} ms"
               + (" plus half the round trip between the regions" if lag.get("network")
                  else "") + f"; {document['pending']} deliveries pending"
               + ("; deliveries PAUSED" if document["paused"] else ""))
    medians = lag.get("median_ms") or {}
    if medians:
        say("median lag per pair: " + ", ".join(
            f"{pair.replace('>', ' → ')} {ms:g} ms" for pair, ms in sorted(medians.items())))
    capacity = document.get("capacity") or {}
    if capacity.get("table_wcu"):
        backlog = capacity.get("backlog_s") or {}
        behind = ", ".join(f"{region} {s:.1f} s" for region, s in sorted(backlog.items()))
        say(f"provisioned: {capacity['table_wcu']:g} WCU in every replica (writes beyond "
            "it refused, replicated writes queue)" + (f"; behind: {behind}" if behind
                                                      else ""))
    for group in document["global_tables"]:
        replicas = ", ".join(f"{r['RegionName']} {r['ReplicaStatus']}" for r in group["replicas"])
        say(f"table {group['table']}: {replicas}")
    from gtbench.cli.fault import describe_fault

    faults = document.get("faults") or []
    say(f"faults in force: {len(faults)}" if faults else "no faults in force")
    for fault in faults[:20]:
        say(f"  {describe_fault(fault)}")
    if len(faults) > 20:
        say(f"  and {len(faults) - 20} more (`gtbench local fault list`)")
    for account, regions in sorted((document.get("tables") or {}).items()):
        for region, names in sorted(regions.items()):
            say(f"tables in {region} (account {account}): {', '.join(names)}")
    problem = lifecycle.health_problem(document, running.url)
    if problem:
        raise GtbenchError(problem, hint="restart it: `gtbench local stop`, then "
                                         "`gtbench local start`")



def describe_distance(distance: dict[str, Any]) -> str:
    """``in us-west-2: eu-west-1 118 ms, us-west-2 0 ms`` from the emulator's status."""
    where = (f"in {distance['client_region']}" if distance.get("client_region")
             else "by round trip")
    from gtbench.emulator.distance import format_trips

    trips = format_trips(sorted(distance.get("rtt_ms", {}).items()))
    return f"{where}: {trips}" if trips else where


ENV_NAMES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_DEFAULT_REGION", "AWS_REGION")


@local_group.command("env")
@click.option("--region", default="us-west-2", show_default=True,
              help="The region SDKs and the CLI use when none is given.")
@click.option("--endpoint-url", metavar="URL", envvar="GTBENCH_ENDPOINT_URL",
              callback=check_endpoint,
              help="The emulator [default: the one `gtbench local start` runs].")
@click.option("--unset", is_flag=True, help="Print the lines that undo it.")
def env(region: str, endpoint_url: str | None, unset: bool) -> None:
    """Print shell lines that point the AWS CLI and SDKs at the running emulator.

    \b
      eval "$(gtbench local env)"
      aws dynamodb list-tables            # no --endpoint-url, no credentials
      eval "$(gtbench local env --unset)"

    The emulator checks no credentials, so the lines set fixed dummy keys (your
    own are never sent to it) and unset AWS_PROFILE and AWS_SESSION_TOKEN for
    this shell. AWS_ENDPOINT_URL_DYNAMODB is read by boto3 1.28.57 and later, the
    AWS CLI (v1.29.57 and v2.13.23 on), and the other current AWS SDKs.
    """
    from gtbench.regions import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY

    if unset:
        click.echo("\n".join(f"unset {name}" for name in ENV_NAMES))  # a line each: 80 columns
        return
    if endpoint_url is None:
        running = lifecycle.discover()
        if running is None:
            raise GtbenchError("no emulator is running",
                               hint="start one with `gtbench local start`")
        endpoint_url = running.url
    elif lifecycle.probe(endpoint_url) is None:
        raise GtbenchError(f"no gtbench emulator answers at {endpoint_url}")
    click.echo(f"# the gtbench emulator at {endpoint_url}")
    click.echo('# undo: eval "$(gtbench local env --unset)"')
    values = (endpoint_url, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, region, region)
    for name, value in zip(ENV_NAMES, values, strict=True):
        click.echo(f"export {name}={shlex.quote(value)}")
    click.echo("unset AWS_PROFILE AWS_SESSION_TOKEN")

local_group.add_command(fault_group)
