"""Compare: the same workloads on an MREC and an MRSC table in the same regions.

For each kind of global table gtbench creates a table of its own
(``<prefix>-mrec``, ``<prefix>-mrsc``), then runs on it:

- a race around the regions (each region writes, the next one reads, with strongly
  and eventually consistent pollers): request latency per operation and region,
  stale strong reads after the acknowledgement, and the replication lag;
- conflicting writes from two regions at the same instant: lost unseen (MREC) or
  refused with ``ReplicatedWriteConflictException`` (MRSC);
- a read-modify-write increment workload from both: updates lost, or retried.

It removes both tables after, unless asked to keep them. Everything it measured is
kept in the result, whatever ends the run (Ctrl-C, a failure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gtbench import conflict, provision, race, teardown
from gtbench.awsrules import EVENTUAL, STRONG, Consistency
from gtbench.conflict import ConflictPlan, ConflictResult
from gtbench.history import Op
from gtbench.race import RacePlan, RaceResult
from gtbench.regions import Regions, Settings

# (MultiRegionConsistency, the table's suffix, the label users know)
MODES: tuple[tuple[Consistency, str, str], ...] = (
    (EVENTUAL, "mrec", "MREC"), (STRONG, "mrsc", "MRSC"))
LABELS = {consistency: label for consistency, _, label in MODES}


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
                out += [t.write, *t.reads]
        for run in (self.conflict, self.increment):
            for c in run.trials if run else []:
                out += [*c.writes, *c.reads]
        return out


@dataclass
class CompareResult:
    plan: ComparePlan
    prefix: str
    modes: list[ModeRun] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0
    interrupted: bool = False
    stopped: str | None = None


class Progress:
    """What compare tells the user as it goes; the CLI shows it, tests ignore it."""

    def step(self, message: str) -> None:
        """A new phase begins."""

    def trial(self, title: str, done: int, total: int) -> None:
        """``done`` of a phase's ``total`` trials are over."""

    def reporter(self) -> provision.Reporter:
        return provision.Reporter()


def table_for(prefix: str, suffix: str) -> str:
    return f"{prefix}-{suffix}"


def run_compare(regions: Regions, settings: Settings, plan: ComparePlan, prefix: str,
                progress: Progress | None = None,
                timing: provision.Timing | None = None) -> CompareResult:
    """Both modes, one after the other: create, measure, remove. A Ctrl-C or a run of
    failed trials ends it with what was measured; the tables are removed on every path
    unless ``plan.keep``."""
    progress = progress or Progress()
    timing = timing or provision.Timing()
    result = CompareResult(plan, prefix, started_at=time.time())
    try:
        for consistency, suffix, label in MODES:
            mode = ModeRun(consistency, table_for(prefix, suffix))
            result.modes.append(mode)
            mine = replace(settings, table=mode.table, regions=plan.regions)
            scoped = Regions(mine, regions.endpoint_url, regions.session)
            try:
                progress.step(f"{label}: creating {mode.table} in {', '.join(plan.regions)}")
                provision.setup(scoped, mine, timing=timing, reporter=progress.reporter(),
                                strong=consistency == STRONG)
                _measure(scoped, mine, plan, mode, progress, result)
            finally:
                # Only what exists: a set-up that failed must not hide its own error.
                if not plan.keep and provision.describe(scoped.home, mode.table) is not None:
                    progress.step(f"{label}: removing {mode.table}")
                    removal = teardown.plan(scoped, mine, force=False)
                    teardown.run(scoped, mine, removal, timing=timing,
                                       reporter=progress.reporter())
                    mode.removed = True
            if result.interrupted or result.stopped:
                break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        result.ended_at = time.time()
    return result


def _measure(regions: Regions, settings: Settings, plan: ComparePlan, mode: ModeRun,
             progress: Progress, result: CompareResult) -> None:
    """The three workloads on one table; stops at the first that was cut short."""
    label = mode.label

    def counter(title: str, total: int) -> Callable[[Any], None]:
        done = [0]

        def count(_: Any) -> None:
            done[0] += 1
            progress.trial(title, done[0], total)
        return count

    progress.step(f"{label}: race around {' → '.join(plan.regions)}, {plan.trials} trials "
                  "per pair, strong and eventual reads")
    mode.race = race.run_race(regions, settings, plan.race_plan(), on_trial=counter(
        f"{label} race trials", plan.trials * len(plan.pairs)))
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
