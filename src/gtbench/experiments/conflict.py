"""Conflicts: concurrent writes to one item from two regions, and last-writer-wins.

A trial stages writes from one writer thread per region, each released at a
precise moment (``offset_ms`` apart), while pollers in every writing region
record what it shows. Each write sets ``LastWrite`` to its own identity, so a
read says exactly which write produced the image it sees; ``analysis`` judges the
trial from those Ops alone.

- overwrite: one PutItem per region, each with its own value, on a fresh item.
- increment: the workshop's ``SET Bookmark = Bookmark + :inc``, M times per region
  on one item that starts at 0 in both. Each update also counts itself in
  ``Updates_<region>``, so the final image says how many updates it contains and
  the rest were lost.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from gtbench import analysis, outcomes
from gtbench.analysis import ConflictVerdict, FinalImage, WriteTruth
from gtbench.awsrules import STRONG
from gtbench.errors import GtbenchError
from gtbench.experiments import polling
from gtbench.experiments.preflight import check_pairs, round_trips_s
from gtbench.experiments.trials import RunEnd, last_error, run_trials
from gtbench.history import OK, Op
from gtbench.local import truth
from gtbench.regions import LOCAL, Regions, Settings

CONFLICT_PK = "gtbench-conflict"
ConflictMode = Literal["overwrite", "increment"]
OVERWRITE: ConflictMode = "overwrite"
INCREMENT: ConflictMode = "increment"
SEED = "seed"
LEAD_S = 0.05  # writers and pollers are ready this long before the release
Alignment = Literal["send", "arrival"]


@dataclass(frozen=True)
class ConflictPlan:
    regions: tuple[str, str]  # the first writer, and the one that sends offset_ms later
    offsets_ms: tuple[float, ...] = (0.0,)
    trials: int = 5
    mode: ConflictMode = OVERWRITE
    increments: int = 5
    pace_ms: float = 100.0
    same_sign: bool = False
    pollers: int = 2  # per region
    interval_s: float = 0.05
    timeout_s: float = 10.0
    # send: the offset is between the requests leaving the client; arrival: between
    # their reaching the regions (each writer leaves half its round trip earlier).
    align: Alignment = "send"

    def increment_of(self, region: str) -> int:
        return 1 if region == self.regions[0] or self.same_sign else -1


@dataclass(frozen=True)
class WriteSpec:
    region: str
    write_id: str
    at_s: float  # after the release
    value: int  # overwrite: the value written; increment: the increment


@dataclass
class ConflictTrial:
    """One trial's inputs: the writes and reads, and what the emulator knows of them."""

    index: int
    offset_ms: float
    sk: str
    mode: ConflictMode
    writes: list[Op]
    reads: list[Op]
    release_ns: int
    increments: dict[str, int] = field(default_factory=dict)  # increment: write id -> +-1
    final: FinalImage | None = None  # increment: the converged item
    truth: dict[str, WriteTruth] | None = None  # write id -> the emulator's log
    # Writes of the plan never sent: the run stopped before their moment. The trial is
    # incomplete and gives no verdict.
    unsent: list[str] = field(default_factory=list)

    def verdict(self) -> ConflictVerdict:
        return analysis.conflict_verdict(self.writes, self.reads, truth=self.truth,
                                         increments=self.increments, final=self.final,
                                         unsent=len(self.unsent))


@dataclass
class ConflictResult(RunEnd):
    plan: ConflictPlan
    trials: list[ConflictTrial] = field(default_factory=list)
    round_trips_s: dict[str, float] = field(default_factory=dict)  # per writing region

    @property
    def ground_truth(self) -> bool:
        return any(t.truth for t in self.trials)


def specs_for(plan: ConflictPlan, offset_ms: float,
              round_trips_s: dict[str, float] | None = None) -> list[WriteSpec]:
    """Every write of one trial, when it is sent, and what it writes. Aligned on
    arrival, each region's writes leave half its round trip before they should land."""
    first, second = plan.regions
    starts = {first: max(-offset_ms, 0.0) / 1000, second: max(offset_ms, 0.0) / 1000}
    if plan.align == "arrival" and round_trips_s:
        starts = {r: at - round_trips_s.get(r, 0.0) / 2 for r, at in starts.items()}
        earliest = min(starts.values())
        starts = {r: at - earliest for r, at in starts.items()}
    if plan.mode == OVERWRITE:
        values = secrets.SystemRandom().sample(range(1000, 10000), 2)
        return [WriteSpec(r, f"{r}#0", starts[r], v) for r, v in zip(plan.regions, values,
                                                                   strict=True)]
    return [WriteSpec(r, f"{r}#{k}", starts[r] + k * plan.pace_ms / 1000,
                      plan.increment_of(r))
            for r in plan.regions for k in range(plan.increments)]


def wait_until(target_s: float, stop: threading.Event | None = None) -> bool:
    """Sleep to just short of ``target_s`` (perf_counter), then spin: sleep alone
    overshoots by up to a scheduler tick, which is as large as what we measure. False,
    at once, if ``stop`` is set first (Ctrl-C must not wait out a long offset)."""
    remaining = target_s - time.perf_counter()
    if remaining > 0.002:
        if stop is None:
            time.sleep(remaining - 0.002)
        elif stop.wait(remaining - 0.002):
            return False
    while time.perf_counter() < target_s:
        pass
    return True


class Cancelled(Exception):
    """A write whose moment never came (the run was stopped): it was never sent."""


WRITE_EVENTS = ("before-send.dynamodb.PutItem", "before-send.dynamodb.UpdateItem")


class Gate:
    """One writer's release gate, on a client of its own: its next write leaves at
    ``release_s`` (perf_counter) and ``sent_ns`` records when it did. Nothing else uses
    the client, so no other caller's request (a poller's) can ever be held."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.release_s: float | None = None
        self.sent_ns: int | None = None
        self.stop: threading.Event | None = None  # the current trial's
        for event in WRITE_EVENTS:
            client.meta.events.register(event, self._hold, unique_id=f"gtbench-gate-{event}")

    def _hold(self, **_: Any) -> None:
        # botocore calls this with the request built and signed, just before the socket
        # write: holding here leaves no serialising or signing between release and send,
        # so the two writers' sends are not spread apart by each other's CPU work.
        if self.release_s is not None:
            released = wait_until(self.release_s, self.stop)
            self.release_s = None
            if not released:
                raise Cancelled
            self.sent_ns = time.perf_counter_ns()


@contextmanager
def fine_switching(interval_s: float = 0.0002) -> Iterator[None]:
    """A short GIL switch interval while writers are released together: with the
    default 5 ms, a spinning thread would hold back the other writer."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _write(gate: Gate, table: str, key: dict[str, Any], spec: WriteSpec, mode: ConflictMode,
           process: int, release_s: float) -> Op | None:
    """One gated write at ``release_s``; None if the run stopped before it was sent."""
    client = gate.client
    if mode == OVERWRITE:
        request, params = client.put_item, dict(
            TableName=table, Item={**key, polling.VALUE: {"N": str(spec.value)},
                                   polling.WRITE_ID: {"S": spec.write_id}})
    else:
        request, params = client.update_item, dict(
            TableName=table, Key=key,
            UpdateExpression="SET #v = #v + :inc, #w = :id ADD #n :one",
            ExpressionAttributeNames={"#v": polling.VALUE, "#w": polling.WRITE_ID,
                                      "#n": f"Updates_{spec.region}"},
            ExpressionAttributeValues={":inc": {"N": str(spec.value)},
                                       ":id": {"S": spec.write_id}, ":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW")
    gate.release_s, gate.sent_ns = release_s, None
    started = time.perf_counter_ns()
    # An overwrite's value is known even if its fate is not; an increment's result is not.
    intended = spec.value if mode == OVERWRITE else None
    try:
        response = request(**params)
    except Cancelled:
        return None
    except (ClientError, BotoCoreError) as exc:
        known = outcomes.classify(exc)
        if known is None:
            raise  # access denied, missing table...: the user's to fix, not a result
        return Op(region=spec.region, kind="write", sent_ns=gate.sent_ns or started,
                  received_ns=time.perf_counter_ns(), result=known[0], value=intended,
                  process=process, write_id=spec.write_id, error=known[1])
    finally:
        gate.release_s = None
    acked = time.perf_counter_ns()
    sent = gate.sent_ns or started
    value = spec.value if mode == OVERWRITE else int(
        response["Attributes"][polling.VALUE]["N"])
    return Op(region=spec.region, kind="write", sent_ns=sent, received_ns=acked, result=OK,
              value=value, process=process, write_id=spec.write_id)


MAX_CONFLICT_RETRIES = 20  # increment mode on MRSC: a refused update is sent again


def _writer(gate: Gate, table: str, key: dict[str, Any], specs: Sequence[WriteSpec],
            mode: ConflictMode, release_s: float, process: int, stop: threading.Event,
            retry_refused: bool = False) -> list[Op]:
    """One region's writes, each at its moment. With ``retry_refused`` (increment mode on
    a strongly consistent table), an update refused with ReplicatedWriteConflictException
    is sent again after a short random pause, and every attempt is in the history."""
    ops = []
    rng = secrets.SystemRandom()
    gate.stop = stop
    for spec in specs:
        # The request is built now and held at the gate until its moment; Ctrl-C (stop)
        # sends nothing more.
        if not wait_until(release_s + spec.at_s - 0.005, stop):
            break
        op = _write(gate, table, key, spec, mode, process, release_s + spec.at_s)
        if op is None:
            break
        ops.append(op)
        retries = 0
        while (retry_refused and op.error == analysis.REPLICATED_CONFLICT
               and retries < MAX_CONFLICT_RETRIES and not stop.is_set()):
            retries += 1
            time.sleep(rng.uniform(0.005, 0.05))
            again = _write(gate, table, key, spec, mode, process, time.perf_counter())
            if again is None:
                break
            op = again
            ops.append(op)
    return ops


def seed_item(regions: Regions, table: str, key: dict[str, Any], plan: ConflictPlan) -> None:
    """Increment mode: the item at 0 in the first region, and seen in every writer's."""
    regions.client(plan.regions[0]).put_item(
        TableName=table, Item={**key, polling.VALUE: {"N": "0"},
                               polling.WRITE_ID: {"S": SEED}})
    deadline = time.monotonic() + plan.timeout_s
    for region in plan.regions[1:]:
        while polling.read_op(regions.reader(region), table, region, key, 0).write_id != SEED:
            if time.monotonic() > deadline:
                raise GtbenchError(f"the starting item never reached {region} within "
                                   f"{plan.timeout_s:g} s", hint="raise --timeout")
            time.sleep(plan.interval_s / 2)


def writer_gates(regions: Regions, plan: ConflictPlan, strong: bool) -> dict[str, Gate]:
    """A gated client of its own for each region's writer, made once per run. On a
    strongly consistent table every attempt is a result: no botocore retries hide a
    refusal (ReplicatedWriteConflictException is retryable in its standard mode)."""
    attempts = 1 if strong else regions.writer_attempts
    return {r: Gate(regions.own_client(r, attempts)) for r in plan.regions}


def run_trial(regions: Regions, table: str, plan: ConflictPlan, index: int,
              offset_ms: float, run_id: str, pool: ThreadPoolExecutor,
              stop: threading.Event, round_trips_s: dict[str, float] | None = None,
              strong: bool = False, gates: dict[str, Gate] | None = None) -> ConflictTrial:
    """Stage one trial. Its pollers end when the regions agree after the last write,
    when their reads have kept failing, at the timeout, or when ``stop`` is set from
    outside (Ctrl-C)."""
    sk = f"{run_id}-{index:04d}"
    key = {"PK": {"S": CONFLICT_PK}, "SK": {"S": sk}}
    if plan.mode == INCREMENT:
        seed_item(regions, table, key, plan)
    specs = specs_for(plan, offset_ms, round_trips_s)
    gates = gates or writer_gates(regions, plan, strong)
    # Warm each region's connections and credentials. Eventually consistent: on an MRSC
    # table a strong read costs a trip to the peer, and a warm-up needs only the socket.
    for region in plan.regions:
        for client in (regions.reader(region), gates[region].client):
            polling.read_op(client, table, region, key, 0, consistent=False)
    release = time.perf_counter() + LEAD_S
    deadline = release + max(s.at_s for s in specs) + plan.timeout_s
    latest: dict[tuple[str, int], Op] = {}  # each poller's newest read
    guard = threading.Lock()
    watch = polling.FailureWatch()
    acked_at_ns: int | None = None  # set once every write is acknowledged

    def on_read(op: Op) -> None:
        with guard:
            latest[(op.region, op.process)] = op
            if watch.failing(op) or (acked_at_ns is not None and analysis.agreed_write(
                    list(latest.values()), plan.regions, acked_at_ns) is not None):
                stop.set()

    readers = [pool.submit(polling.poll, regions.reader(r), table, r, key,
                           process=i * plan.pollers + k,
                           first_send=release + (k + 0.5) * plan.interval_s / plan.pollers,
                           interval_s=plan.interval_s, deadline=deadline, stop=stop,
                           on_read=on_read)
               for i, r in enumerate(plan.regions) for k in range(plan.pollers)]
    try:
        with fine_switching():
            writers = [pool.submit(_writer, gates[r], table, key,
                                   [s for s in specs if s.region == r], plan.mode, release,
                                   100 + i, stop, strong and plan.mode == INCREMENT)
                       for i, r in enumerate(plan.regions)]
            writes = sorted((op for f in writers for op in f.result()),
                            key=lambda o: o.sent_ns)
    except BaseException:
        stop.set()  # a write raised: release the pollers before the error goes up
        raise
    acked_at_ns = max(w.received_ns for w in writes)
    reads = sorted((op for f in readers for op in f.result()), key=lambda o: o.sent_ns)
    increments = ({s.write_id: s.value for s in specs} if plan.mode == INCREMENT else {})
    sent = {w.write_id for w in writes}
    trial = ConflictTrial(index, offset_ms, sk, plan.mode, writes, reads,
                          int(release * analysis.NS), increments,
                          unsent=[s.write_id for s in specs if s.write_id not in sent])
    if plan.mode == INCREMENT and trial.verdict().converged:
        trial.final = final_image(regions.client(plan.regions[0]), table, key, plan.regions)
    return trial


def final_image(client: Any, table: str, key: dict[str, Any],
                regions: Sequence[str]) -> FinalImage | None:
    """Increment mode: the converged item's value and per-region update counters."""
    try:
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    except (ClientError, BotoCoreError):
        return None  # the count stays unknown; the trial's verdict stands without it
    if not item or polling.VALUE not in item:
        return None
    return FinalImage(int(item[polling.VALUE]["N"]),
                      {r: int(item.get(f"Updates_{r}", {"N": "0"})["N"]) for r in regions})


def run_conflict(regions: Regions, settings: Settings, plan: ConflictPlan,
                 on_trial: Callable[[ConflictTrial], None] | None = None) -> ConflictResult:
    """Every trial of ``plan``. Ctrl-C ends the run at once with the trials completed so
    far (``interrupted``); so does a run of failed trials (``stopped``)."""
    first, second = plan.regions
    strong = check_pairs(regions, settings, [(first, second), (second, first)]) == STRONG
    result = ConflictResult(plan)
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    result.started_at = time.time()
    workers = len(plan.regions) * (plan.pollers + 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conflict")
    gates: dict[str, Gate] = {}

    def prepare() -> None:
        # Each writer's round trip: what arrival alignment corrects for, recorded always.
        result.round_trips_s = round_trips_s(regions, settings.table, plan.regions, pool)
        gates.update(writer_gates(regions, plan, strong))

    def job(index: int, offset: float) -> Callable[[threading.Event], ConflictTrial]:
        def run(stop: threading.Event) -> ConflictTrial:
            trial = run_trial(regions, settings.table, plan, index, offset, run_id, pool,
                              stop, result.round_trips_s, strong, gates)
            if settings.target == LOCAL and regions.endpoint_url:
                attach_truth(trial, regions.endpoint_url, settings.table,
                             result.started_at - 1)
            return trial
        return run

    offsets = [o for o in plan.offsets_ms for _ in range(plan.trials)]
    run_trials((job(i, offset) for i, offset in enumerate(offsets)), result, result.trials,
               status=lambda t: t.verdict().status, ops=lambda t: [*t.writes, *t.reads],
               pool=pool, prepare=prepare, on_trial=on_trial, ends_run=unsent_reason)
    return result


def unsent_reason(trial: ConflictTrial) -> str | None:
    """Why a trial whose writes were not all sent ends the run (None if all were): its
    pollers stopped it because their reads kept failing, and the next trial would meet
    the same endpoint."""
    if not trial.unsent:
        return None
    return (f"trial {trial.index + 1} is incomplete: {len(trial.unsent)} of its writes "
            f"were never sent, as its reads kept failing (last error: "
            f"{last_error([*trial.writes, *trial.reads])})")


def attach_truth(trial: ConflictTrial, endpoint_url: str, table: str, since: float) -> None:
    """Each write's stamp and deliveries, from the emulator's log.

    Each writer sends in order, so its k-th delivery (by stamp) to another region is
    its k-th acknowledged write; the seed, written first, is left out by counting
    from the end. Writes of unknown fate can't be lined up: no truth then.
    """
    rows = truth.settled(endpoint_url, table, since,
                         lambda r: truth.sort_key_of(r) == trial.sk, timeout_s=5)
    if rows is None:
        return
    known: dict[str, WriteTruth] = {}
    for region in {w.region for w in trial.writes}:
        mine = [w for w in trial.writes if w.region == region]
        landed = [w for w in mine if w.ok]
        sent: dict[float, list[truth.Row]] = {}
        for row in rows:
            if row["source_region"] == region:
                sent.setdefault(row["written_at"], []).append(row)
        if len(sent) < len(landed) or any(w.result == "info" for w in mine):
            return
        for write, at in zip(landed, sorted(sent)[-len(landed):] if landed else [],
                             strict=True):
            applied = [r for r in sent[at] if r["outcome"] == "applied"
                       and r["applied_at"] is not None]
            known[str(write.write_id)] = WriteTruth(
                stamp=at, delivered=bool(applied),
                lag_s=min((r["applied_at"] - r["written_at"] for r in applied), default=None),
                due_lag_s=min((r["due_at"] - r["written_at"] for r in sent[at]),
                              default=None))
    trial.truth = known
