"""``gtbench race``: time replication with a rigorous bound on each lag."""

from __future__ import annotations

from typing import Any

import click

from gtbench import document
from gtbench.awsrules import STRONG
from gtbench.cli.options import (
    Finite,
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
from gtbench.cli.session import RunSession, with_png
from gtbench.errors import UsageError
from gtbench.experiments import race
from gtbench.experiments.load import DEFAULT_RATES, WARM_UP_S, parse_rates
from gtbench.experiments.sweep import run_race_under_load
from gtbench.probes.handler import LOAD_PARTITIONS, load_pk
from gtbench.probes.race import PROBE_INTERVAL_MS, PROBE_POLLERS, run_race_via
from gtbench.regions import Regions, Settings
from gtbench.report import race as report
from gtbench.report.common import plural
from gtbench.terminal import Terminal


@click.command("race")
@target_options
@click.option("--trials", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="Trials per region pair.")
@click.option("--from", "from_region", metavar="REGION",
              help="The writing region [default: the home region].")
@click.option("--to", "to_regions", metavar="REGION", multiple=True,
              help="A reading region; repeatable [default: every other region].")
@resolution_option(5.0, "The spacing between reads in the reading region. gtbench measures "
                        "each region's round trip first and runs as many staggered pollers "
                        "as it takes to read that often (a poller can send only once per "
                        "round trip).")
@click.option("--pollers", type=click.IntRange(1, 48), default=None,
              help="Experts: a fixed number of pollers, staggered by interval/pollers, "
                   "instead of --resolution-ms [default with --interval-ms: 4].")
@click.option("--interval-ms", type=Finite(min=1, max=60000), default=None,
              help="Experts: each fixed poller's time between reads [default with --pollers: "
                   "100].")
@timeout_option()
@click.option("--eventual", is_flag=True,
              help="Also poll with eventually consistent reads, as many and as often as the "
                   "strong ones: when a reader that reads that way sees the write. On a "
                   "strongly consistent (MRSC) table this is where replication lag still "
                   "shows.")
@click.option("--cloudwatch", is_flag=True,
              help="Also show CloudWatch ReplicationLatency for each pair: AWS's average, "
                   "minimum and maximum per 5-minute period over all of the table's "
                   "replicated writes, waited for until every period of the run has "
                   "arrived (the emulator publishes it the same way).")
@click.option("--cloudwatch-wait", "cloudwatch_wait_s", type=Finite(min=0, max=3600),
              default=900.0, show_default=True,
              help="Seconds to wait for CloudWatch's datapoints after the race (they arrive "
                   "minutes late); Ctrl-C stops waiting and keeps the race.")
@click.option("--probes", "use_probes", is_flag=True,
              help="Time from probes inside the regions instead of from here: the source "
                   "region's probe writes, the target's polls (--pollers threads, "
                   f"{PROBE_POLLERS} by default, each every --interval-ms, "
                   f"{PROBE_INTERVAL_MS:g}) and echoes the write back (ping-pong). On AWS "
                   "they are Lambda functions (`gtbench probes deploy`); on the emulator, "
                   "local workers placed in their regions. Bounds carry twice the clock "
                   "error instead of the round trips.")
@click.option("--load", "load_rates", metavar="RATE[,RATE...]", is_flag=False,
              flag_value=DEFAULT_RATES, default=None,
              help="Lag under load: run the trials once per rate, while background "
                   "writers keep that many writes per second on keys of their own in the "
                   "source region; the summary shows lag against rate. Alone, --load runs "
                   f"{DEFAULT_RATES}. On a provisioned table every replica has one write "
                   "capacity, so the source refuses writes beyond it (counted as failed) "
                   "before a replica falls behind (rehearse it with `gtbench local start "
                   "--wcu WCU`); an on-demand table keeps up.")
@click.option("--load-warm-up", "load_warm_up_s", type=Finite(min=0, max=3600),
              default=WARM_UP_S, show_default=True,
              help="Seconds each load step runs before its first trial.")
@png_option("Also draw the figure `gtbench report --png` draws from the saved result: "
            "per pair, the lag's histogram and CDF with every bound; with --load, lag "
            "against rate (p50 and p99, with the rate each step reached).")
@clock_error_option
@json_option
@yes_option
def race_command(target: str, endpoint_url: str | None, regions: tuple[str, ...], table: str,
                 profile: str | None, trials: int, from_region: str | None,
                 to_regions: tuple[str, ...], resolution_ms: float, pollers: int | None,
                 interval_ms: float | None,
                 timeout_s: float, eventual: bool, cloudwatch: bool, cloudwatch_wait_s: float,
                 use_probes: bool, load_rates: str | None, load_warm_up_s: float,
                 png_path: str | None,
                 clock_error_ms: float | None, json_path: str | None, yes: bool) -> None:
    """Write a new bookmark in one region, poll another, and time the replication.

    Each trial writes a unique value, then polls the reading region with strongly
    consistent reads from staggered pollers until the value appears: one read
    every --resolution-ms, however far the region is (the pollers are chosen
    from its measured round trip). With the write sent at ws and acknowledged at
    wa, the last stale read sent at ss and the first fresh read received at fr,
    all on one monotonic clock:

    \b
      lag in [ss - wa, fr - ws]

    The point estimate is the middle. Each stale read is a read that won the
    race against replication.

    On the local emulator each trial also shows the true lag from the emulator's
    ground truth, and the summary the measurement error.
    """
    settings = settings_from(target, endpoint_url, regions, table, profile)
    source = from_region or settings.home
    readers = to_regions or tuple(r for r in settings.regions if r != source)
    for region in (source, *readers):
        if region not in settings.regions:
            raise UsageError(f"{region} is not one of --regions ({','.join(settings.regions)})")
    if source in readers:
        raise UsageError(f"--to {source} is the writing region itself")
    if len(set(readers)) < len(readers):
        raise UsageError(f"--to names {next(r for r in readers if readers.count(r) > 1)} "
                         "twice; give each reading region once")
    for child, name, parent, given in (
            ("--load-warm-up", "load_warm_up_s", "--load", load_rates is not None),
            ("--cloudwatch-wait", "cloudwatch_wait_s", "--cloudwatch", cloudwatch)):
        if not given and _given(name):
            raise UsageError(f"{child} is for {parent}, which was not given")
    if eventual and pollers is not None and pollers > race.MAX_POLLERS // 2:
        raise UsageError(f"--pollers {pollers} with --eventual: at most "
                         f"{race.MAX_POLLERS // 2} per kind of read")
    check_probe_flags(use_probes, clock_error_ms)
    if use_probes:  # on the emulator too: the rehearsal keeps AWS's limits
        from gtbench.probes.race import longest_poll_s

        every = interval_ms or PROBE_INTERVAL_MS
        longest = longest_poll_s(pollers or PROBE_POLLERS, every, eventual)
        if timeout_s > longest:
            raise UsageError(
                f"with --probes, --timeout is at most {longest:.0f} s at a read every "
                f"{every:g} ms: Lambda caps a probe's answer at 6 MB (about 240 bytes a "
                "read); read less often (--interval-ms) or wait less (--timeout)")
    rates = parse_rates(load_rates) if load_rates is not None else ()
    session = RunSession(settings, json_path, calls_within_s=timeout_s)
    terminal, client_regions = session.terminal, session.regions
    session.require_table()
    steps = max(1, len(rates))
    confirm_billable(settings, session.account,
                     f"Write {trials * len(readers) * steps} new items under "
                     f"PK={race.RACE_PK} in {source} and poll {', '.join(readers)} until "
                     "each replicates" + (
                         f", beside background writes under PK={load_pk(0)} to "
                         f"{load_pk(LOAD_PARTITIONS - 1)} at "
                         f"{', '.join(f'{r:g}' for r in rates)} writes/s (about "
                         f"{_load_writes(rates, trials * len(readers), load_warm_up_s):,} "
                         "items)"
                         if rates else ""), yes)
    if use_probes:  # the probes' own default: reads beside the replica, every 5 ms
        pollers, interval_ms = pollers or PROBE_POLLERS, interval_ms or PROBE_INTERVAL_MS
    fixed = pollers is not None or interval_ms is not None
    pollers, interval_ms = pollers or 4, interval_ms or 100.0
    plan = race.RacePlan(tuple((source, r) for r in readers), trials, pollers,
                         interval_ms / 1000.0, timeout_s,
                         None if fixed else resolution_ms / 1000.0, eventual)
    how = (f"probes in the regions, {plural(pollers, 'poller')} every {interval_ms:g} ms "
           "and the write echoed back" if use_probes
           else f"{plural(pollers, 'poller')} every {interval_ms:g} ms" if fixed
           else f"a read every {resolution_ms:g} ms")
    terminal.note(f"racing {trials} trials per pair: {how}, timeout {timeout_s:g} s")

    def shown(trial: race.Trial) -> None:
        terminal.print(report.trial_line(document.race_trial(trial)))

    with session.measuring("race", trials * len(readers) * (timeout_s + 2) * steps):
        if rates:
            result = run_race_under_load(client_regions, settings, plan, rates, use_probes,
                                         clock_error_ms, shown, terminal.note,
                                         load_warm_up_s)
        else:
            result = run_race_via(client_regions, settings, plan, use_probes,
                                  clock_error_ms, shown)
    if cloudwatch and result.trials and not result.interrupted:
        result.cloudwatch = await_cloudwatch(client_regions, settings, session.context,
                                             result, cloudwatch_wait_s, terminal)
    session.conclude(result, lambda: document.race_document(result, session.context),
                     with_png(report.race_tables, png_path),
                     done=plural(len(result.trials), "completed trial"))


def _given(name: str) -> bool:
    """Whether the user gave the option whose parameter is ``name`` (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT)


def _load_writes(rates: tuple[float, ...], trials: int, warm_up_s: float) -> int:
    """About how many items a load sweep writes: each step lasts its warm-up and about
    two seconds a trial."""
    return round(sum(rate * (warm_up_s + 2.0 * trials) for rate in rates))


def await_cloudwatch(client_regions: Regions, settings: Settings, context: document.Context,
                     result: race.RaceResult, wait_s: float,
                     terminal: Terminal) -> dict[tuple[str, str], Any]:
    """CloudWatch ReplicationLatency for the run, waited for with a live line; a Ctrl-C
    stops the wait and keeps the race."""
    from gtbench.experiments import cloudwatch

    # The emulator says its period (tests shorten it); AWS's is five minutes.
    period_s = float((context.emulator or {}).get("metric_period_s", cloudwatch.AWS_PERIOD_S))
    if result.consistency == STRONG:
        # Said before the wait, not after it: no AWS source says either way (searched
        # 2026-12-02: "Monitoring global tables" names ReplicationLatency per replica pair
        # and says nothing of MRSC), so a wait of many minutes may find nothing.
        terminal.warn("this table is strongly consistent (MRSC): AWS does not document "
                      "whether MRSC tables publish ReplicationLatency, so the wait may "
                      "end with no datapoints; Ctrl-C keeps the race without them")
    with terminal.err.status("waiting for CloudWatch ReplicationLatency") as status:
        def shown(waited: float, arrived: int, wanted: int) -> None:
            status.update(f"waiting for CloudWatch ReplicationLatency ({period_s:g} s "
                          f"periods, published late): {arrived} of {wanted} datapoints after "
                          f"{waited:.0f} s of at most {wait_s:.0f} s; Ctrl-C keeps the race")
        try:
            return dict(cloudwatch.await_latency(
                client_regions, settings.table, race.write_times(result), period_s=period_s,
                wait_s=wait_s, on_wait=shown))
        except KeyboardInterrupt:
            terminal.warn("stopped waiting for CloudWatch: the race is kept without it")
            return {}
