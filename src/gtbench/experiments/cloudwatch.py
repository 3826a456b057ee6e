"""CloudWatch ``ReplicationLatency`` for a run, read the way AWS publishes it.

DynamoDB publishes ``ReplicationLatency`` (milliseconds, in the source region, with
``TableName`` and ``ReceivingRegion``) at five-minute granularity: it is not among the
metrics its developer guide lists as aggregated every minute ("for all other DynamoDB
metrics, the aggregation granularity is five minutes"). Its valid statistics are
Average, Minimum and Maximum, and a period's datapoint arrives minutes after the period.
So gtbench asks at that period, for those statistics, and waits (up to a bound) until a
datapoint has arrived for every period the run touched and the last one has closed.

What it gets is AWS's own average per period over every replicated write of the table
in that period, not gtbench's trials alone: shown beside gtbench's per-write lags, never
mixed with them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from gtbench.analysis import CloudWatchPeriod, CloudWatchStats

if TYPE_CHECKING:
    from gtbench.regions import Regions

AWS_PERIOD_S = 300  # DynamoDB's granularity for ReplicationLatency
DEFAULT_WAIT_S = 900.0  # a period, plus the minutes AWS takes to publish it, with margin
STATISTICS = ("Average", "Minimum", "Maximum")  # the metric's valid statistics

Pair = tuple[str, str]


def periods_of(times: Iterable[float], period_s: float) -> list[float]:
    """The start of every period that holds one of ``times`` (wall clock), in order."""
    return sorted({math.floor(t / period_s) * period_s for t in times})


def fetch(regions: Regions, table: str, pair: Pair, wanted: Sequence[float],
          period_s: float) -> list[CloudWatchPeriod]:
    """The datapoints published so far for the periods ``wanted``, oldest first."""
    source, target = pair
    client = regions.service_client("cloudwatch", source)
    response = client.get_metric_statistics(
        Namespace="AWS/DynamoDB", MetricName="ReplicationLatency",
        Dimensions=[{"Name": "TableName", "Value": table},
                    {"Name": "ReceivingRegion", "Value": target}],
        StartTime=datetime.fromtimestamp(wanted[0], timezone.utc),
        EndTime=datetime.fromtimestamp(wanted[-1] + period_s, timezone.utc),
        Period=int(period_s), Statistics=list(STATISTICS), Unit="Milliseconds")
    points = sorted(response.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return [CloudWatchPeriod(start=p["Timestamp"].timestamp(),
                             average_s=p["Average"] / 1000.0, minimum_s=p["Minimum"] / 1000.0,
                             maximum_s=p["Maximum"] / 1000.0) for p in points]


def covered(points: Sequence[CloudWatchPeriod], wanted: Sequence[float], period_s: float,
            now: float) -> bool:
    """A datapoint for every period that held a write, and the last period over (until
    then AWS may still be adding to it)."""
    have = {round(p.start) for p in points}
    return now >= wanted[-1] + period_s and all(round(w) in have for w in wanted)


def await_latency(regions: Regions, table: str, writes: Mapping[Pair, Sequence[float]], *,
                  period_s: float = AWS_PERIOD_S, wait_s: float = DEFAULT_WAIT_S,
                  on_wait: Callable[[float, int, int], None] | None = None,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.time) -> dict[Pair, CloudWatchStats]:
    """Each pair's ReplicationLatency over the periods its writes (wall-clock times) fell
    in, once every such period has a datapoint or ``wait_s`` has passed (then with what
    had arrived, marked not covered). ``on_wait`` is told (seconds waited, datapoints
    arrived, datapoints wanted) before each pause."""
    began = clock()
    wanted = {pair: periods_of(times, period_s) for pair, times in writes.items() if times}
    total = sum(len(w) for w in wanted.values())
    poll_s = min(15.0, max(0.25, period_s / 10))
    got: dict[Pair, list[CloudWatchPeriod]] = {pair: [] for pair in wanted}
    while True:
        now = clock()
        for pair, periods in wanted.items():
            if not covered(got[pair], periods, period_s, now):
                got[pair] = fetch(regions, table, pair, periods, period_s)
        done = all(covered(got[p], wanted[p], period_s, now) for p in wanted)
        waited = clock() - began
        if done or waited >= wait_s:
            return {p: CloudWatchStats.of(got[p], period_s,
                                          covered(got[p], wanted[p], period_s, now),
                                          round(waited, 1)) for p in wanted}
        if on_wait is not None:
            on_wait(waited, sum(len(v) for v in got.values()), total)
        sleep(min(poll_s, max(0.0, wait_s - waited)))
