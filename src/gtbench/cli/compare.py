"""``gtbench compare``: MREC and MRSC side by side, from the same regions, one run."""

from __future__ import annotations

import click

from gtbench.cli.options import (
    DEMO_KEY,
    check_endpoint,
    check_probe_flags,
    clock_error_option,
    json_option,
    png_option,
    regions_callback,
    resolution_option,
    table_callback,
    timeout_option,
    yes_option,
)
from gtbench.regions import AWS, LOCAL

DEFAULT_REGIONS = "us-west-2,us-east-1,us-east-2"


@click.command("compare")
@click.option("--target", type=click.Choice([LOCAL, AWS]), default=LOCAL,
              envvar="GTBENCH_TARGET", show_default=True, show_envvar=True,
              help="local: gtbench's emulator (started on demand). aws: real DynamoDB with "
                   "your boto3 credentials; billable.")
@click.option("--endpoint-url", metavar="URL", envvar="GTBENCH_ENDPOINT_URL",
              show_envvar=True, callback=check_endpoint,
              help="One DynamoDB endpoint for every region, such as a running emulator.")
@click.option("--regions", callback=regions_callback, default=DEFAULT_REGIONS,
              metavar="REGIONS", show_default=True,
              help="Three regions MRSC supports; both tables use all three, and the first "
                   "two write the conflicts.")
@click.option("--prefix", default="gtbench-compare", callback=table_callback,
              show_default=True,
              help="The two tables are PREFIX-RUN-mrec and PREFIX-RUN-mrsc, made for the run "
                   "(RUN: six hex digits of its own).")
@click.option("--profile", metavar="NAME", envvar="AWS_PROFILE",
              help="AWS named profile (with --target aws).")
@click.option("--trials", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Race trials per region pair (each region writes, the next one reads).")
@click.option("--conflicts", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Trials of two writes to one item at the same instant.")
@click.option("--increments", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Read-modify-write updates per writing region.")
@resolution_option(10.0, "The race's spacing between reads in each region, per kind of "
                         "read. Coarser than race's default: the reads also load what they "
                         "time.")
@timeout_option()
@click.option("--keep", is_flag=True, help="Leave both tables in place at the end.")
@click.option("--probes", "use_probes", is_flag=True,
              help="Time the race from probes inside the regions (as `race --probes`): "
                   "latencies are then in-region, and each lag's bound carries the probes' "
                   "clock error instead of the client's round trips.")
@clock_error_option
@png_option("Also draw the figure `gtbench report --png` draws from the saved result: "
            "a latency CDF per operation, both kinds.")
@json_option
@yes_option
def compare_command(target: str, endpoint_url: str | None,
                    regions: tuple[str, ...], prefix: str, profile: str | None, trials: int,
                    conflicts: int, increments: int, resolution_ms: float, timeout_s: float,
                    keep: bool, use_probes: bool, clock_error_ms: float | None,
                    png_path: str | None, json_path: str | None, yes: bool) -> None:
    """Run the same workloads on an MREC and an MRSC table, and show them side by side.

    Which kind of global table should you use, and what does it cost? gtbench
    creates PREFIX-RUN-mrec (multi-Region eventual consistency, last writer wins)
    and PREFIX-RUN-mrsc (multi-Region strong consistency) in the same three
    regions, then runs on each:

    \b
      a race around the regions, with strong and eventual reads:
        request latency per operation and region (p50, p99), strong reads
        that were stale after the write's acknowledgement, and the lag;
      two writes to one item at the same instant, --conflicts times:
        lost unseen (MREC) or refused with ReplicatedWriteConflictException
        (MRSC);
      read-modify-write increments from two regions: updates lost, or
        refused and retried;
      and counts every request each mode spent.

    Both tables are removed after, on every path, unless --keep. `gtbench
    report FILE --png cdf.png` draws a latency CDF per operation, both kinds on
    one axis.
    """
    from gtbench import document
    from gtbench.cli.provision import RichReporter, stop_idle_emulator, timing_for
    from gtbench.cli.session import RunSession, with_png
    from gtbench.errors import UsageError
    from gtbench.experiments import compare
    from gtbench.regions import Settings
    from gtbench.report import compare as report
    from gtbench.tables import provision

    run = compare.new_run()  # two runs at once never share a table
    tables = [compare.table_for(prefix, suffix, run) for _, suffix, _ in compare.MODES]
    settings = Settings(target, endpoint_url, regions, tables[0], profile)
    problem = provision.strong_problem(settings, None)
    if problem:  # the MRSC table must be possible before the MREC one is made
        raise UsageError(problem)
    session = RunSession(settings, json_path,
                         tables=f"tables {tables[0]} (MREC), {tables[1]} (MRSC)",
                         calls_within_s=timeout_s)
    terminal, client_regions, account = session.terminal, session.regions, session.account
    leftovers = compare.leftovers_note(client_regions, prefix)
    if leftovers:
        terminal.warn(leftovers)
    if target == AWS and not yes:
        after = "kept after (--keep)" if keep else "deleted after"
        click.confirm(
            f"Create the on-demand tables {tables[0]} (MREC) and {tables[1]} (MRSC) in AWS "
            f"account {account}, regions {', '.join(regions)}; write about "
            f"{(trials * len(regions) + conflicts * 2 + increments * 2) * 2 + 26} items and "
            f"read them many times; both {after}. This is billable (see Cost in docs/aws.md). "
            "Continue?", abort=True, err=True)
    check_probe_flags(use_probes, clock_error_ms)
    probes = None
    if use_probes:
        from gtbench.probes import transport

        probes = transport.for_settings(client_regions, settings, clock_error_ms)
    plan = compare.ComparePlan(regions, trials, conflicts, increments,
                               resolution_s=resolution_ms / 1000, timeout_s=timeout_s,
                               keep=keep)

    waits = RichReporter(terminal)

    class Shown(compare.Progress):
        def step(self, message: str) -> None:
            waits.close()
            terminal.note(f"[bold]{message}[/]")

        def trial(self, title: str, done: int, total: int) -> None:
            waits.progress(title, done, total)

        def reporter(self) -> provision.Reporter:
            return waits

    try:
        with session.measuring():
            result = compare.run_compare(client_regions, settings, plan, prefix, Shown(),
                                         timing=timing_for(settings, None), run=run,
                                         probes=probes, clock_error_ms=clock_error_ms)
    finally:
        waits.close()
    kept = [m.table for m in result.modes if not m.removed]

    # As teardown does; inside the demo, its own clean-up decides (a line saying the
    # emulator keeps running, just before the demo stops it, told the user wrong).
    if target == LOCAL and endpoint_url is None and not kept \
            and not click.get_current_context().meta.get(DEMO_KEY):
        stop_idle_emulator(client_regions, terminal)
    session.conclude(result, lambda: document.compare_document(result, session.context),
                     with_png(report.compare_tables, png_path), done="the runs completed",
                     notes=[f"kept {', '.join(kept)}; remove each with " + " and ".join(
                         f"`gtbench teardown --table {name} --regions {','.join(regions)}`"
                         for name in kept)] if kept else [])
