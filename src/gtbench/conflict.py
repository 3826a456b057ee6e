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
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from gtbench import analysis, polling, truth
from gtbench.analysis import ConflictVerdict
from gtbench.errors import GtbenchError
from gtbench.history import Op
from gtbench.race import check_pairs
from gtbench.regions import LOCAL, Regions, Settings

CONFLICT_PK = "gtbench-conflict"
OVERWRITE = "overwrite"
INCREMENT = "increment"
SEED = "seed"
LEAD_S = 0.05  # writers and pollers are ready this long before the release
# Still failing after botocore's retries: throttled writes certainly did not happen;
# a server error may or may not have (Jepsen's "info").
THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException",
                       "RequestLimitExceeded"})
UNCERTAIN = frozenset({"InternalServerError", "ServiceUnavailable"})


@dataclass(frozen=True)
class ConflictPlan:
    regions: tuple[str, str]  # the first writer, and the one that sends offset_ms later
    offsets_ms: tuple[float, ...] = (0.0,)
    trials: int = 5
    mode: str = OVERWRITE
    increments: int = 5
    pace_ms: float = 100.0
    same_sign: bool = False
    pollers: int = 2  # per region
    interval_s: float = 0.05
    timeout_s: float = 10.0

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
    index: int
    offset_ms: float
    sk: str
    mode: str
    specs: list[WriteSpec]
    writes: list[Op]
    reads: list[Op]
    release_ns: int
    verdict: ConflictVerdict
    final_image: dict[str, Any] | None = None  # increment: the converged item
    stamps: dict[str, float] | None = None  # write id -> emulator stamp (ground truth)
    loser_delivered: bool | None = None  # ground truth: did the loser ever land remotely
    winner_true_lag_s: float | None = None  # ground truth: the winner's lag to the loser

    def write_spec(self, write_id: str | None) -> WriteSpec | None:
        return next((s for s in self.specs if s.write_id == write_id), None)


@dataclass
class ConflictResult:
    plan: ConflictPlan
    trials: list[ConflictTrial] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0
    ground_truth: bool = False


def specs_for(plan: ConflictPlan, offset_ms: float) -> list[WriteSpec]:
    """Every write of one trial, when it is sent, and what it writes."""
    first, second = plan.regions
    starts = {first: max(-offset_ms, 0.0) / 1000, second: max(offset_ms, 0.0) / 1000}
    if plan.mode == OVERWRITE:
        values = secrets.SystemRandom().sample(range(1000, 10000), 2)
        return [WriteSpec(r, f"{r}#0", starts[r], v) for r, v in zip(plan.regions, values,
                                                                   strict=True)]
    return [WriteSpec(r, f"{r}#{k}", starts[r] + k * plan.pace_ms / 1000,
                      plan.increment_of(r))
            for r in plan.regions for k in range(plan.increments)]


def wait_until(target_s: float) -> None:
    """Sleep to just short of ``target_s`` (perf_counter), then spin: sleep alone
    overshoots by up to a scheduler tick, which is as large as what we measure."""
    remaining = target_s - time.perf_counter()
    if remaining > 0.002:
        time.sleep(remaining - 0.002)
    while time.perf_counter() < target_s:
        pass


class _Gate(threading.local):
    """Per writer thread: when its next request may leave, and when it did."""

    release_s: float | None = None
    sent_ns: int | None = None


_gate = _Gate()
WRITE_EVENTS = ("before-send.dynamodb.PutItem", "before-send.dynamodb.UpdateItem")


def _hold_at_gate(**_: Any) -> None:
    # botocore calls this with the request built and signed, just before the socket
    # write: holding here leaves no serialising or signing between release and send,
    # so the two writers' sends are not spread apart by each other's CPU work.
    if _gate.release_s is not None:
        wait_until(_gate.release_s)
        _gate.release_s = None
        _gate.sent_ns = time.perf_counter_ns()


def install_gate(client: Any) -> None:
    for event in WRITE_EVENTS:
        client.meta.events.register(event, _hold_at_gate, unique_id=f"gtbench-gate-{event}")


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


def _write(client: Any, table: str, key: dict[str, Any], spec: WriteSpec, mode: str,
           process: int, release_s: float) -> Op:
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
    _gate.release_s, _gate.sent_ns = release_s, None
    started = time.perf_counter_ns()
    try:
        response = request(**params)
    except (ConnectionError, ReadTimeoutError):
        # Jepsen's "info": the write may or may not have landed.
        return Op(spec.region, "write", _gate.sent_ns or started, time.perf_counter_ns(),
                  "info", None, process, spec.write_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in THROTTLED | UNCERTAIN:
            raise  # access denied, missing table...: the user's to fix, not a result
        return Op(spec.region, "write", _gate.sent_ns or started, time.perf_counter_ns(),
                  "info" if code in UNCERTAIN else "fail", None, process, spec.write_id)
    finally:
        _gate.release_s = None
    acked = time.perf_counter_ns()
    sent = _gate.sent_ns or started
    value = spec.value if mode == OVERWRITE else int(
        response["Attributes"][polling.VALUE]["N"])
    return Op(spec.region, "write", sent, acked, "ok", value, process, spec.write_id)


def _writer(client: Any, table: str, key: dict[str, Any], specs: Sequence[WriteSpec],
            mode: str, release_s: float, process: int) -> list[Op]:
    ops = []
    for spec in specs:
        # The request is built now and held at the gate until its moment.
        wait_until(release_s + spec.at_s - 0.005)
        ops.append(_write(client, table, key, spec, mode, process, release_s + spec.at_s))
    return ops


def seed_item(regions: Regions, table: str, key: dict[str, Any], plan: ConflictPlan) -> None:
    """Increment mode: the item at 0 in the first region, and seen in every writer's."""
    regions.client(plan.regions[0]).put_item(
        TableName=table, Item={**key, polling.VALUE: {"N": "0"},
                               polling.WRITE_ID: {"S": SEED}})
    deadline = time.monotonic() + plan.timeout_s
    for region in plan.regions[1:]:
        while polling.read_op(regions.client(region), table, region, key, 0).write_id != SEED:
            if time.monotonic() > deadline:
                raise GtbenchError(f"the starting item never reached {region} within "
                                   f"{plan.timeout_s:g} s", hint="raise --timeout")
            time.sleep(plan.interval_s / 2)


def run_trial(regions: Regions, table: str, plan: ConflictPlan, index: int,
              offset_ms: float, run_id: str, pool: ThreadPoolExecutor) -> ConflictTrial:
    sk = f"{run_id}-{index:04d}"
    key = {"PK": {"S": CONFLICT_PK}, "SK": {"S": sk}}
    if plan.mode == INCREMENT:
        seed_item(regions, table, key, plan)
    specs = specs_for(plan, offset_ms)
    for region in plan.regions:  # warm each region's connection and credentials
        install_gate(regions.client(region))
        polling.read_op(regions.client(region), table, region, key, 0)
    release = time.perf_counter() + LEAD_S
    deadline = release + max(s.at_s for s in specs) + plan.timeout_s
    stop = threading.Event()
    latest: dict[tuple[str, int], Op] = {}  # each poller's newest read
    guard = threading.Lock()
    acked_at_ns: int | None = None  # set once every write is acknowledged

    def on_read(op: Op) -> None:
        with guard:
            latest[(op.region, op.process)] = op
            if acked_at_ns is not None and analysis.agreed_write(
                    list(latest.values()), plan.regions, acked_at_ns) is not None:
                stop.set()

    readers = [pool.submit(polling.poll, regions.client(r), table, r, key,
                           process=i * plan.pollers + k,
                           first_send=release + (k + 0.5) * plan.interval_s / plan.pollers,
                           interval_s=plan.interval_s, deadline=deadline, stop=stop,
                           on_read=on_read)
               for i, r in enumerate(plan.regions) for k in range(plan.pollers)]
    try:
        with fine_switching():
            writers = [pool.submit(_writer, regions.client(r), table, key,
                                   [s for s in specs if s.region == r], plan.mode, release,
                                   100 + i) for i, r in enumerate(plan.regions)]
            writes = sorted((op for f in writers for op in f.result()),
                            key=lambda o: o.sent_ns)
    except BaseException:
        stop.set()  # a write raised: release the pollers before the error goes up
        raise
    acked_at_ns = max(w.received_ns for w in writes)
    reads = sorted((op for f in readers for op in f.result()), key=lambda o: o.sent_ns)
    trial = ConflictTrial(index, offset_ms, sk, plan.mode, specs, writes, reads,
                          int(release * analysis.NS), analysis.conflict_verdict(writes, reads))
    if plan.mode == INCREMENT and trial.verdict.converged:
        response = regions.client(plan.regions[0]).get_item(TableName=table, Key=key,
                                                            ConsistentRead=True)
        trial.final_image = response.get("Item")
    return trial


def run_conflict(regions: Regions, settings: Settings, plan: ConflictPlan,
                 on_trial: Callable[[ConflictTrial], None] | None = None) -> ConflictResult:
    first, second = plan.regions
    check_pairs(regions, settings, [(first, second), (second, first)])
    result = ConflictResult(plan)
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    result.started_at = time.time()
    workers = len(plan.regions) * (plan.pollers + 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conflict") as pool:
        index = 0
        for offset in plan.offsets_ms:
            for _ in range(plan.trials):
                trial = run_trial(regions, settings.table, plan, index, offset, run_id, pool)
                if settings.target == LOCAL and regions.endpoint_url:
                    attach_truth(trial, regions.endpoint_url, settings.table, result)
                result.trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
                index += 1
    result.ended_at = time.time()
    return result


def attach_truth(trial: ConflictTrial, endpoint_url: str, table: str,
                 result: ConflictResult) -> None:
    """The emulator's stamps of the trial's writes, and whether the loser landed remotely.

    Each writer sends in order, so its k-th delivery (by stamp) to another region is
    its k-th write; the seed, written first, is left out by counting from the end.
    """
    rows = truth.settled(endpoint_url, table, result.started_at - 1,
                         lambda r: truth.sort_key_of(r) == trial.sk, timeout_s=5)
    if rows is None:
        return
    result.ground_truth = True
    stamps: dict[str, float] = {}
    for region in {w.region for w in trial.writes}:
        landed = [w for w in trial.writes if w.region == region and w.result == "ok"]
        sent: dict[float, list[truth.Row]] = {}
        for row in rows:
            if row["source_region"] == region:
                sent.setdefault(row["written_at"], []).append(row)
        if len(sent) < len(landed) or any(w.result == "info" for w in trial.writes
                                          if w.region == region):
            return  # can't line deliveries up with writes: no truth for this trial
        for write, at in zip(landed, sorted(sent)[-len(landed):], strict=True):
            stamps[str(write.write_id)] = at
            if write.write_id == trial.verdict.loser_write:
                trial.loser_delivered = any(r["outcome"] == "applied" for r in sent[at])
            if write.write_id == trial.verdict.final_write:
                trial.winner_true_lag_s = next(
                    (r["applied_at"] - r["written_at"] for r in sent[at]
                     if r["outcome"] == "applied" and r["applied_at"] is not None), None)
    trial.stamps = stamps
    trial.verdict = analysis.conflict_verdict(trial.writes, trial.reads, stamps)


def lost_updates(trial: ConflictTrial) -> dict[str, Any] | None:
    """Increment mode: expected and final values, and how many updates the image lacks."""
    image = trial.final_image
    if image is None:
        return None
    landed = [w for w in trial.writes if w.result == "ok"]
    kept = {region: int(image.get(f"Updates_{region}", {"N": "0"})["N"])
            for region in {w.region for w in trial.writes}}
    expected = sum(spec.value for spec in trial.specs
                   if any(w.write_id == spec.write_id for w in landed))
    return {"expected": expected, "final": int(image[polling.VALUE]["N"]),
            "updates": len(landed), "kept": kept,
            "lost_updates": len(landed) - sum(kept.values())}

