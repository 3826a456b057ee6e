"""Compare: the same workloads on an MREC and an MRSC table in the same regions.

For each kind of global table gtbench creates a table of its own for this run
(``<prefix>-<run>-mrec``, ``<prefix>-<run>-mrsc``: two runs at once never share one),
then runs on it:

- a race around the regions (each region writes, the next one reads, with strongly
  and eventually consistent pollers): request latency per operation and region,
  stale strong reads after the acknowledgement, and the replication lag;
- conflicting writes from two regions at the same instant: lost unseen (MREC) or
  refused with ``ReplicatedWriteConflictException`` (MRSC);
- a read-modify-write increment workload from both: updates lost, or retried.

It removes both tables after, unless asked to keep them. Everything it measured is
kept in the result, whatever ends the run (Ctrl-C, a failure, the endpoint gone). A
table a run could not remove carries the time by which that run had surely ended
(``RUN_UNTIL_TAG``): ``gtbench teardown --stale`` finds and removes it.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from gtbench.awsrules import EVENTUAL, STRONG, Consistency
from gtbench.experiments import conflict, race
from gtbench.experiments.conflict import ConflictPlan, ConflictResult
from gtbench.experiments.race import RacePlan, RaceResult
from gtbench.experiments.trials import RUN_FAILURES, RunEnd, failure_message
from gtbench.history import Op
from gtbench.probes.transport import Probes
from gtbench.regions import Regions, Settings
from gtbench.tables import provision, teardown

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TagTypeDef

# (MultiRegionConsistency, the table's suffix, the label users know)
MODES: tuple[tuple[Consistency, str, str], ...] = (
    (EVENTUAL, "mrec", "MREC"), (STRONG, "mrsc", "MRSC"))
LABELS = {consistency: label for consistency, _, label in MODES}
RUN_TAG = "gtbench:run"  # the run that made a table
RUN_UNTIL_TAG = "gtbench:run-until"  # epoch seconds by which that run has surely ended


@dataclass(frozen=True)
class ComparePlan:
    """What each mode runs: race trials per pair (a ring over the regions), conflict
    trials at offset 0, and increments per writing region in one trial."""

    regions: tuple[str, ...]
    trials: int = 10
    conflicts: int = 5
    increments: int = 5
    pace_ms: float = 100.0
    resolution_s: float = 0.01
    timeout_s: float = 10.0
    keep: bool = False

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Each region writes and the next one reads: every region does both."""
        n = len(self.regions)
        return tuple((self.regions[i], self.regions[(i + 1) % n]) for i in range(n))

    def race_plan(self) -> RacePlan:
        return RacePlan(self.pairs, self.trials, timeout_s=self.timeout_s,
                        resolution_s=self.resolution_s, eventual=True)

    def conflict_plan(self) -> ConflictPlan:
        return ConflictPlan((self.regions[0], self.regions[1]), (0.0,), self.conflicts,
                            timeout_s=self.timeout_s)

    def increment_plan(self) -> ConflictPlan:
        return ConflictPlan((self.regions[0], self.regions[1]), (0.0,), 1,
                            conflict.INCREMENT, self.increments, self.pace_ms,
                            timeout_s=self.timeout_s)


@dataclass
class ModeRun:
    consistency: Consistency
    table: str
    race: RaceResult | None = None
    conflict: ConflictResult | None = None
    increment: ConflictResult | None = None
    removed: bool = False

    @property
    def label(self) -> str:
        return LABELS[self.consistency]

    def ops(self) -> list[Op]:
        """Every request this mode's workloads sent (set-up and teardown aside)."""
        out: list[Op] = []
        if self.race:
            for t in self.race.trials:
                out += t.ops
        for run in (self.conflict, self.increment):
            for c in run.trials if run else []:
                out += [*c.writes, *c.reads]
        return out


@dataclass
class CompareResult(RunEnd):
    plan: ComparePlan
    prefix: str
    modes: list[ModeRun] = field(default_factory=list)
    run: str = ""  # this run's part of its table names


class Progress:
    """What compare tells the user as it goes; the CLI shows it, tests ignore it."""

    def step(self, message: str) -> None:
        """A new phase begins."""

    def trial(self, title: str, done: int, total: int) -> None:
        """``done`` of a phase's ``total`` trials are over."""

    def reporter(self) -> provision.Reporter:
        return provision.Reporter()


def new_run() -> str:
    """A short name for one run, unique enough that two runs at once never meet."""
    return secrets.token_hex(3)


def table_for(prefix: str, suffix: str, run: str = "") -> str:
    return f"{prefix}-{run}-{suffix}" if run else f"{prefix}-{suffix}"


def ends_by(plan: ComparePlan, timing: provision.Timing) -> float:
    """An epoch time by which a run of ``plan`` has surely ended: every wait at its
    timeout, twice over, plus an hour."""
    waits = 2 * 6 * timing.timeout_s + (
        plan.trials * len(plan.pairs) + plan.conflicts + 1) * 2 * plan.timeout_s
    return time.time() + 2 * waits + 3600


def run_compare(regions: Regions, settings: Settings, plan: ComparePlan, prefix: str,
                progress: Progress | None = None, timing: provision.Timing | None = None,
                run: str | None = None, probes: Probes | None = None,
                clock_error_ms: float | None = None) -> CompareResult:
    """Both modes, one after the other: create, measure, remove, on tables of this run's
    own. A Ctrl-C, a run of failed trials or a failure (the endpoint gone) ends it with
    what was measured; the tables are removed on every path unless ``plan.keep``, and
    one that could not be is said in ``stopped``."""
    progress = progress or Progress()
    timing = timing or provision.Timing()
    result = CompareResult(plan, prefix, started_at=time.time(), run=run or new_run())
    tags: list[TagTypeDef] = [{"Key": RUN_TAG, "Value": result.run}]
    if not plan.keep:  # a table kept on purpose is nobody's leftover
        tags.append({"Key": RUN_UNTIL_TAG, "Value": f"{ends_by(plan, timing):.0f}"})
    try:
        for consistency, suffix, label in MODES:
            mode = ModeRun(consistency, table_for(prefix, suffix, result.run))
            result.modes.append(mode)
            mine = replace(settings, table=mode.table, regions=plan.regions)
            scoped = Regions(mine, regions.endpoint_url, regions.session)
            try:
                progress.step(f"{label}: creating {mode.table} in {', '.join(plan.regions)}")
                provision.setup(scoped, mine, timing=timing, reporter=progress.reporter(),
                                strong=consistency == STRONG, tags=tags)
                _measure(scoped, mine, plan, mode, progress, result, probes, clock_error_ms)
            except RUN_FAILURES as exc:
                result.stopped = f"{label}: {failure_message(exc)}"
            finally:
                if not plan.keep:
                    _remove(scoped, mine, mode, timing, progress, result)
            if result.interrupted or result.stopped:
                break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        result.ended_at = time.time()
    return result


def _remove(regions: Regions, settings: Settings, mode: ModeRun, timing: provision.Timing,
            progress: Progress, result: CompareResult) -> None:
    """Remove a mode's table if it exists; a failure is said, not raised (the run's
    figures stand, and ``teardown --stale`` finds the table later)."""
    try:
        # Only what exists: a set-up that failed must not hide its own error.
        if provision.describe(regions.home, mode.table) is None:
            return
        progress.step(f"{mode.label}: removing {mode.table}")
        removal = teardown.plan(regions, settings, force=False)
        teardown.run(regions, settings, removal, timing=timing, reporter=progress.reporter())
        mode.removed = True
    except RUN_FAILURES as exc:
        left = f"could not remove {mode.table} ({failure_message(exc)})"
        result.stopped = f"{result.stopped}; {left}" if result.stopped else left


# A run table's name: ``<prefix>-<run>-mrec`` or ``-mrsc`` (``run_id``: 6 hex digits).
RUN_TABLE_NAME = re.compile(r"-[0-9a-f]{6}-(mrec|mrsc)$")


def stale_tables(regions: Regions, now: float | None = None) -> list[tuple[str, float]]:
    """Run tables (compare's) in the home region whose run has surely ended: each name
    with the time its run ended by."""
    return run_tables(regions, now)[0]


def run_tables(regions: Regions, now: float | None = None
               ) -> tuple[list[tuple[str, float]], list[tuple[str, str]]]:
    """Run tables (compare's) in the home region: those whose run has surely ended
    (name, the time it ended by), and those left alone with why (name, reason): a run
    that may still be going, or a table gtbench may not read."""
    now = time.time() if now is None else now
    stale: list[tuple[str, float]] = []
    skipped: list[tuple[str, str]] = []
    for page in regions.home.get_paginator("list_tables").paginate():
        for name in page.get("TableNames", []):
            if not RUN_TABLE_NAME.search(name):
                continue  # not named as a run table: never described, never tagged-read
            try:
                description = provision.describe(regions.home, name)
                if description is None:
                    continue
                tags = provision.tags_of(regions.home, description["TableArn"])
            except ClientError as exc:  # a table of someone else's that we may not read
                if "AccessDenied" not in exc.response.get("Error", {}).get("Code", ""):
                    raise
                if name.startswith("gtbench-"):
                    skipped.append((name, "not readable with these credentials"))
                continue
            until = tags.get(RUN_UNTIL_TAG, "")
            if provision.OWNER_TAG not in tags or not until.isdigit():
                continue  # not a run table of gtbench's
            if float(until) < now:
                stale.append((name, float(until)))
            else:
                at = time.strftime("%H:%M:%S", time.localtime(float(until)))
                skipped.append((name, f"its run may still be going: it surely ends by "
                                      f"{at}, in {(float(until) - now) / 60:.0f} min"))
    return stale, skipped


def _measure(regions: Regions, settings: Settings, plan: ComparePlan, mode: ModeRun,
             progress: Progress, result: CompareResult, probes: Probes | None = None,
             clock_error_ms: float | None = None) -> None:
    """The three workloads on one table; stops at the first that was cut short. With
    ``probes`` the race is timed from inside the regions."""
    label = mode.label

    def counter(title: str, total: int) -> Callable[[Any], None]:
        done = [0]

        def count(_: Any) -> None:
            done[0] += 1
            progress.trial(title, done[0], total)
        return count

    progress.step(f"{label}: race around {' → '.join(plan.regions)}, {plan.trials} trials "
                  "per pair, strong and eventual reads")
    counted = counter(f"{label} race trials", plan.trials * len(plan.pairs))
    if probes is not None:
        from gtbench.probes.race import run_probe_race

        mode.race = run_probe_race(regions, settings, replace(
            plan.race_plan(), interval_s=plan.resolution_s), probes, clock_error_ms, counted)
    else:
        mode.race = race.run_race(regions, settings, plan.race_plan(), on_trial=counted)
    if _ended(mode.race, result):
        return
    progress.step(f"{label}: {plan.conflicts} conflicting writes from "
                  f"{plan.regions[0]} and {plan.regions[1]} at the same instant")
    mode.conflict = conflict.run_conflict(regions, settings, plan.conflict_plan(),
                                          on_trial=counter(f"{label} conflict trials",
                                                           plan.conflicts))
    if _ended(mode.conflict, result):
        return
    progress.step(f"{label}: {plan.increments} read-modify-write increments from each of "
                  f"{plan.regions[0]} and {plan.regions[1]}")
    mode.increment = conflict.run_conflict(regions, settings, plan.increment_plan())
    _ended(mode.increment, result)


def _ended(run: Any, result: CompareResult) -> bool:
    if run.interrupted:
        result.interrupted = True
    if run.stopped:
        result.stopped = run.stopped
    return bool(run.interrupted or run.stopped)


def race_rows(mode: ModeRun) -> list[tuple[Op, Sequence[Op], Any]]:
    """Each race trial's write, reads and verdict: what ``analysis.mode_summary`` takes."""
    return [(t.write, t.reads, t.verdict()) for t in (mode.race.trials if mode.race else [])]


def leftovers_note(regions: Regions, prefix: str) -> str | None:
    """One line naming the tables earlier runs with ``prefix`` left behind, and how to
    remove them; None when there are none."""
    stale = [name for name, _ in stale_tables(regions) if name.startswith(f"{prefix}-")]
    if not stale:
        return None
    return (f"left over from earlier runs: {', '.join(stale)}; remove them with "
            f"`gtbench teardown --stale --regions {','.join(regions.settings.regions)}`")
