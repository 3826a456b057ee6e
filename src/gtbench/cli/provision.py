"""``gtbench setup``, ``gtbench status`` and ``gtbench teardown``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gtbench.cli.app import current_app
from gtbench.cli.options import Finite, settings_from, target_options, yes_option
from gtbench.errors import GtbenchError, UsageError
from gtbench.regions import AWS, LOCAL, Regions, Settings, account_id, open_regions
from gtbench.tables import provision, teardown
from gtbench.tables.provision import RegionState, Timing
from gtbench.terminal import Terminal

LOCAL_TIMING = Timing(timeout_s=120.0, poll_s=0.2)
# MRSC needs three regions from one supported set: the workshop's Oregon and two more.
STRONG_DEFAULT = ("us-west-2", "us-east-1", "us-east-2")
AWS_TIMING = Timing(timeout_s=3600.0, poll_s=5.0)


def connect(settings: Settings, terminal: Terminal, tables: str | None = None, *,
            calls_within_s: float | None = None) -> tuple[Regions, str | None]:
    """Clients for ``settings`` and the one line that says where the command runs
    (``tables`` names them where a command uses more than ``settings.table``); with
    ``calls_within_s``, no call waits longer than that for its answer."""
    regions = open_regions(settings, announce=terminal.note)
    if calls_within_s is not None:
        regions.fit_calls_to(calls_within_s)
    if settings.endpoint_url is not None:
        check_dynamodb(regions, settings.endpoint_url)
    if settings.target == LOCAL and regions.endpoint_url is not None:
        from gtbench.local import lifecycle

        problem = lifecycle.health_problem(lifecycle.probe(regions.endpoint_url),
                                           regions.endpoint_url)
        if problem:
            raise GtbenchError(problem, hint="restart it: `gtbench local stop`, then run "
                                             "the command again (or `gtbench local start`)")
    account = account_id(regions) if settings.target == AWS else None
    where = (f"AWS account {account}" + (f" (profile {settings.profile})"
                                          if settings.profile else "")
             if account else f"local emulator at {regions.endpoint_url}")
    if settings.target == AWS and settings.endpoint_url:
        where += f" via {settings.endpoint_url}"
    others = ", ".join(settings.replicas)
    terminal.note(f"gtbench → {where} · regions {settings.home} (home), {others} · "
                  + (tables or f"table {settings.table}") + _distance_note(settings, regions))
    return regions, account


def check_dynamodb(regions: Regions, url: str) -> None:
    """The endpoint the user named answers as DynamoDB does, or one line says it does
    not (a web server's 200 would otherwise surface later as a missing key)."""
    answer = regions.client(regions.settings.home).list_tables(Limit=1)
    if not isinstance(answer.get("TableNames"), list):
        raise GtbenchError(f"{url} answered, but not as DynamoDB does (its ListTables "
                           "answer has no TableNames)",
                           hint="is --endpoint-url a DynamoDB endpoint, such as `gtbench "
                                "local start`'s?")


def _distance_note(settings: Settings, regions: Regions) -> str:
    """On an emulator that places the client somewhere, say where and how far."""
    if settings.target != LOCAL or regions.endpoint_url is None:
        return ""
    from gtbench.emulator.distance import Distance, format_trips
    from gtbench.local import lifecycle

    status = lifecycle.probe(regions.endpoint_url) or {}
    placed = status.get("distance") or {}
    if not placed.get("client_region") and not placed.get("overrides_ms"):
        return ""
    distance = Distance(placed.get("client_region"), placed.get("overrides_ms") or {})
    trips = format_trips((r, distance.rtt_ms(r)) for r in settings.regions)
    where = f"in {distance.client_region}" if distance.client_region else "at a distance"
    return f" · client {where} (emulated round trips: {trips})"


def timing_for(settings: Settings, timeout: float | None) -> Timing:
    base = AWS_TIMING if settings.target == AWS and not settings.endpoint_url else LOCAL_TIMING
    return Timing(timeout_s=timeout if timeout is not None else base.timeout_s,
                  poll_s=base.poll_s)


def state_table(states: Sequence[RegionState], elapsed: float | None = None,
                title: str | None = None, counts: dict[str, int] | None = None) -> Table:
    caption = f"{title} · {elapsed:.0f} s" if title is not None and elapsed is not None \
        else title
    table = Table(title=caption, title_justify="left")
    table.add_column("region")
    table.add_column("table")
    table.add_column("replica")
    if counts is None:
        table.add_column("progress", justify="right")
    else:
        table.add_column("items", justify="right")
    for index, state in enumerate(states):
        replica = "home" if index == 0 else (state.replica_status or "-")
        last = (f"{state.progress}%" if state.progress else "") if counts is None \
            else str(counts.get(state.region, "-"))
        table.add_row(state.region, state.table_status or "absent", replica, last)
    return table


class RichReporter(provision.Reporter):
    """Live tables for waits and a bar for counted work, on stderr."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def step(self, message: str) -> None:
        self._close_progress()
        self.terminal.note(f"• {message}")

    def poll(self, title: str, states: Sequence[RegionState], elapsed: float) -> None:
        self._close_progress()
        table = state_table(states, elapsed, f"waiting for {title}")
        if self._live is None:
            self._live = Live(table, console=self.terminal.err, transient=True,
                              auto_refresh=False)
            self._live.start()
        self._live.update(table, refresh=True)

    def wait_over(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def progress(self, title: str, done: int, total: int) -> None:
        if self._progress is None:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      console=self.terminal.err, transient=True)
            self._progress.start()
        if title not in self._tasks:
            self._tasks[title] = self._progress.add_task(title, total=total)
        self._progress.update(self._tasks[title], completed=done, total=total)
        if done >= total:
            self.terminal.note(f"• {title}: {done}/{total}")

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def close(self) -> None:
        self._close_progress()
        self.wait_over()


wait_option = click.option(
    "--wait-timeout", type=Finite(min=1, max=86400), default=None, metavar="SECONDS",
    help="Give up waiting after this long [default: 3600 on AWS, 120 locally]. On AWS a "
         "replica can take from minutes to well over half an hour.")


@click.command("setup")
@target_options
@click.option("--bookmarks", type=click.IntRange(0, 1_000_000), default=0, show_default=True,
              help="Synthetic bookmark items to add for load, beside the workshop's 13 items.")
@click.option("--deletion-protection", is_flag=True,
              help="Create the table with deletion protection (teardown turns it off again).")
@click.option("--consistency", type=click.Choice(["eventual", "strong"]), default="eventual",
              show_default=True,
              help="eventual: last writer wins (MREC). strong: multi-Region strong "
                   "consistency (MRSC): exactly three regions, or two and --witness, from "
                   f"the set MRSC supports [default regions: {','.join(STRONG_DEFAULT)}].")
@click.option("--witness", metavar="REGION",
              help="With --consistency strong: a third region that votes but holds no "
                   "replica, beside the two of --regions.")
@wait_option
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_context
def setup_command(ctx: click.Context, target: str, endpoint_url: str | None,
                  regions: tuple[str, ...], table: str, profile: str | None, bookmarks: int,
                  deletion_protection: bool, consistency: str, witness: str | None,
                  wait_timeout: float | None, yes: bool, as_json: bool) -> None:
    """Create the global table, add its replicas, and seed the workshop data.

    Creates TABLE in the home region (keys PK and SK, on-demand), adds every other
    region as a replica one at a time, waiting with live progress until all are
    ACTIVE, then writes the workshop's bookmark and twelve catalog items (plus
    --bookmarks synthetic ones) and checks that each replica has them.

    Run it again at any time: it finds what exists and completes what is missing.
    A table that gtbench did not create is used as it is if its keys fit, and is
    never deleted by teardown.
    """
    strong = consistency == "strong"
    if witness and not strong:
        raise UsageError("--witness needs --consistency strong")
    if strong and ctx.get_parameter_source("regions") == click.core.ParameterSource.DEFAULT:
        regions = STRONG_DEFAULT[:2] if witness else STRONG_DEFAULT
    settings = settings_from(target, endpoint_url, regions, table, profile)
    if strong:  # refused before anything is created, with the rule that refuses it
        problem = provision.strong_problem(settings, witness)
        if problem:
            raise UsageError(problem)
    terminal = current_app().terminal(stdout_is_data=as_json)
    client_regions, account = connect(settings, terminal)
    if settings.target == AWS and not yes:
        kind = " strongly consistent" if strong else ""
        click.confirm(
            f"Create or complete the on-demand{kind} table {settings.table} in AWS account "
            f"{account}, home {settings.home}, with replicas in {', '.join(settings.replicas)}"
            + (f" and a witness in {witness}" if witness else "")
            + f", and write {13 + bookmarks} items? This is billable", abort=True, err=True)
    reporter = RichReporter(terminal)
    try:
        result = provision.setup(client_regions, settings, bookmarks=bookmarks,
                                 deletion_protection=deletion_protection,
                                 timing=timing_for(settings, wait_timeout), reporter=reporter,
                                 strong=strong, witness=witness)
    finally:
        reporter.close()
    if as_json:
        terminal.write_data(json.dumps({
            "table": settings.table, "target": settings.target, "consistency": consistency,
            "witness": witness, "created": result.created,
            "owned": result.owned, "replicas_added": result.replicas_added,
            "items_written": result.items_written, "items_expected": result.items_expected,
            "regions": [{"region": s.region, "table_status": s.table_status,
                         "replica_status": s.replica_status,
                         "items": result.counts.get(s.region)} for s in result.states],
        }, indent=2) + "\n")
        return
    terminal.print(state_table(result.states, counts=result.counts))
    kind = (" (multi-Region strong consistency" + (f", witness in {witness})" if witness
                                                   else ")") if strong else "")
    terminal.print(f"{settings.table} is ready{kind}: {result.items_expected} seed items in "
                   f"every region ({result.items_written} written now).")


@click.command("status")
@target_options
@click.option("--sample", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Items to compare when a replica holds more than --full-limit items.")
@click.option("--full-limit", type=click.IntRange(0, 1_000_000), default=5000, show_default=True,
              help="Compare every item when no replica holds more than this.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON on stdout.")
def status_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                   table: str, profile: str | None, sample: int, full_limit: int,
                   as_json: bool) -> None:
    """Show each replica's status and item count, and whether the replicas agree.

    Small tables are compared item by item in every region (strongly consistent
    scans); larger ones by a sample of the home region's items. Replicas that
    disagree right after a write are normal: replication is asynchronous.
    """
    settings = settings_from(target, endpoint_url, regions, table, profile)
    terminal = current_app().terminal(stdout_is_data=as_json)
    client_regions, _ = connect(settings, terminal)
    home = provision.describe(client_regions.home, settings.table)
    if home is None:
        raise GtbenchError(f"table {settings.table} does not exist in {settings.home}",
                           hint="create it with `gtbench setup`")
    states = provision.states(client_regions, settings)
    counts = {s.region: provision.count_items(client_regions.batch(s.region), settings.table)
              for s in states if s.table_status is not None}
    present = Settings(settings.target, settings.endpoint_url,
                       tuple(s.region for s in states if s.table_status is not None),
                       settings.table, settings.profile)
    agreement = provision.compare_replicas(client_regions, present, counts,
                                           full_limit=full_limit, sample=sample)
    if as_json:
        terminal.write_data(json.dumps({
            "table": settings.table, "target": settings.target,
            "global_table_version": home.get("GlobalTableVersion"),
            "regions": [{"region": s.region, "table_status": s.table_status,
                         "replica_status": s.replica_status, "items": counts.get(s.region)}
                        for s in states],
            "agreement": {"method": agreement.method, "compared": agreement.compared,
                          "agree": agreement.agree, "differing": agreement.differing[:100]},
        }, indent=2) + "\n")
        return
    terminal.print(state_table(states, counts=counts))
    how = "every item" if agreement.method == "full" else f"a sample of {agreement.compared}"
    if agreement.agree:
        terminal.print(f"The replicas agree ({how} compared).")
    else:
        terminal.print(f"The replicas disagree on {len(agreement.differing)} of "
                       f"{agreement.compared} items ({how} compared); if writes are in "
                       "flight, look again in a few seconds.")
        for row in agreement.differing[:5]:
            terminal.print(f"  {row['key']}: " + ", ".join(
                f"{r} {v}" for r, v in row["regions"].items()))


@click.command("teardown")
@target_options
@click.option("--force", is_flag=True,
              help="Delete the table even if gtbench did not create it, and turn off "
                   "deletion protection that gtbench did not set.")
@click.option("--stale", is_flag=True,
              help="Instead of --table: remove the tables runs made for themselves (compare's) "
                   "and left behind, each once its run has surely ended.")
@click.option("--runs-only", is_flag=True,
              help="Keep the table and its workshop data: delete only the items gtbench's "
                   "runs wrote in it (race, conflict, outage, load items and run markers), "
                   "in the home region, from where the deletes replicate.")
@wait_option
@yes_option
def teardown_command(target: str, endpoint_url: str | None, regions: tuple[str, ...],
                     table: str, profile: str | None, force: bool, stale: bool,
                     runs_only: bool, wait_timeout: float | None, yes: bool) -> None:
    """Remove the replicas one at a time, then the table: only what gtbench created.

    Asks first (--yes skips). A table gtbench did not create is refused unless
    --force. On the local target, an emulator that gtbench started on demand is
    stopped once nothing is left in it. With --stale, the tables earlier runs made
    for themselves and could not remove (a Ctrl-C during clean-up, a failure) are
    listed and removed, in the home region of --regions.
    """
    settings = settings_from(target, endpoint_url, regions, table, profile)
    terminal = current_app().terminal()
    client_regions, account = connect(settings, terminal)
    if stale and runs_only:
        raise UsageError("give --stale or --runs-only, not both")
    if stale:
        _remove_stale(client_regions, settings, account, wait_timeout, yes, terminal)
        return
    if runs_only:
        _remove_run_items(client_regions, settings, account, yes, terminal)
        return
    plan = teardown.plan(client_regions, settings, force=force)
    where = f"AWS account {account}" if account else "the local emulator"
    # In the order teardown removes them: newest first.
    replicas = ", ".join(reversed(plan.replicas))
    if not yes:
        witness = f", witness {plan.witness}" if plan.witness else ""
        click.confirm(f"Delete table {plan.table} and all its items in {where}: home "
                      f"{plan.home}, " + (f"replicas {replicas}" if replicas else "no replicas")
                      + witness
                      + (" (not created by gtbench)" if not plan.owned else "") + "?",
                      abort=True, err=True)
    reporter = RichReporter(terminal)
    try:
        teardown.run(client_regions, settings, plan,
                           timing=timing_for(settings, wait_timeout), reporter=reporter)
    finally:
        reporter.close()
    if plan.strong:  # MRSC members leave together
        witness = f" and witness {plan.witness}" if plan.witness else ""
        terminal.print(f"Deleted {plan.table}: replicas {', '.join(plan.replicas)}{witness} "
                       f"together, then the table in {plan.home}.")
    else:
        terminal.print(f"Deleted {plan.table}: "
                       + (f"replicas {replicas}, then " if replicas else "")
                       + "the table in "
                       f"{plan.home}.")
    if settings.target == LOCAL and settings.endpoint_url is None:
        stop_idle_emulator(client_regions, terminal)


def _remove_run_items(client_regions: Regions, settings: Settings, account: str | None,
                      yes: bool, terminal: Terminal) -> None:
    home = client_regions.client(settings.home)
    if provision.describe(home, settings.table) is None:
        raise GtbenchError(f"table {settings.table} does not exist in {settings.home}")
    found = teardown.run_items(home, settings.table)
    total = sum(len(keys) for keys in found.values())
    if not total:
        terminal.print(f"No items of gtbench's runs in {settings.table}.")
        return
    listed = ", ".join(f"{len(keys):,} under PK={pk}" for pk, keys in found.items())
    if not yes:
        where = f"AWS account {account}" if account else "the local emulator"
        click.confirm(f"Delete {total:,} items of gtbench's runs ({listed}) from "
                      f"{settings.table} in {where}, keeping the table and its other "
                      "items?", abort=True, err=True)
    removed = sum(teardown.remove_run_items(home, settings.table, keys)
                  for keys in found.values())
    terminal.print(f"Deleted {removed:,} items of gtbench's runs from {settings.table} in "
                   f"{settings.home} ({listed}); the deletes replicate to "
                   f"{', '.join(settings.replicas)}.")


def _remove_stale(client_regions: Regions, settings: Settings, account: str | None,
                  wait_timeout: float | None, yes: bool, terminal: Terminal) -> None:
    from dataclasses import replace

    from gtbench.experiments import compare

    found, skipped = compare.run_tables(client_regions)
    for name, why in skipped:
        terminal.note(f"left {name}: {why}")
    if not found:
        terminal.print(f"No stale gtbench run tables in {settings.home}"
                       + (f"; {len(skipped)} left alone (above)." if skipped else "."))
        return
    where = f"AWS account {account}" if account else "the local emulator"
    names = ", ".join(name for name, _ in found)
    if not yes:
        tables = f"{len(found)} table{'' if len(found) == 1 else 's'}"
        click.confirm(f"Delete {tables} earlier runs left in {where} "
                      f"({settings.home}): {names}, with their replicas and items?",
                      abort=True, err=True)
    reporter = RichReporter(terminal)
    try:
        for name, _ in found:
            scoped = replace(settings, table=name)
            plan = teardown.plan(client_regions, scoped, force=False)
            teardown.run(client_regions, scoped, plan,
                         timing=timing_for(settings, wait_timeout), reporter=reporter)
    finally:
        reporter.close()
    terminal.print(f"Deleted {names}.")
    if settings.target == LOCAL and settings.endpoint_url is None:
        stop_idle_emulator(client_regions, terminal)


def stop_idle_emulator(regions: Regions, terminal: Terminal) -> None:
    """Stop an emulator that gtbench started on demand once it holds nothing; otherwise
    say that it keeps running, and why."""
    from gtbench.local import lifecycle

    running = lifecycle.find_running()
    if running is None:
        return
    if running.started_by != "on-demand":
        terminal.note(f"the emulator at {running.url} keeps running (you started it); "
                      "stop it with `gtbench local stop`")
        return
    left = sorted({name for r in regions.settings.regions
                   for name in regions.client(r).list_tables(Limit=10).get("TableNames", [])})
    status = lifecycle.probe(running.url) or {}
    left += [g["table"] for g in status.get("global_tables", []) if g["table"] not in left]
    if left:
        terminal.note(f"the on-demand emulator at {running.url} keeps running: it still holds "
                      f"{', '.join(left)}; stop it (and lose them) with `gtbench local stop`")
        return
    lifecycle.stop()
    terminal.note(f"stopped the on-demand emulator at {running.url}: nothing is left in it")

