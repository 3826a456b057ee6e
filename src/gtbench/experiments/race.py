"""The race: write in one region, poll another, and bound each replication lag.

Each trial writes a unique value to a new bookmark item in the writing region,
then K pollers read it in the reading region with ``ConsistentRead=True``,
staggered by ``interval / K``, until one sees the value or the trial times out
(with ``eventual``, as many pollers again read with eventually consistent reads).
Every call is recorded as an ``Op`` on one monotonic clock; the bound comes from
``analysis.lag_bound``.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gtbench import analysis
from gtbench.analysis import CloudWatchStats, RaceVerdict
from gtbench.awsrules import EVENTUAL
from gtbench.experiments import polling
from gtbench.experiments.load import LoadStep
from gtbench.experiments.preflight import check_pairs, round_trips_s
from gtbench.experiments.trials import RunEnd, run_trials, timed_write
from gtbench.history import FAIL, Op
from gtbench.local import truth
from gtbench.regions import LOCAL, Regions, Settings

RACE_PK = "gtbench-race"

Pair = tuple[str, str]


MAX_POLLERS = 48  # botocore's pool is 64 connections per client
HEADROOM = 1.25  # a poller's interval exceeds the round trip by this much, for jitter


@dataclass(frozen=True)
class Schedule:
    """How one reading region is polled: ``pollers`` staggered evenly, each reading every
    ``interval_s``, so consecutive reads are ``interval_s / pollers`` apart."""

    pollers: int
    interval_s: float

    @property
    def spacing_s(self) -> float:
        return self.interval_s / self.pollers


def schedule_for(rtt_s: float, resolution_s: float, cap: int = MAX_POLLERS) -> Schedule:
    """Enough pollers that reads stay ``resolution_s`` apart: a poller can send only once
    per round trip, so from afar it takes many of them."""
    pollers = min(cap, max(1, math.ceil(rtt_s * HEADROOM / resolution_s)))
    return Schedule(pollers, pollers * resolution_s)


@dataclass(frozen=True)
class RacePlan:
    """The trials to run. With ``resolution_s`` the pollers of each reading region are
    chosen from its measured round trip; otherwise ``pollers`` every ``interval_s``."""

    pairs: tuple[Pair, ...]
    trials: int = 20
    pollers: int = 4
    interval_s: float = 0.1
    timeout_s: float = 10.0
    resolution_s: float | None = None
    # Also poll with eventually consistent reads (as many, on the same schedule): what a
    # reader that reads that way sees. A trial then runs until both kinds saw the write.
    eventual: bool = False
    # Each round of trials starts one pair later than the one before (the matrix): no
    # pair is measured first, or last, in every round.
    turn: bool = False

    def order(self) -> list[tuple[int, Pair]]:
        """Every trial as (index, pair), round by round."""
        n = len(self.pairs)
        return [(i, self.pairs[(i + k) % n if self.turn else k])
                for i in range(self.trials) for k in range(n)]

    @property
    def max_pollers(self) -> int:
        """Per kind of read: the eventual pollers share the pool with the strong ones."""
        return MAX_POLLERS // 2 if self.eventual else MAX_POLLERS

    def schedule(self, rtt_s: float) -> Schedule:
        if self.resolution_s is None:
            return Schedule(min(self.pollers, self.max_pollers), self.interval_s)
        return schedule_for(rtt_s, self.resolution_s, self.max_pollers)


@dataclass
class Trial:
    """One trial's inputs: its write, the reads that raced it, and the truth if known."""

    index: int
    from_region: str
    to_region: str
    sk: str
    value: int
    write: Op
    reads: list[Op]
    true_lag_s: float | None = None
    # "client": every time on this process's monotonic clock. "probes": the write and
    # the reads timed by probes in their regions, on wall clocks within clock_error_s,
    # and the reader's echo of the write (ping-pong) with the writer's reads of it.
    via: str = "client"
    clock_error_s: float = 0.0
    echo_write: Op | None = None
    echo_reads: list[Op] = field(default_factory=list)
    load_wps: float | None = None  # race --load: the background write rate meanwhile

    @property
    def pair(self) -> Pair:
        return self.from_region, self.to_region

    @property
    def ops(self) -> list[Op]:
        return [self.write, *self.reads, *([self.echo_write] if self.echo_write else []),
                *self.echo_reads]

    def verdict(self) -> RaceVerdict:
        echo = (self.echo_write, self.echo_reads) if self.echo_write is not None else None
        return analysis.race_verdict(self.write, self.reads, self.value, self.true_lag_s,
                                     self.clock_error_s, echo)


@dataclass
class RaceResult(RunEnd):
    """A race run; ``started_at`` (wall clock) places it for CloudWatch and the
    emulator's log."""

    plan: RacePlan
    resolution_s: dict[str, float]
    trials: list[Trial] = field(default_factory=list)
    started_ns: int = 0  # perf_counter_ns at started_at: Op times to wall clock
    schedules: dict[str, Schedule] = field(default_factory=dict)  # per reading region
    consistency: str = EVENTUAL  # the table's MultiRegionConsistency
    cloudwatch: dict[Pair, CloudWatchStats] = field(default_factory=dict)
    load: list[LoadStep] = field(default_factory=list)  # race --load: each step's load


def write_times(result: RaceResult) -> dict[Pair, list[float]]:
    """Wall-clock times of each pair's writes: the periods in which replication (and so
    CloudWatch's ReplicationLatency) happened."""
    out: dict[Pair, list[float]] = {}
    for trial in result.trials:
        out.setdefault(trial.pair, []).append(
            trial.write.sent_ns / 1e9 if trial.via == "probes"  # a probe's wall clock
            else result.started_at + (trial.write.sent_ns - result.started_ns) / 1e9)
    return out


def write_op(client: Any, table: str, region: str, item: dict[str, Any], value: int,
             process: int = 0, write_id: str | None = None) -> Op:
    """One PutItem as an Op; a refused or unanswered write is a result, not an error."""
    return timed_write(lambda: client.put_item(TableName=table, Item=item), region=region,
                       value=value, process=process, write_id=write_id)


def run_trial(regions: Regions, table: str, pair: Pair, index: int, run_id: str,
              plan: RacePlan, pool: ThreadPoolExecutor, stop: threading.Event,
              schedule: Schedule | None = None) -> Trial:
    """Write, then poll until a read sees it, the reads keep failing, the timeout passes,
    or ``stop`` is set from outside (Ctrl-C)."""
    source, target = pair
    sk = f"{run_id}-{index:04d}-{target}"
    key = {"PK": {"S": RACE_PK}, "SK": {"S": sk}}
    value = secrets.randbelow(10**12)
    write = write_op(regions.writer(source), table, source,
                     {**key, polling.VALUE: {"N": str(value)}}, value)
    if write.result == FAIL:
        return Trial(index, source, target, sk, value, write, [])  # refused: nothing to see
    watch = polling.FailureWatch()
    start = write.received_ns / analysis.NS
    # One "done" per kind of read: a trial ends once every kind has seen the value.
    kinds = {True: threading.Event(), **({False: threading.Event()} if plan.eventual else {})}

    def on_read(op: Op) -> None:
        if op.value == value:
            kinds[op.consistent].set()
        if all(done.is_set() for done in kinds.values()) or watch.failing(op):
            stop.set()

    every = schedule or Schedule(plan.pollers, plan.interval_s)
    futures = [pool.submit(polling.poll, regions.reader(target), table, target, key,
                           process=k + n * every.pollers,
                           first_send=start + k * every.spacing_s,
                           interval_s=every.interval_s, deadline=start + plan.timeout_s,
                           stop=stop, on_read=on_read, consistent=consistent, done=done)
               for n, (consistent, done) in enumerate(kinds.items())
               for k in range(every.pollers)]
    reads = sorted((op for f in futures for op in f.result()), key=lambda op: op.sent_ns)
    return Trial(index, source, target, sk, value, write, reads)


def run_race(regions: Regions, settings: Settings, plan: RacePlan,
             on_trial: Callable[[Trial], None] | None = None) -> RaceResult:
    """Every trial of ``plan``. Ctrl-C ends the run at once with the trials completed so
    far (``interrupted``); so does a run of failed trials (``stopped``)."""
    consistency = check_pairs(regions, settings, plan.pairs)
    readers = sorted({t for _, t in plan.pairs} | {s for s, _ in plan.pairs})
    result = RaceResult(plan, {}, consistency=consistency)
    result.started_at, result.started_ns = time.time(), time.perf_counter_ns()
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    local = settings.target == LOCAL and regions.endpoint_url is not None
    pool = ThreadPoolExecutor(max_workers=MAX_POLLERS, thread_name_prefix="poller")

    def prepare() -> None:
        result.resolution_s = round_trips_s(regions, settings.table, readers, pool)
        result.schedules = {t: plan.schedule(result.resolution_s[t]) for _, t in plan.pairs}

    def job(index: int, pair: Pair) -> Callable[[threading.Event], Trial]:
        def run(stop: threading.Event) -> Trial:
            since = time.time() - 1
            trial = run_trial(regions, settings.table, pair, index, run_id, plan, pool,
                              stop, result.schedules[pair[1]])
            if local:  # at once, so the live line shows the true lag too
                attach_ground_truth([trial], str(regions.endpoint_url), settings.table,
                                    since, plan.timeout_s)
            return trial
        return run

    run_trials((job(i, pair) for i, pair in plan.order()), result,
               result.trials, status=lambda t: t.verdict().status,
               ops=lambda t: t.ops, pool=pool, prepare=prepare,
               on_trial=on_trial)
    return result


def attach_ground_truth(trials: Sequence[Trial], endpoint_url: str, table: str, since: float,
                        timeout_s: float) -> None:
    """Each trial's true lag, from the emulator's replication log."""
    wanted = {(t.sk, t.from_region, t.to_region): t for t in trials}
    # A delivery that never came may never settle (paused replication): don't wait on it.
    waited = {k for k, t in wanted.items() if t.verdict().status == "replicated"}
    rows = truth.settled(
        endpoint_url, table, since,
        lambda r: (truth.sort_key_of(r), r["source_region"], r["target_region"]) in waited,
        timeout_s=timeout_s)
    for row in rows or []:
        trial = wanted.get((str(truth.sort_key_of(row)), row["source_region"],
                            row["target_region"]))
        if trial is not None and row["outcome"] == "applied":
            trial.true_lag_s = row["applied_at"] - row["written_at"]
