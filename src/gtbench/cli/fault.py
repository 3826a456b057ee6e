"""``gtbench local fault``: the emulator's nemesis, from the command line."""

from __future__ import annotations

import json
from typing import Any

import click

from gtbench.cli.options import Finite, check_endpoint
from gtbench.errors import UsageError
from gtbench.local import lifecycle
from gtbench.terminal import say


def _emulator(endpoint_url: str | None) -> str:
    """The emulator to talk to: the one given, or the one running in the background."""
    if endpoint_url:
        if lifecycle.probe(endpoint_url) is None:
            raise UsageError(f"no gtbench emulator answers at {endpoint_url}")
        return endpoint_url
    running = lifecycle.discover()
    if running is None:
        raise UsageError("no emulator is running",
                         hint="start one with `gtbench local start`, or pass --endpoint-url")
    return running.url


def describe_fault(fault: dict[str, Any]) -> str:
    """One fault in words, with when it ends (in seconds from now, and the clock time)."""
    if fault["kind"] == "outage":
        what = f"outage of {fault['region']} ({fault['mode']})"
    elif fault["kind"] == "throttle":
        which = "/".join(fault["operations"]) if fault.get("operations") else "requests"
        what = (f"throttle {fault['share']:.0%} of {fault['region']}'s {which} with "
                f"{fault['code']}")
    elif fault["kind"] == "isolate":
        what = (f"{fault['region']} isolated (replication held both ways; an MRSC region "
                "refuses writes and strong reads)")
    else:
        what = f"replication paused from {fault['source']} to {fault['target']}"
    ends = fault.get("ends_at")
    if ends is None:
        return f"#{fault['id']} {what}, until cleared"
    import time

    left = max(0.0, float(ends) - time.time())
    at = time.strftime("%H:%M:%S", time.localtime(float(ends)))
    return f"#{fault['id']} {what}, ends in {left:.0f} s (at {at})"


endpoint_option = click.option(
    "--endpoint-url", metavar="URL", envvar="GTBENCH_ENDPOINT_URL", callback=check_endpoint,
    help="The emulator [default: the one `gtbench local start` runs].")
duration_option = click.option(
    "--for", "duration_s", type=Finite(min=0, min_open=True, max=86400), metavar="SECONDS",
    help="End the fault by itself after this long [default: until cleared].")
json_flag = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")


def _add(url: str, spec: dict[str, Any], as_json: bool, duration_s: float | None) -> None:
    if duration_s is not None:
        spec["duration_s"] = duration_s
    answer = lifecycle.control(url, "faults", "POST", spec)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
    else:
        say(f"started {describe_fault(answer['fault'])}; clear it with "
            f"`gtbench local fault clear {answer['fault']['id']}`")


@click.group("fault")
def fault_group() -> None:
    """Inject faults into the emulator: region outages, throttling, replication pauses.

    \b
    outage REGION     the region's requests fail (HTTP 503, or --mode drop: the
                      connection closes unanswered); replication to and from it
                      waits until the outage ends, and nothing is lost
    throttle REGION   --share of its requests fail with ThrottlingException or
                      ProvisionedThroughputExceededException; a BatchWriteItem
                      returns its throttled items in UnprocessedItems
    pause SRC:DST     replication from SRC to DST waits (one direction)
    list, clear [ID]  what is in force; end one fault, or all of them

    \b
    Examples:
      gtbench local fault outage eu-west-1 --for 5
      gtbench local fault throttle us-west-2 --share 0.3
      gtbench local fault pause us-west-2:eu-west-1
      gtbench local fault clear
    """


@fault_group.command("outage")
@click.argument("region")
@click.option("--mode", type=click.Choice(["error", "drop"]), default="error", show_default=True,
              help="error: HTTP 503 ServiceUnavailable. drop: the connection closes unanswered.")
@duration_option
@endpoint_option
@json_flag
def outage(region: str, mode: str, duration_s: float | None, endpoint_url: str | None,
           as_json: bool) -> None:
    """Cut REGION off: its requests fail and its replication waits."""
    spec: dict[str, Any] = {"kind": "outage", "region": region, "mode": mode}
    _add(_emulator(endpoint_url), spec, as_json, duration_s)


@fault_group.command("throttle")
@click.argument("region")
@click.option("--share", type=Finite(0, 1, min_open=True), default=0.3,
              show_default=True, help="The share of the region's requests that are refused.")
@click.option("--code", type=click.Choice(["ThrottlingException",
                                           "ProvisionedThroughputExceededException"]),
              default="ThrottlingException", show_default=True, help="The error they get.")
@click.option("--ops", metavar="OP,OP,...",
              help="Only these operations, such as PutItem,UpdateItem [default: every one].")
@duration_option
@endpoint_option
@json_flag
def throttle(region: str, share: float, code: str, ops: str | None, duration_s: float | None,
             endpoint_url: str | None, as_json: bool) -> None:
    """Throttle a share of REGION's requests, as DynamoDB does under load."""
    spec: dict[str, Any] = {"kind": "throttle", "region": region, "share": share, "code": code}
    if ops:
        spec["operations"] = [o.strip() for o in ops.split(",") if o.strip()]
    _add(_emulator(endpoint_url), spec, as_json, duration_s)


@fault_group.command("pause")
@click.argument("link", metavar="SRC:DST")
@duration_option
@endpoint_option
@json_flag
def pause(link: str, duration_s: float | None, endpoint_url: str | None,
          as_json: bool) -> None:
    """Hold replication from SRC to DST (give DST:SRC too to cut both ways)."""
    source, sep, target = link.partition(":")
    if not sep or not source or not target:
        raise UsageError(f"{link!r} is not SRC:DST, such as us-west-2:eu-west-1")
    spec: dict[str, Any] = {"kind": "pause", "source": source, "target": target}
    _add(_emulator(endpoint_url), spec, as_json, duration_s)


@fault_group.command("isolate")
@click.argument("region")
@duration_option
@endpoint_option
@json_flag
def isolate(region: str, duration_s: float | None, endpoint_url: str | None,
            as_json: bool) -> None:
    """Cut REGION off as AWS FIS's pause-replication does (what `gtbench outage` uses)."""
    spec: dict[str, Any] = {"kind": "isolate", "region": region}
    _add(_emulator(endpoint_url), spec, as_json, duration_s)


@fault_group.command("list")
@endpoint_option
@json_flag
def list_faults(endpoint_url: str | None, as_json: bool) -> None:
    """Show the faults in force."""
    faults = lifecycle.control(_emulator(endpoint_url), "faults")["faults"]
    if as_json:
        click.echo(json.dumps({"faults": faults}, indent=2))
    elif not faults:
        click.echo("no faults are in force")
    for fault in faults if not as_json else []:
        say(describe_fault(fault))


@fault_group.command("clear")
@click.argument("fault_id", metavar="[ID]", type=int, required=False)
@endpoint_option
def clear(fault_id: int | None, endpoint_url: str | None) -> None:
    """End one fault, or every fault. Held replication then resumes."""
    url = _emulator(endpoint_url)
    if fault_id is None:
        cleared = lifecycle.control(url, "faults", "DELETE")["cleared"]
        click.echo(f"cleared {cleared} fault{'' if cleared == 1 else 's'}")
    else:
        lifecycle.control(url, f"faults/{fault_id}", "DELETE")
        click.echo(f"cleared fault #{fault_id}")
