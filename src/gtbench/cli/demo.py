"""``gtbench demo``: setup, race, conflict and teardown on the emulator, explained."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.cli.app import current_app
from gtbench.cli.options import DEMO_KEY, SCRATCH_KEY, check_endpoint
from gtbench.errors import GtbenchError
from gtbench.regions import LOCAL, parse_regions
from gtbench.report.common import lag_figure, plural
from gtbench.terminal import Terminal

STRONG_REGIONS = ("us-west-2", "us-east-1", "us-east-2")
# The conflict window's offsets when the race measured no lag (the emulator's default
# lag is 1 s).
WINDOW_OFFSETS_MS = (0.0, 500.0, 1000.0, 2000.0)


def window_offsets(p50_s: float | None, max_s: float | None) -> tuple[float, ...]:
    """Offsets (ms) that open and close the conflict window at the lag just measured:
    none, half the median lag, the median, and half a median past the slowest.

    Fixed offsets would all fall inside a long lag (``local start --lag-ms 5000``) or
    all outside a short one, and the step would show nothing; rounded to two figures
    so that they read as chosen numbers.
    """
    if not p50_s or not max_s:
        return WINDOW_OFFSETS_MS
    picks = (p50_s / 2, p50_s, max_s + p50_s / 2)
    return (0.0, *sorted({float(f"{s * 1000:.2g}") for s in picks}))


def contrast(document: dict[str, Any]) -> str | None:
    """The demo's last word: what each kind lost, and what strong consistency cost."""
    modes = {m["consistency"]: m for m in document["summary"]["modes"]}
    mrec, mrsc = modes.get(EVENTUAL), modes.get(STRONG)
    if mrec is None or mrsc is None or mrec["lost_updates"] is None \
            or mrsc["lost_updates"] is None:
        return None
    home = document["settings"]["regions"][0]
    cost = next((c["extra_s"] for c in document["summary"]["costs"]
                 if (c["operation"], c["region"]) == ("write", home)), None)
    took = (f", and its writes in {home} took {cost * 1000:.0f} ms longer (a round trip to "
            "the nearest other region)" if cost is not None else "")
    return (f"MREC lost {mrec['lost_updates']} of {mrec['updates']} updates; MRSC lost "
            f"{mrsc['lost_updates']}, refused {mrsc['refused_writes']} conflicting writes "
            f"that were retried or reported{took}. Strong reads after a write were stale "
            f"{mrec['stale_strong_reads']} times on MREC and {mrsc['stale_strong_reads']} on "
            "MRSC. Which to choose is `gtbench compare`'s question: consistency, or a round "
            "trip on every write.")


def _say(terminal: Terminal, title: str, text: str) -> None:
    terminal.print("")
    terminal.print(f"[bold magenta]── {title}[/]", soft_wrap=False)
    terminal.print(text, soft_wrap=False)


def _after(terminal: Terminal, text: str) -> None:
    terminal.print(f"[bold]What it means:[/] {text}", soft_wrap=False)


@contextmanager
def _in_brief() -> Iterator[None]:
    """A step's full results go to its document (``gtbench report`` shows them); the
    demo says them in brief, so the tour reads in about 100 lines at 80 columns.
    Progress still goes to stderr."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _load(path: Path) -> dict[str, Any]:
    from gtbench import report

    return report.load(str(path))


@click.command("demo")
@click.option("--endpoint-url", metavar="URL", envvar="GTBENCH_ENDPOINT_URL",
              callback=check_endpoint,
              help="Use a running emulator [default: start one on demand, stop it after].")
@click.option("--regions", default="us-west-2,eu-west-1", show_default=True,
              metavar="REGIONS", help="Comma-separated regions; the first is the home region.")
@click.option("--table", default="gtbench-demo", show_default=True,
              help="The demo's own table, created and removed by the demo.")
@click.option("--save", "save_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Keep the result documents in DIR, for `gtbench report`.")
@click.option("--keep", is_flag=True, help="Leave the table in place at the end.")
@click.pass_context
def demo_command(ctx: click.Context, endpoint_url: str | None, regions: str, table: str,
                 save_dir: str | None, keep: bool) -> None:
    """A first run that teaches: global tables in about 90 seconds, on the emulator.

    Creates a global table of its own (gtbench-demo) on the local emulator,
    times replication, stages conflicting writes, and removes the table again,
    saying before each step what it will show and after it what the figures
    mean. Nothing runs on AWS, and nothing of yours is touched.
    """
    chosen = parse_regions(regions)
    first, second = chosen[0], chosen[1]
    common: dict[str, Any] = {"target": LOCAL, "endpoint_url": endpoint_url,
                              "regions": chosen, "table": table, "profile": None}
    terminal = current_app().terminal()
    with tempfile.TemporaryDirectory(prefix="gtbench-demo-") as scratch:
        out = Path(save_dir or scratch)
        out.mkdir(parents=True, exist_ok=True)
        ctx.meta[SCRATCH_KEY] = save_dir is None
        ctx.meta[DEMO_KEY] = True  # its steps leave the emulator to its own clean-up
        try:
            _tour(ctx, terminal, common, out, table, first, second, keep, save_dir)
        except (KeyboardInterrupt, GtbenchError):
            # Stopped part-way (Ctrl-C, a failed step): the demo's own table goes as it
            # would at the end, and so does an emulator started for it, each said.
            if not keep:
                _clean_up_after_stop(ctx, terminal, common, table)
            if save_dir is None:
                terminal.note("the demo's results were not kept (run with --save DIR to "
                              "keep them)")
            raise


def _clean_up_after_stop(ctx: click.Context, terminal: Terminal, common: dict[str, Any],
                         table: str) -> None:
    from gtbench.cli.provision import teardown_command
    from gtbench.cli.session import deferred_interrupts

    terminal.note(f"the demo stopped early: removing {table}")
    with deferred_interrupts():  # one more Ctrl-C must not leave half of it behind
        try:
            ctx.invoke(teardown_command, **common, yes=True)
        except (GtbenchError, click.ClickException) as exc:
            terminal.warn(f"{table} could not be removed ({exc}); remove it with "
                          f"`gtbench teardown --table {table}`")


def _tour(ctx: click.Context, terminal: Terminal, common: dict[str, Any], out: Path,
          table: str, first: str, second: str, keep: bool, save_dir: str | None) -> None:
    """The six steps, each said before, shown in brief, and explained after."""
    from gtbench.cli.compare import compare_command
    from gtbench.cli.conflict import conflict_command
    from gtbench.cli.provision import setup_command, teardown_command
    from gtbench.cli.race import race_command
    from gtbench.report import conflict as conflict_view

    endpoint_url = common["endpoint_url"]

    _say(terminal, "1/6 a global table",
         f"One table with a full replica in each region: gtbench creates {table} in "
         f"{first}, adds a replica in {second}, and seeds the workshop's bookmarks and "
         "video catalog.")
    ctx.invoke(setup_command, **common, yes=True)
    _after(terminal, "both regions hold the same items, and each accepts reads and "
                     "writes on its own. Keeping them the same is replication's job.")

    _say(terminal, "2/6 replication lag",
         f"Each trial writes a new bookmark in {first} and reads it in {second} until "
         "it shows, timing both ends on one clock so the lag gets a firm bound.")
    with _in_brief():
        ctx.invoke(race_command, **common, trials=10, yes=True,
                   json_path=str(out / "race.json"))
    race_document = _load(out / "race.json")
    race = race_document["summary"]
    terminal.print(race_brief(race_document), soft_wrap=False)
    stale = sum(t["stale_reads"] for t in race_document["trials"])
    if race["p50_s"] is not None:
        _after(terminal,
               f"a write acknowledged in {first} reached {second} after "
               f"{lag_figure(race, 'p50', digits=2)} s at the median and "
               f"{lag_figure(race, 'max', digits=2)} s at worst. Until then {second} "
               f"serves the old item, even to strongly consistent reads: {stale} of them "
               "did here. Replication is asynchronous.")

    _say(terminal, "3/6 a conflict",
         f"Now {first} and {second} write the same item at the same instant, each "
         "its own value. The first trial's timeline:")
    with _in_brief():
        ctx.invoke(conflict_command, **common, trials=3,
                   json_path=str(out / "conflict.json"))
    conflict_document = _load(out / "conflict.json")
    trials = conflict_document["trials"]
    if trials:
        terminal.print(conflict_view.timeline_table(trials[0], conflict_document["writers"]))
        for t in trials[1:]:
            terminal.print(conflict_view.trial_line(t), soft_wrap=False)
    c = conflict_document["summary"]
    _after(terminal,
           f"in {c['converged']} of {c['trials']} trials both regions ended on one write "
           f"and the other vanished without an error, in {c['earlier_discarded_unseen']} "
           "of them never seen outside its own region: last writer wins, per item. The "
           "regions disagreed meanwhile for "
           + (f"{c['median_disagreed_s']:.2f} s at the median (at least "
              f"{c['median_disagreed_low_s']:.2f} s and at most "
              f"{c['median_disagreed_high_s']:.2f} s, by what the reads pin down)."
              if c["median_disagreed_s"] is not None else "a while."))

    _say(terminal, "4/6 the conflict window",
         "The same, the second write sent later and later: half the median lag just "
         "measured, the median, and past the slowest.")
    with _in_brief():
        ctx.invoke(conflict_command, **common, trials=2,
                   offsets=window_offsets(race["p50_s"], race["max_s"]),
                   timelines=False, json_path=str(out / "conflict-sweep.json"))
    sweep = _load(out / "conflict-sweep.json")["summary"]
    terminal.print(sweep_brief(sweep))
    if sweep["median_earlier_lag_s"] is not None:
        _after(terminal,
               "an earlier write is lost unseen while its rival is sent within the "
               f"replication lag (here {sweep['median_earlier_lag_s']:.2f} s). The "
               "conflict window is the lag: the faster replication, the narrower it is.")

    _say(terminal, "5/6 lost updates",
         f"The workshop's buttons: +1 five times in {first} and -1 five times in "
         f"{second}, each read-modify-write, on a bookmark starting at 0.")
    with _in_brief():
        ctx.invoke(conflict_command, **common, mode="increment", trials=1, timelines=False,
                   json_path=str(out / "conflict-increment.json"))
    inc = _load(out / "conflict-increment.json")["summary"]
    if "lost_updates" in inc:
        _after(terminal,
               f"the regions agree on {inc['final']}, not {inc['expected']}: "
               f"{inc['lost_updates']} of {inc['updates']} updates were lost, silently. "
               "Design for it: send an item's writes to one region, or use "
               "multi-region strong consistency.")

    strong_regions = STRONG_REGIONS
    _say(terminal, "6/6 strong consistency",
         "A global table can instead be strongly consistent (MRSC, since 2025): three "
         "regions, and a write returns once another region has it. The same workloads "
         f"on one table of each kind, in {', '.join(strong_regions)}:")
    with _in_brief():
        ctx.invoke(compare_command, target=LOCAL, endpoint_url=endpoint_url,
                   regions=strong_regions, prefix=f"{table}-compare", profile=None,
                   trials=2, conflicts=3, increments=5, resolution_ms=10.0,
                   timeout_s=10.0, keep=False, yes=True,
                   json_path=str(out / "compare.json"))
    compared = _load(out / "compare.json")
    terminal.print(compare_brief(compared))
    sentence = contrast(compared)
    if sentence:
        _after(terminal, sentence)

    if keep:
        terminal.print(f"\nKept {table}; remove it with `gtbench teardown --table {table}`.",
                       soft_wrap=False)
    else:
        _say(terminal, "cleaning up", f"Removing {table}: the replica, then the table.")
        ctx.invoke(teardown_command, **common, yes=True)
    if save_dir:
        terminal.print(f"\nResults are in {out}/, every figure in full: see them again "
                       f"with `gtbench report {out}/race.json --png race.png`.",
                       soft_wrap=False)
    else:
        terminal.print("\nThat was each step in brief: `gtbench demo --save DIR` keeps "
                       "the results, and `gtbench report` shows every figure.",
                       soft_wrap=False)


def race_brief(document: dict[str, Any]) -> str:
    """The race in a line: the lag's percentiles, and the truth beside them."""
    s = document["summary"]
    line = (f"{plural(s['trials'], 'trial')}: lag p50 {lag_figure(s, 'p50')} s, p99 "
            f"{lag_figure(s, 'p99')} s, max {lag_figure(s, 'max')} s")
    truth = [t["true_in_bound"] for t in document["trials"]
             if t.get("true_in_bound") is not None]
    if truth:
        line += f"; the true lag inside its bound in {sum(truth)} of {len(truth)}"
    return line + "."


def sweep_brief(summary: dict[str, Any]) -> Table:
    """Per offset: how many trials lost the earlier write unseen."""
    shown = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for column in ("second write sent after", "earlier write lost unseen"):
        shown.add_column(column, justify="right")
    for o in summary["offsets"]:
        shown.add_row(f"{o['offset_ms']:g} ms",
                      f"{o['earlier_discarded_unseen']} of {o['trials']} trials")
    return shown


BRIEF_ROWS = ("write in ", "stale strong reads", "conflict trials", "writes refused",
              "updates lost")


def compare_brief(document: dict[str, Any]) -> Table:
    """The side-by-side rows that carry the answer (``gtbench report`` shows all)."""
    from gtbench.report.compare import LABELS, rows

    modes = document["summary"]["modes"]
    home = document["settings"]["regions"][0]
    shown = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    shown.add_column("")
    for m in modes:
        shown.add_column(LABELS.get(m["consistency"], m["consistency"]), justify="right")
    for label, cells in rows(document):
        if label.startswith(BRIEF_ROWS) and (not label.startswith("write in ")
                                             or label == f"write in {home}"):
            shown.add_row(label, *cells)
    return shown
