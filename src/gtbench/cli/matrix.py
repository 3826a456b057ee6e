"""``gtbench matrix``: every ordered pair of regions, timed in one run."""

from __future__ import annotations

import click

from gtbench.cli.options import (
    check_probe_flags,
    clock_error_option,
    confirm_billable,
    json_option,
    png_option,
    resolution_option,
    settings_from,
    target_options,
    timeout_option,
    yes_option,
)
from gtbench.report.common import plural


@click.command("matrix")
@target_options
@click.option("--trials", type=click.IntRange(1, 10_000), default=10, show_default=True,
              help="Trials per ordered pair.")
@resolution_option(5.0, "The spacing between reads in each reading region.")
@timeout_option()
@click.option("--probes", "use_probes", is_flag=True,
              help="Time from probes inside the regions (see `race --probes`): bounds "
                   "without the client's round trips, and each pair's ping-pong.")
@clock_error_option
@png_option("Also draw the matrix: p50 lag by source and destination (p99 in each cell), "
            "beside the bounds' widths.")
@json_option
@yes_option
def matrix_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                   table: str, profile: str | None, trials: int, resolution_ms: float,
                   timeout_s: float, use_probes: bool, clock_error_ms: float | None,
                   png_path: str | None, json_path: str | None, yes: bool) -> None:
    """Time replication between every ordered pair of --regions, in one run.

    Which region sees a write from another soonest? gtbench makes (or completes) the
    table with every region as a replica, as `gtbench setup` does, then races every
    ordered pair, round by round (each round starts one pair later), so that no pair
    is measured only early or only late. Each cell is a pair's p50 lag, with p99, max
    and the median width of the bounds; with --probes also the round trip between the
    two regions (ping-pong), and on an MRSC table write latency and stale strong reads.

    The document is `experiment: "matrix"` with race's trial fields; `gtbench report`
    shows it again, `--check` recomputes it, `--png` draws it.
    """
    from gtbench import document
    from gtbench.cli.provision import RichReporter, timing_for
    from gtbench.cli.session import RunSession, with_png
    from gtbench.experiments import matrix
    from gtbench.probes.race import run_race_via
    from gtbench.report import matrix as report
    from gtbench.tables import provision

    check_probe_flags(use_probes, clock_error_ms)
    settings = settings_from(target, endpoint_url, regions, table, profile)
    session = RunSession(settings, json_path, calls_within_s=timeout_s)
    terminal, client_regions = session.terminal, session.regions
    pairs = matrix.pairs_of(settings.regions)
    confirm_billable(settings, session.account,
                     f"Create or complete the table with replicas in every region, then write "
                     f"{trials * len(pairs)} new items and poll each pair", yes)
    reporter = RichReporter(terminal)
    try:
        provision.setup(client_regions, settings, timing=timing_for(settings, None),
                        reporter=reporter)
    finally:
        reporter.close()
    plan = matrix.matrix_plan(settings.regions, trials, timeout_s=timeout_s,
                              resolution_s=None if use_probes else resolution_ms / 1000,
                              interval_s=resolution_ms / 1000, pollers=1 if use_probes else 4)
    terminal.note(f"racing {len(pairs)} ordered pairs, {trials} rounds, "
                  + ("from probes in the regions" if use_probes else "from here"))
    shown = report.progress_line(terminal, len(pairs) * trials)
    with session.measuring("matrix", trials * len(pairs) * (timeout_s + 2)):
        result = run_race_via(client_regions, settings, plan, use_probes, clock_error_ms,
                              shown)

    session.conclude(result, lambda: document.matrix_document(result, session.context),
                     with_png(report.matrix_tables, png_path),
                     done=plural(len(result.trials), "completed trial"))
