"""The race: write in one region, poll another, and bound each replication lag.

Each trial writes a unique value to a new bookmark item in the writing region,
then K pollers read it in the reading region with ``ConsistentRead=True``,
staggered by ``interval / K``, until one sees the value or the trial times out.
Every call is recorded as an ``Op`` on one monotonic clock; the bound comes from
``analysis.lag_bound``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gtbench import analysis, polling, provision, truth
from gtbench.analysis import LagBound
from gtbench.errors import GtbenchError
from gtbench.history import Op
from gtbench.regions import LOCAL, Regions, Settings

RACE_PK = "gtbench-race"


@dataclass(frozen=True)
class RacePlan:
    pairs: tuple[tuple[str, str], ...]
    trials: int = 20
    pollers: int = 4
    interval_s: float = 0.1
    timeout_s: float = 10.0


@dataclass
class Trial:
    index: int
    from_region: str
    to_region: str
    sk: str
    value: int
    write: Op
    reads: list[Op]
    bound: LagBound | None
    true_lag_s: float | None = None

    @property
    def timed_out(self) -> bool:
        return self.bound is None

    def to_json(self) -> dict[str, Any]:
        b = self.bound
        return {
            "index": self.index, "from_region": self.from_region, "to_region": self.to_region,
            "key": {"PK": RACE_PK, "SK": self.sk}, "value": self.value,
            "lag_s": b.point_s if b else None, "lag_low_s": b.low_s if b else None,
            "lag_high_s": b.high_s if b else None,
            "stale_reads": b.stale_reads if b else sum(r.result == "ok" for r in self.reads),
            "reads": len(self.reads), "failed_reads": sum(r.result != "ok" for r in self.reads),
            "write_rtt_s": (self.write.received_ns - self.write.sent_ns) / analysis.NS,
            "true_lag_s": self.true_lag_s,
            "error_s": (b.point_s - self.true_lag_s) if b and self.true_lag_s is not None
            else None,
        }


@dataclass
class RaceResult:
    plan: RacePlan
    resolution_s: dict[str, float]
    trials: list[Trial] = field(default_factory=list)
    started_at: float = 0.0  # wall clock, for CloudWatch and the emulator's log
    ended_at: float = 0.0

    def pair_trials(self, pair: tuple[str, str]) -> list[Trial]:
        return [t for t in self.trials if (t.from_region, t.to_region) == pair]


def check_pairs(regions: Regions, settings: Settings, pairs: Sequence[tuple[str, str]]) -> None:
    """Every writer has the table, and every reader is an ACTIVE replica of it."""
    for source, target in pairs:
        description = provision.describe(regions.client(source), settings.table)
        if description is None:
            raise GtbenchError(f"table {settings.table} does not exist in {source}",
                               hint="create it with `gtbench setup`")
        replica = provision.replica_entries(description, source).get(target)
        if replica is None:
            raise GtbenchError(f"{target} is not a replica of {settings.table} in {source}",
                               hint="add it with `gtbench setup --regions ...`")
        if replica.get("ReplicaStatus") != "ACTIVE":
            raise GtbenchError(f"the replica in {target} is {replica.get('ReplicaStatus')}, "
                               "not ACTIVE", hint="wait for it with `gtbench setup`")


def round_trip_s(client: Any, table: str, samples: int = 15) -> float:
    """Median GetItem round trip: the instrument's resolution in that region."""
    key = {"PK": {"S": RACE_PK}, "SK": {"S": "resolution"}}
    times = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        client.get_item(TableName=table, Key=key, ConsistentRead=True)
        times.append((time.perf_counter_ns() - start) / analysis.NS)
    return analysis.percentile(times, 50)


def run_trial(regions: Regions, table: str, pair: tuple[str, str], index: int, run_id: str,
              plan: RacePlan, pool: ThreadPoolExecutor) -> Trial:
    source, target = pair
    sk = f"{run_id}-{index:04d}-{target}"
    key = {"PK": {"S": RACE_PK}, "SK": {"S": sk}}
    value = secrets.randbelow(10**12)
    writer, reader = regions.client(source), regions.client(target)
    sent = time.perf_counter_ns()
    writer.put_item(TableName=table, Item={**key, "Bookmark": {"N": str(value)}})
    acked = time.perf_counter_ns()
    write = Op(source, "write", sent, acked, "ok", value)
    seen = threading.Event()
    start = acked / analysis.NS

    def on_read(op: Op) -> None:
        if op.value == value:
            seen.set()

    futures = [pool.submit(polling.poll, reader, table, target, key, process=k,
                           first_send=start + k * plan.interval_s / plan.pollers,
                           interval_s=plan.interval_s, deadline=start + plan.timeout_s,
                           stop=seen, on_read=on_read) for k in range(plan.pollers)]
    reads = sorted((op for f in futures for op in f.result()), key=lambda op: op.sent_ns)
    return Trial(index, source, target, sk, value, write, reads,
                 analysis.lag_bound(write, reads, value))


def run_race(regions: Regions, settings: Settings, plan: RacePlan,
             on_trial: Callable[[Trial], None] | None = None) -> RaceResult:
    check_pairs(regions, settings, plan.pairs)
    readers = sorted({t for _, t in plan.pairs} | {s for s, _ in plan.pairs})
    result = RaceResult(plan, {r: round_trip_s(regions.client(r), settings.table)
                               for r in readers})
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    result.started_at = time.time()
    local = settings.target == LOCAL and regions.endpoint_url is not None
    with ThreadPoolExecutor(max_workers=plan.pollers, thread_name_prefix="poller") as pool:
        for index in range(plan.trials):
            for pair in plan.pairs:
                since = time.time() - 1
                trial = run_trial(regions, settings.table, pair, index, run_id, plan, pool)
                if local:  # at once, so the live line shows the true lag too
                    attach_ground_truth([trial], str(regions.endpoint_url), settings.table,
                                        since, plan.timeout_s)
                result.trials.append(trial)
                if on_trial is not None:
                    on_trial(trial)
    result.ended_at = time.time()
    return result


def attach_ground_truth(trials: Sequence[Trial], endpoint_url: str, table: str, since: float,
                        timeout_s: float) -> None:
    """Each trial's true lag, from the emulator's replication log."""
    wanted = {(t.sk, t.from_region, t.to_region): t for t in trials}
    # A timed-out trial's delivery may never settle (paused replication): don't wait on it.
    waited = {k for k, t in wanted.items() if not t.timed_out}
    rows = truth.settled(
        endpoint_url, table, since,
        lambda r: (truth.sort_key_of(r), r["source_region"], r["target_region"]) in waited,
        timeout_s=timeout_s)
    for row in rows or []:
        trial = wanted.get((str(truth.sort_key_of(row)), row["source_region"],
                            row["target_region"]))
        if trial is not None and row["outcome"] == "applied":
            trial.true_lag_s = row["applied_at"] - row["written_at"]


def cloudwatch_latency(regions: Regions, table: str, source: str, target: str, start: float,
                       end: float) -> dict[str, float | None]:
    """CloudWatch ``ReplicationLatency`` (ms, published in the source region) over a window."""
    from datetime import datetime, timedelta, timezone

    client = regions.service_client("cloudwatch", source)
    response = client.get_metric_statistics(
        Namespace="AWS/DynamoDB", MetricName="ReplicationLatency",
        Dimensions=[{"Name": "TableName", "Value": table},
                    {"Name": "ReceivingRegion", "Value": target}],
        StartTime=datetime.fromtimestamp(start, timezone.utc) - timedelta(minutes=1),
        EndTime=datetime.fromtimestamp(end, timezone.utc) + timedelta(minutes=1),
        Period=60, Statistics=["Average", "Maximum", "SampleCount"], Unit="Milliseconds")
    points = response.get("Datapoints", [])
    if not points:
        return {"average_s": None, "maximum_s": None, "samples": 0}
    samples = sum(p.get("SampleCount", 0) for p in points)
    weighted = sum(p["Average"] * p.get("SampleCount", 1) for p in points)
    return {"average_s": weighted / max(samples, 1) / 1000.0,
            "maximum_s": max(p["Maximum"] for p in points) / 1000.0, "samples": samples}
