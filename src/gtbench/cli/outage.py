"""``gtbench outage``: cut a region off under a steady workload; measure loss and healing."""

from __future__ import annotations

from typing import Any

import click

from gtbench.cli.options import (
    Finite,
    json_option,
    png_option,
    settings_from,
    target_options,
    yes_option,
)
from gtbench.regions import AWS


@click.command("outage")
@target_options
@click.option("--region", metavar="REGION",
              help="The region to cut off [default: the second of --regions].")
@click.option("--duration", "duration_s", type=Finite(min=0.5, max=3600), default=10.0,
              show_default=True, help="Seconds the region stays cut off.")
@click.option("--rate", type=Finite(min=0.5, max=200), default=10.0,
              show_default=True, help="Writes per second in every region.")
@click.option("--keys", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Items the regions write to (besides one counter item).")
@click.option("--increment-share", type=Finite(0, 1), default=0.2,
              show_default=True,
              help="Share of the writes that are read-modify-write increments of the counter.")
@click.option("--lead", "lead_s", type=Finite(min=0, max=600), default=2.0,
              show_default=True, help="Seconds of steady workload before the cut.")
@click.option("--settle-timeout", "settle_s", type=Finite(min=1, max=3600), default=60.0,
              show_default=True,
              help="Seconds to watch for the regions to agree after the cut ends.")
@click.option("--fis-role-arn", metavar="ARN", envvar="GTBENCH_FIS_ROLE_ARN",
              help="With --target aws: the IAM role the FIS experiment runs as (see "
                   "Permissions in docs/aws.md).")
@png_option("Also draw the figure `gtbench report --png` draws from the saved result: "
            "the items the regions disagreed on over time, the cut shaded.")
@json_option
@yes_option
def outage_command(target: str, endpoint_url: str | None,
                   regions: tuple[str, ...], table: str, profile: str | None,
                   region: str | None, duration_s: float, rate: float, keys: int,
                   increment_share: float, lead_s: float, settle_s: float,
                   fis_role_arn: str | None, png_path: str | None, json_path: str | None,
                   yes: bool) -> None:
    """Cut a region off under a steady workload, and measure what is lost and how it heals.

    Every region writes --rate times a second to shared items (a unique id per
    write, a share of them read-modify-write increments) while gtbench reads
    every region. Then REGION is cut off for --duration seconds: on the
    emulator with its isolate fault, on AWS with an AWS FIS experiment
    (aws:dynamodb:global-table-pause-replication) that gtbench creates, starts,
    stops and deletes. The writers stop as the cut ends; gtbench reads every
    region until they agree.

    \b
    It reports, per region and over time:
      writes acknowledged, refused and of unknown outcome during the cut;
      items the regions disagreed on, second by second;
      the recovery point: writes acknowledged in REGION that no other
        region held when the cut ended, and their age;
      the time from the end of the cut to agreement;
      acknowledged writes lost in the catch-up, and what replaced each;
      increments lost.

    On an MRSC table the cut region refuses writes and strong reads instead,
    and no acknowledged write is lost. Each write adds its id to the item's
    Writes set, so a write missing from the final image is a write that last
    writer wins threw away: counted exactly, not sampled.
    """
    from gtbench import document
    from gtbench.cli.session import RunSession, with_png
    from gtbench.errors import UsageError
    from gtbench.experiments import outage
    from gtbench.report import outage as report

    settings = settings_from(target, endpoint_url, regions, table, profile)
    cut_region = region or (settings.regions[1] if len(settings.regions) > 1 else "")
    if len(settings.regions) < 2:
        raise UsageError("an outage needs at least two regions in --regions")
    if cut_region not in settings.regions:
        raise UsageError(f"--region {cut_region} is not one of --regions "
                         f"({','.join(settings.regions)})")
    if target == AWS and not fis_role_arn:
        raise UsageError("on AWS the cut is an AWS FIS experiment: give the IAM role it runs "
                         "as with --fis-role-arn (see Permissions in docs/aws.md)")
    session = RunSession(settings, json_path)
    terminal, client_regions, account = session.terminal, session.regions, session.account
    session.require_table()
    total = int(rate * (lead_s + duration_s)) * len(settings.regions)
    if target == AWS and not yes:
        click.confirm(
            f"Write about {total} items under PK={outage.OUTAGE_PK} in table {settings.table} "
            f"({', '.join(settings.regions)}), AWS account {account}, and cut {cut_region} off "
            f"for {duration_s:g} s with an AWS FIS experiment (pause-replication) run as "
            f"{fis_role_arn}; gtbench stops the experiment and deletes its template at the "
            "end. The items stay until `gtbench teardown`. This is billable (see Cost in "
            "docs/aws.md). Continue?", abort=True, err=True)
    from gtbench.analysis import heartbeat

    plan = outage.OutagePlan(cut_region, duration_s, rate, keys, increment_share, lead_s,
                             settle_timeout_s=settle_s,
                             min_stall_s=heartbeat.AWS_MIN_STALL_S if target == AWS
                             else heartbeat.MIN_STALL_S)
    cut = _cut(settings, client_regions, cut_region, duration_s, fis_role_arn)

    class Shown(outage.Progress):
        def step(self, message: str) -> None:
            terminal.note(message)

        def tick(self, result: Any) -> None:
            writes = list(result.writes)
            if writes:
                acked = sum(1 for w in writes if w.op.ok)
                terminal.note(f"  {len(writes)} writes, {acked} acknowledged, "
                              f"{len(writes) - acked} not")

    with session.measuring("outage", lead_s + duration_s + cut.allowance_s + settle_s + 60):
        result = outage.run_outage(client_regions, settings, plan, cut, Shown())
    session.conclude(result, lambda: document.outage_document(result, session.context),
                     with_png(report.outage_tables, png_path), done="the operations measured")


def _cut(settings: Any, regions: Any, region: str, duration_s: float,
         role_arn: str | None) -> Any:
    from gtbench.errors import GtbenchError
    from gtbench.tables import provision

    if settings.target != AWS:
        from gtbench.local import truth
        from gtbench.local.cut import LocalCut

        emulator = truth.emulator_settings(str(regions.endpoint_url)) or {}
        return LocalCut(str(regions.endpoint_url), region, duration_s,
                        float(emulator.get("fis_delay_s", 0.0)))
    from gtbench.experiments.fis import FisCut

    description = provision.describe(regions.client(region), settings.table)
    if description is None:
        raise GtbenchError(f"table {settings.table} does not exist in {region}",
                           hint="create it with `gtbench setup`")
    return FisCut(regions.service_client("fis", region), description["TableArn"],
                  str(role_arn), duration_s)
