"""``gtbench conflict``: stage concurrent writes and show last-writer-wins."""

from __future__ import annotations

import click

from gtbench.cli.options import (
    Finite,
    confirm_billable,
    finite,
    json_option,
    png_option,
    settings_from,
    target_options,
    timeout_option,
    yes_option,
)
from gtbench.errors import UsageError
from gtbench.report.common import plural

# Writes further apart than this are not concurrent; a run sleeps through each offset.
MAX_OFFSET_MS = 60_000.0
MAX_OFFSETS = 100


def _offsets(ctx: click.Context, param: click.Parameter, value: str | None
             ) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        offsets = tuple(finite(part, low=-MAX_OFFSET_MS, high=MAX_OFFSET_MS)
                        for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of milliseconds, "
                                 f"each from -{MAX_OFFSET_MS:g} to {MAX_OFFSET_MS:g}",
                                 ctx, param) from None
    if not offsets:
        raise click.BadParameter("give at least one offset", ctx, param)
    if len(set(offsets)) < len(offsets):
        raise click.BadParameter(f"{value!r} names an offset twice; each is run --trials "
                                 "times already", ctx, param)
    if len(offsets) > MAX_OFFSETS:
        raise click.BadParameter(f"at most {MAX_OFFSETS} offsets in one sweep", ctx, param)
    return offsets


@click.command("conflict")
@target_options
@click.option("--mode", type=click.Choice(["overwrite", "increment"]), default="overwrite",
              show_default=True,
              help="overwrite: one PutItem per region with its own value. increment: the "
                   "workshop's SET Bookmark = Bookmark + :inc, --increments times per region.")
@click.option("--trials", type=click.IntRange(1, 10_000), default=5, show_default=True,
              help="Trials per offset; each uses a fresh item.")
@click.option("--offset-ms", type=Finite(-MAX_OFFSET_MS, MAX_OFFSET_MS), default=None,
              show_default="0",
              help="How long after the first writer the second sends, from -60000 to 60000; "
                   "negative reverses the order.")
@click.option("--offsets", callback=_offsets, metavar="MS,MS,...",
              help="Sweep several offsets (e.g. 0,250,500,1000,2000), --trials each: the "
                   "share of earlier writes lost unseen traces the conflict window.")
@click.option("--align", type=click.Choice(["send", "arrival"]), default="send",
              show_default=True,
              help="send: the offset is between the requests leaving this machine. "
                   "arrival: between their reaching the regions; each writer leaves half "
                   "its measured round trip earlier (from afar, the nearer region's write "
                   "otherwise lands first).")
@click.option("--between", "between", metavar="REGION,REGION",
              help="The two writing regions [default: the first two of --regions].")
@click.option("--increments", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="increment mode: updates per region.")
@click.option("--pace-ms", type=Finite(min=0, max=60000), default=100.0, show_default=True,
              help="increment mode: time between one writer's updates.")
@click.option("--same-sign", is_flag=True,
              help="increment mode: +1 from both regions instead of +1 and -1, so every "
                   "lost update shows in the total.")
@click.option("--pollers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Pollers per region, staggered by interval/pollers.")
@click.option("--interval-ms", type=Finite(min=1, max=60000), default=50.0, show_default=True,
              help="Each poller's time between strongly consistent reads.")
@timeout_option("Seconds after the last write that a trial waits for the regions to agree.",
                low=0.1)
@click.option("--timelines/--no-timelines", default=True, show_default=True,
              help="Show the first trial's timeline, side by side per region, as an "
                   "example (the others get a line each).")
@click.option("--verbose", "-v", is_flag=True,
              help="Show every trial's timeline, not only the first.")
@png_option("Also draw the figure `gtbench report --png` draws from the saved result: "
            "each trial's timeline, or the lost updates, or the conflict window per offset.")
@json_option
@yes_option
def conflict_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                     table: str, profile: str | None, mode: str, trials: int,
                     offset_ms: float | None, offsets: tuple[float, ...] | None,
                     align: str, between: str | None, increments: int, pace_ms: float,
                     same_sign: bool,
                     pollers: int, interval_ms: float, timeout_s: float, timelines: bool,
                     verbose: bool, png_path: str | None,
                     json_path: str | None, yes: bool) -> None:
    """Write one item from two regions at once, and watch last-writer-wins decide.

    Two writers on warm connections, one per region, are released together; the
    second sends --offset-ms after the first. Both regions are polled with
    strongly consistent reads until they agree. Each trial shows what each
    region held over time, which write won, whether the other was ever seen
    outside its own region or vanished as if it never happened, and how long
    the regions disagreed.

    Whether the later write won is known on the emulator from its ground truth;
    on AWS only where the two writes' send-to-acknowledge windows do not
    overlap. Otherwise the trial is "too close to call".

    \b
    Examples:
      gtbench conflict                          writes 0 ms apart, 5 trials
      gtbench conflict --offsets 0,250,500,1000,2000
      gtbench conflict --mode increment --increments 10 --pace-ms 50
    """
    from gtbench import document
    from gtbench.cli.session import RunSession, with_png
    from gtbench.experiments import conflict
    from gtbench.report import conflict as report

    settings = settings_from(target, endpoint_url, regions, table, profile)
    if between:
        pair = tuple(part.strip() for part in between.split(","))
        if len(pair) != 2 or pair[0] == pair[1]:
            raise UsageError(f"--between needs two different regions, not {between!r}")
    elif len(settings.regions) < 2:
        raise UsageError("a conflict needs two regions: give --regions A,B")
    else:
        pair = settings.regions[:2]
    for region in pair:
        if region not in settings.regions:
            raise UsageError(f"{region} is not one of --regions ({','.join(settings.regions)})")
    if offsets is not None and offset_ms is not None:
        raise UsageError("give --offset-ms or --offsets, not both")
    offsets_ms = offsets if offsets is not None else (offset_ms or 0.0,)
    plan = conflict.ConflictPlan(
        (pair[0], pair[1]), offsets_ms, trials,
        conflict.INCREMENT if mode == "increment" else conflict.OVERWRITE, increments, pace_ms,
        same_sign, pollers, interval_ms / 1000, timeout_s,
        "arrival" if align == "arrival" else "send")
    session = RunSession(settings, json_path, calls_within_s=timeout_s)
    terminal, client_regions = session.terminal, session.regions
    session.require_table()
    per_trial = 2 * increments if mode == "increment" else 2
    confirm_billable(settings, session.account,
                     f"Make {per_trial * trials * len(offsets_ms)} writes to "
                     f"{trials * len(offsets_ms)} new items under PK={conflict.CONFLICT_PK} "
                     f"from {pair[0]} and {pair[1]} and poll both until they agree", yes)
    what = (f"{increments} updates per region, {pace_ms:g} ms apart"
            if mode == "increment" else "one write per region")
    at = "offset" if len(offsets_ms) == 1 else "offsets"
    terminal.note(f"staging {plural(trials, 'trial')} at {at} "
                  f"{', '.join(f'{o:g}' for o in offsets_ms)} ms between {pair[0]} and "
                  f"{pair[1]}: {what}")

    def show(trial: conflict.ConflictTrial) -> None:
        t = document.conflict_trial(trial)
        if verbose or (timelines and t["index"] == 0):
            terminal.print(report.trial_view(t, list(pair)))
        else:
            terminal.print(report.trial_line(t))

    longest_s = max(abs(o) for o in offsets_ms) / 1000 + timeout_s + pace_ms * increments / 1000
    with session.measuring("conflict", trials * len(offsets_ms) * (longest_s + 2)):
        result = conflict.run_conflict(client_regions, settings, plan, on_trial=show)
    session.conclude(result, lambda: document.conflict_document(result, session.context),
                     with_png(report.conflict_tables, png_path),
                     done=plural(len(result.trials), "completed trial"))

