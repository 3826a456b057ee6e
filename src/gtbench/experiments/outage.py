"""Outage: cut one region off under a steady workload, and measure what is lost and how
the table heals.

Every region writes ``rate`` times a second to a shared set of items, each write with
its own identity; a share of them are read-modify-write increments of one counter
item. Each write also adds its identity to the item's ``Writes`` set, so an image
says every write it descends from: a write missing from the converged image was
thrown away by last-writer-wins, and gtbench can name it without sampling luck.

While the workload runs, one reader per region reads every item of the run every
``sample_s``. After ``lead_s`` of steady state the region is cut off (the emulator's
``isolate`` fault, or AWS FIS's ``aws:dynamodb:global-table-pause-replication``) for
``duration_s``; then the writers stop, the other regions are read in full (the
recovery point), the cut ends, and gtbench reads every region until they agree.
The cut is ended on every path, Ctrl-C and errors included.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from gtbench import analysis, outcomes
from gtbench.analysis import OutageWrite, Snapshot, heartbeat
from gtbench.analysis.heartbeat import BeatSeen, ObservedCut
from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.errors import GtbenchError
from gtbench.experiments import beats, polling
from gtbench.experiments.preflight import check_pairs
from gtbench.experiments.settling import await_keys
from gtbench.experiments.trials import RUN_FAILURES, RunEnd, failure_message, timed_write
from gtbench.history import OK, Op
from gtbench.local import truth
from gtbench.regions import Regions, Settings

OUTAGE_PK = beats.BEAT_PK  # the run's items and its heartbeats share a partition
COUNTER = "counter"
WRITES = "Writes"  # the set of write ids an image descends from
ENDPOINT_GONE_S = 3.0  # every call failing this long: the endpoint is gone
WINDOW_SLACK_S = 0.002  # clock reads around a call: the stamp may fall just outside


@dataclass(frozen=True)
class OutagePlan:
    region: str
    duration_s: float = 10.0
    rate: float = 10.0  # writes per second, per region
    keys: int = 20
    increment_share: float = 0.2
    lead_s: float = 2.0
    sample_s: float = 0.25
    settle_timeout_s: float = 60.0
    min_stall_s: float = heartbeat.MIN_STALL_S  # the shortest silence that counts as a cut


class Cut(Protocol):
    """How a region is cut off: the emulator's nemesis, or an AWS FIS experiment.
    ``allowance_s``: how long after ``start`` the cut may take to hold."""

    allowance_s: float

    def describe(self) -> str: ...

    def start(self) -> None: ...

    def end(self) -> None: ...


@dataclass
class OutageTruth:
    """What the emulator's log says: the recovery point and the writes lost, as sets of
    write ids, computed from its stamps and parent links, not from gtbench's reads."""

    recovery_point: list[str]
    lost: list[str]


@dataclass
class OutageResult(RunEnd):
    plan: OutagePlan
    run_id: str
    regions: tuple[str, ...]
    consistency: str = EVENTUAL
    cut: str = ""
    writes: list[OutageWrite] = field(default_factory=list)
    reads: list[Op] = field(default_factory=list)  # strong-read probes, one per sample
    snapshots: list[Snapshot] = field(default_factory=list)
    held: list[Snapshot] = field(default_factory=list)
    rounds: list[list[Snapshot]] = field(default_factory=list)
    start_ns: int = 0  # the cut began (perf_counter_ns)
    end_ns: int = 0  # the cut ended
    cut_ended_at: float = 0.0  # wall clock, as the cut's end was requested
    truth: OutageTruth | None = None
    wall_offset_s: float = 0.0  # time.time() - perf_counter(), to place stamps
    # Heartbeats: every region's beats, and what each region saw of the others'.
    beats: list[Op] = field(default_factory=list)
    seen: list[BeatSeen] = field(default_factory=list)
    origin_ns: int = 0  # the outage began (perf_counter_ns)
    requested_ns: int = 0  # the cut was asked for

    def wall(self, perf_ns: int) -> float:
        return self.wall_offset_s + perf_ns / 1e9

    def observed(self, now_ns: int | None = None) -> ObservedCut | None:
        """The cut as the heartbeats show it (None before it was asked for)."""
        if not self.requested_ns:
            return None
        stall = heartbeat.stall_threshold(self.plan.region, self.beats, self.seen,
                                          self.requested_ns, self.plan.sample_s,
                                          self.plan.min_stall_s)
        return heartbeat.observe_cut(self.plan.region, self.beats, self.seen,
                                     self.requested_ns, stall,
                                     now_ns or self.last_ns())

    def last_ns(self) -> int:
        return max([s.received_ns for s in self.seen] + [self.end_ns, self.requested_ns])

    def _end_ns(self) -> int:
        """The cut's end; while it lasts, now (the live view); 0 if it never began (a
        stored run must judge the same whenever it is checked)."""
        if self.end_ns:
            return self.end_ns
        return time.perf_counter_ns() if self.start_ns else 0

    def summary(self) -> analysis.OutageSummary:
        summary = analysis.outage_summary(self.plan.region, self.regions, self.writes,
                                          self.reads, self.snapshots, self.held, self.rounds,
                                          self.start_ns, self._end_ns(),
                                          self.observed(), self.origin_ns)
        if self.truth is None:
            return summary
        return replace(summary, against_truth=analysis.against_truth(
            summary, self.truth.recovery_point, self.truth.lost))


class Progress:
    def step(self, message: str) -> None:
        """A new phase begins."""

    def tick(self, result: OutageResult) -> None:
        """About once a second while the workload runs."""


def snapshot(client: Any, table: str, region: str, run_id: str, consistent: bool,
             full: bool) -> Snapshot:
    """Every item of the run in ``region``: its last write, and with ``full`` every write
    it descends from. A failed read is a result."""
    sent = time.perf_counter_ns()
    items: dict[str, str] = {}
    writes: dict[str, list[str]] = {}
    names = {"#w": "LastWrite", "#k": "SK", **({"#s": WRITES} if full else {})}
    kwargs: dict[str, Any] = {
        "TableName": table, "ConsistentRead": consistent,
        "KeyConditionExpression": "PK = :pk AND begins_with(#k, :run)",
        "ExpressionAttributeValues": {":pk": {"S": OUTAGE_PK}, ":run": {"S": run_id}},
        "ExpressionAttributeNames": names,
        "ProjectionExpression": "#k, #w" + (", #s" if full else "")}
    try:
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                key = item["SK"]["S"]
                items[key] = item.get("LastWrite", {}).get("S", "")
                if full:
                    writes[key] = sorted(item.get(WRITES, {}).get("SS", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as exc:
        result, code = outcomes.read_failure(exc)
        return Snapshot(region, sent, time.perf_counter_ns(), result, consistent=consistent,
                        error=code)
    return Snapshot(region, sent, time.perf_counter_ns(), OK, items,
                    writes if full else None, consistent)


def write_once(client: Any, table: str, region: str, key: str, write_id: str,
               increment: bool, value: int, process: int, under_cut: bool = False) -> Op:
    """One UpdateItem of the workload, as an Op; refused or unanswered is a result. Once
    the cut is asked for, an answer not known to mean "refused" or "failed" (an MRSC
    replica cut off by FIS: AccessDeniedException is documented for replicas not
    authorized, and FIS names none) is recorded as ``info`` with its code: the run goes
    on, and the history says what was answered."""
    names = {"#v": "Bookmark", "#w": "LastWrite", "#s": WRITES}
    values: dict[str, Any] = {":id": {"S": write_id}, ":ids": {"SS": [write_id]}}
    if increment:
        expression = "SET #v = if_not_exists(#v, :zero) + :one, #w = :id ADD #s :ids"
        values.update({":zero": {"N": "0"}, ":one": {"N": "1"}})
    else:
        expression = "SET #v = :v, #w = :id ADD #s :ids"
        values[":v"] = {"N": str(value)}
    return timed_write(lambda: client.update_item(
        TableName=table, Key={"PK": {"S": OUTAGE_PK}, "SK": {"S": key}},
        UpdateExpression=expression, ExpressionAttributeNames=names,
        ExpressionAttributeValues=values), region=region, value=value, process=process,
        write_id=write_id, unknown_is_info=under_cut)


def run_outage(regions: Regions, settings: Settings, plan: OutagePlan, cut: Cut,
               progress: Progress | None = None) -> OutageResult:
    """The whole experiment; see the module's docstring. Ctrl-C ends the cut and keeps
    every operation measured (``interrupted``)."""
    return OutageRun(regions, settings, plan, cut, progress or Progress()).run()


class OutageRun:
    """One outage run: the workload's threads (writers, readers, heartbeats) and the
    phases of the cut, each a method, over one ``OutageResult`` that every phase adds
    to and every stop keeps."""

    def __init__(self, regions: Regions, settings: Settings, plan: OutagePlan, cut: Cut,
                 progress: Progress) -> None:
        self.regions, self.settings, self.plan, self.cut = regions, settings, plan, cut
        self.progress = progress
        self.names = tuple(settings.regions)
        pairs = [(a, b) for a in self.names for b in self.names if a != b]
        consistency = check_pairs(regions, settings, pairs)
        self.run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
        self.result = OutageResult(plan, self.run_id, self.names, consistency,
                                   cut.describe())
        # MRSC: the cut region refuses strong reads, and only eventual reads show what
        # each replica holds; MREC: strong reads are the region's own latest.
        self.consistent = consistency != STRONG
        self.lock = threading.Lock()
        self.writing, self.reading = threading.Event(), threading.Event()
        self.asked = threading.Event()  # the cut was asked for: answers under it are results
        self.failures: list[BaseException] = []
        self.keys = [f"{self.run_id}-k{k:03d}" for k in range(plan.keys)]
        self.counter = f"{self.run_id}-{COUNTER}"
        # Every call of every region failing for a while: the endpoint is gone (an
        # emulator killed, a network down). The run stops and keeps what it measured; an
        # MRSC region refusing during the cut is not this, as the other regions answer.
        self.watch = polling.FailureWatch(ENDPOINT_GONE_S)
        self.gone = threading.Event()
        self.cut_on = False
        self.threads = (
            [threading.Thread(target=self.writer, args=(i, r), daemon=True,
                              name=f"outage-writer-{r}") for i, r in enumerate(self.names)]
            + [threading.Thread(target=self.reader, args=(r,), daemon=True,
                                name=f"outage-reader-{r}") for r in self.names]
            + [threading.Thread(target=self.beater, args=(r,), daemon=True,
                                name=f"outage-beat-{r}") for r in self.names])

    # -- the workload's threads -----------------------------------------------------
    def seen(self, op: Op) -> None:
        if self.watch.failing(op):
            self.gone.set()
            self.writing.set()

    def writer(self, index: int, region: str) -> None:
        plan, result = self.plan, self.result
        rng = random.Random(f"{self.run_id}-{region}")
        client = self.regions.reader(region)  # one attempt per write: each is in the history
        next_send = time.perf_counter()
        sequence = 0
        try:
            while not self.writing.is_set():
                pause = next_send - time.perf_counter()
                if pause > 0 and self.writing.wait(pause):
                    break
                increment = rng.random() < plan.increment_share
                key = self.counter if increment else rng.choice(self.keys)
                write_id = f"{region}#{sequence}"
                op = write_once(client, self.settings.table, region, key, write_id, increment,
                                rng.randrange(10**9), index, under_cut=self.asked.is_set())
                with self.lock:
                    result.writes.append(OutageWrite(op, key, increment))
                self.seen(op)
                sequence += 1
                next_send = max(next_send + 1 / plan.rate, time.perf_counter() - 1)
        except BaseException as exc:  # handed to the main thread, raised there
            self.failures.append(exc)
            self.writing.set()

    def reader(self, region: str) -> None:
        client = self.regions.reader(region)
        table, result = self.settings.table, self.result
        probe = {"PK": {"S": OUTAGE_PK}, "SK": {"S": self.counter}}
        while not self.reading.is_set():
            snap = snapshot(client, table, region, self.run_id, self.consistent, full=False)
            # A strong read too, on either kind: what an isolated MRSC region refuses.
            op = polling.read_op(client, table, region, probe, 0)
            beats_seen = beats.read_beats(client, table, region, self.run_id,
                                          self.consistent, self.names)
            with self.lock:
                result.snapshots.append(snap)
                result.reads.append(op)
                result.seen.extend(beats_seen)
            self.seen(op)
            self.reading.wait(self.plan.sample_s)

    def beater(self, region: str) -> None:
        # Beats go on until the very end: after the cut, the first beat another region
        # sees is when replication resumed (an MRSC region refuses them during it).
        client = self.regions.reader(region)
        seq = 0
        try:
            while not self.reading.wait(heartbeat.BEAT_S):
                op = beats.beat_once(client, self.settings.table, region, self.run_id, seq)
                with self.lock:
                    self.result.beats.append(op)
                self.seen(op)
                seq += 1
        except BaseException as exc:
            self.failures.append(exc)
            self.writing.set()

    def read_all(self, which: Sequence[str]) -> list[Snapshot]:
        return [snapshot(self.regions.reader(r), self.settings.table, r, self.run_id,
                         self.consistent, full=True) for r in which]

    def check(self) -> None:
        _raise_from(self.failures)
        if self.gone.is_set():
            self.result.stopped = (f"every region's calls failed for {ENDPOINT_GONE_S:g} s: "
                                   f"the endpoint stopped answering "
                                   f"({_last_error(self.result)})")
            raise _Stopped

    # -- the phases -----------------------------------------------------------------
    def steady(self) -> None:
        """The workload alone, for the lead."""
        plan, result = self.plan, self.result
        for thread in self.threads:
            thread.start()
        self.progress.step(f"steady workload in {', '.join(self.names)}: {plan.rate:g} "
                           f"writes/s each to {plan.keys} items and a counter")
        _wait(plan.lead_s, self.writing, result, self.progress)
        self.check()

    def cut_off(self) -> None:
        """Ask for the cut, wait until the heartbeats show it, hold it its duration."""
        plan, result, cut = self.plan, self.result, self.cut
        self.progress.step(f"cutting off {plan.region} for {plan.duration_s:g} s "
                           f"({cut.describe()})")
        self.cut_on = True  # before start: a Ctrl-C while it starts must still undo it
        self.asked.set()
        result.requested_ns = time.perf_counter_ns()
        cut.start()
        began = time.monotonic()
        start: int | None = None
        while True:
            observed = _await_cut(result, cut, self.writing, self.lock, self.progress, began)
            self.check()
            if observed is None:
                result.start_ns = result.end_ns = time.perf_counter_ns()
                result.stopped = (f"the cut of {plan.region} never took hold within "
                                  f"{cut.allowance_s:g} s of asking ({cut.describe()}): "
                                  f"replication out of {plan.region} went on")
                raise _Stopped
            seen_start, held_from = observed
            if start is None or seen_start > start:
                later = "" if start is None else "later than it seemed, "
                self.progress.step(f"the cut took hold {later}"
                                   f"{(seen_start - result.requested_ns) / 1e9:.1f} s "
                                   f"after it was asked for; {plan.duration_s:g} s from then")
            start = result.start_ns = seen_start
            _wait((held_from + int(plan.duration_s * 1e9) - time.perf_counter_ns()) / 1e9,
                  self.writing, result, self.progress)
            self.check()
            # The live view judged on the beats seen so far; replies a loaded machine
            # delivered late can move the start later (a stall taken for the cut). The
            # hold counts from where the whole record places the start, as the summary
            # will: hold on until that start is confirmed, its duration over.
            with self.lock:
                again = result.observed(time.perf_counter_ns())
            if again is not None and again.start_ns is not None and again.start_ns <= start:
                return

    def heal(self) -> None:
        """Stop writing, read what the others held, end the cut, and watch until every
        region agrees (or the settle timeout)."""
        plan, result = self.plan, self.result
        self.writing.set()
        for thread in self.threads[:len(self.names)]:
            thread.join()
        result.held = self.read_all([r for r in self.names if r != plan.region])
        result.end_ns = time.perf_counter_ns()
        result.cut_ended_at = time.time()
        self.progress.step(f"ending the cut of {plan.region}; watching until every region "
                           "agrees")
        self.cut.end()
        self.cut_on = False
        deadline = time.monotonic() + plan.settle_timeout_s
        while True:
            this_round = self.read_all(self.names)
            result.rounds.append(this_round)
            if analysis.agree(this_round) or time.monotonic() > deadline:
                break
            for snap in this_round:  # reads too: a dead endpoint ends the watch
                self.seen(Op(region=snap.region, kind="read", sent_ns=snap.sent_ns,
                             received_ns=snap.received_ns, result=snap.result))
            self.check()
            time.sleep(plan.sample_s)

    def wind_down(self) -> None:
        """On every path: the workload stops and the cut ends (Ctrl-C, a failure,
        anything), and the threads are joined."""
        result = self.result
        self.writing.set()
        self.reading.set()
        if self.cut_on:
            if result.start_ns and not result.end_ns:
                result.end_ns = time.perf_counter_ns()
                result.cut_ended_at = time.time()
            try:
                self.cut.end()
            except (*RUN_FAILURES, OSError) as exc:
                # The endpoint that would end it is gone (or refuses): say so, keep it.
                result.stopped = (result.stopped or "the run ended early") + (
                    f"; ending the cut failed ({exc}): check `gtbench local fault list` "
                    "or the FIS console")
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout=10)
        result.ended_at = time.time()

    def run(self) -> OutageResult:
        result = self.result
        result.started_at = time.time()
        result.origin_ns = time.perf_counter_ns()
        result.wall_offset_s = wall_offset_s()
        try:
            self.steady()
            self.cut_off()
            self.heal()
        except KeyboardInterrupt:
            result.interrupted = True
        except _Stopped:
            pass  # said in ``stopped``; the history is kept, no figure is made up
        except RUN_FAILURES as exc:
            # The cut could not be started or the table read (the endpoint gone, a
            # refusal): what was measured until then is kept, with the reason.
            result.stopped = f"the run could not go on: {failure_message(exc)}"
        finally:
            self.wind_down()
        self.settle_and_check()
        return result

    def settle_and_check(self) -> None:
        """After a whole run: the heartbeats' last images reach every region (so the
        replicas agree when it exits), and on the emulator its ground truth."""
        result, names, table = self.result, self.names, self.settings.table
        if not result.interrupted and not result.stopped:
            await_keys({r: self.regions.reader(r) for r in names}, table,
                       [{"PK": {"S": OUTAGE_PK}, "SK": {"S": beats.beat_key(self.run_id, r)}}
                        for r in names])
        if self.settings.target == "local" and self.regions.endpoint_url and result.rounds \
                and not self.gone.is_set():
            try:
                result.truth = outage_truth(self.regions.endpoint_url, table, result)
            except GtbenchError:
                result.truth = None  # the emulator went away: no truth, the run stands


class _Stopped(Exception):
    """The run cannot go on (the cut never took hold, the endpoint is gone); the reason
    is in ``result.stopped`` and the history is kept."""


def _last_error(result: OutageResult) -> str:
    errors = [w.op.error for w in result.writes if w.op.error]
    return f"last error: {errors[-1]}" if errors else "no answer"


def _await_cut(result: OutageResult, cut: Cut, stopped: threading.Event,
               lock: threading.Lock, progress: Progress, began: float) -> tuple[int, int] | None:
    """The observed start of the cut and the instant to hold it from (perf_counter_ns),
    waiting for it to show in the heartbeats for up to the cut's allowance (plus the
    time a silence takes to count) from ``began`` (monotonic), when the cut was started.
    The hold counts from the first held beat's answer (``ObservedCut.start_by_ns``)."""
    shown = time.monotonic()
    while True:
        with lock:
            observed = result.observed(time.perf_counter_ns())
        if observed is not None and observed.start_ns is not None:
            return observed.start_ns, max(observed.start_ns, observed.start_by_ns or 0)
        waited = time.monotonic() - began
        if stopped.is_set() or (observed is not None
                                and waited > cut.allowance_s + observed.stall_s):
            return None
        if time.monotonic() - shown >= 1.0:
            shown = time.monotonic()
            progress.tick(result)
        stopped.wait(0.05)


def _wait(seconds: float, stopped: threading.Event, result: OutageResult,
          progress: Progress) -> None:
    """Wait ``seconds``, waking each second to show progress; early if a writer failed."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if stopped.wait(min(1.0, left)):
            return
        progress.tick(result)


def _raise_from(failures: list[BaseException]) -> None:
    if failures:
        raise failures[0]


# -- ground truth ---------------------------------------------------------------------


def outage_truth(endpoint_url: str, table: str, result: OutageResult) -> OutageTruth | None:
    """The recovery point and the lost writes from the emulator's replication log: each
    write's stamp, the stamp it replaced in its own region, and when each delivery was
    applied. None when the log cannot be lined up with the writes."""
    rows = truth.settled(endpoint_url, table, result.started_at - 1,
                         lambda r: str(truth.sort_key_of(r) or "").startswith(result.run_id),
                         timeout_s=10)
    if not rows:
        return None
    return truth_from_rows(rows, result)


def wall_offset_s(tries: int = 5) -> float:
    """``time.time() - perf_counter()``, from the tightest of a few bracketed readings: a
    thread preempted between two plain reads (a loaded machine) would shift every stamp
    placed with it by the pause, and the truth matches stamps within 2 ms."""
    readings = []
    for _ in range(tries):
        before = time.perf_counter()
        wall = time.time()
        after = time.perf_counter()
        readings.append((after - before, wall - (before + after) / 2))
    return min(readings)[1]


def truth_from_rows(rows: Sequence[truth.Row], result: OutageResult) -> OutageTruth | None:
    # Every write appears once per target: one entry per stamp.
    stamps: dict[int, truth.Row] = {}
    for row in rows:
        stamps.setdefault(int(row["stamp_ns"]), row)
    parent = {s: r.get("parent_stamp_ns") for s, r in stamps.items()}
    key_of = {s: str(truth.sort_key_of(r)) for s, r in stamps.items()}
    # A write's stamp falls inside its own send-to-answer window: line them up on the
    # wall clock (one offset, measured at the start). Any stamp left over: no truth.
    ids: dict[int, str] = {}
    acked: dict[int, bool] = {}  # a write answered 500 may have landed: not acknowledged
    for region in result.regions:
        windows = sorted(((result.wall(w.op.sent_ns) - WINDOW_SLACK_S,
                           result.wall(w.op.received_ns) + WINDOW_SLACK_S, w)
                          for w in result.writes if w.op.region == region
                          and w.op.result != "fail"), key=lambda x: x[0])
        for s in sorted(x for x, r in stamps.items() if r["source_region"] == region):
            at = s / 1e9
            match = [w for lo, hi, w in windows if lo <= at <= hi]
            if len(match) > 1:  # back to back: the window that holds it without slack
                match = [w for w in match
                         if result.wall(w.op.sent_ns) <= at <= result.wall(w.op.received_ns)]
            if len(match) != 1:
                return None
            ids[s] = str(match[0].op.write_id)
            acked[s] = match[0].op.ok

    def lineage(stamp: int | None) -> set[int]:
        out: set[int] = set()
        while stamp is not None and stamp not in out:
            out.add(stamp)
            stamp = parent.get(stamp)
        return out

    end = result.cut_ended_at
    cut = result.plan.region
    held: set[int] = set()
    for region in (r for r in result.regions if r != cut):
        # The image each other region held as the cut ended, and all it descends from.
        latest: dict[str, int] = {}
        for s, r in stamps.items():
            own = r["source_region"] == region and s / 1e9 <= end
            arrived = any(x["target_region"] == region and int(x["stamp_ns"]) == s
                          and x["outcome"] == "applied" and x["applied_at"] is not None
                          and x["applied_at"] <= end for x in rows)
            if (own or arrived) and s > latest.get(key_of[s], -1):
                latest[key_of[s]] = s
        for s in latest.values():
            held |= lineage(s)
    point = [ids[s] for s, r in sorted(stamps.items())
             if r["source_region"] == cut and s / 1e9 <= end and s not in held and acked[s]]
    final: dict[str, int] = {}
    for s in stamps:
        final[key_of[s]] = max(final.get(key_of[s], -1), s)
    kept: set[int] = set()
    for s in final.values():
        kept |= lineage(s)
    lost = [ids[s] for s in sorted(stamps) if s not in kept and acked[s]]
    return OutageTruth(point, lost)
