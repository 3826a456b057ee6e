"""``race --probes``: the writer is the probe in the source region, the reader the probe
in the target region, and the reader echoes the write back (ping-pong).

Per trial, for the pair (A, B):
- A's probe writes value v to key K at wall time ``at``, then reads key E until it
  holds v;
- B's probe reads K from just before ``at`` until it holds v, then writes v to E.

The one-way lag A to B is bounded on the two probes' wall clocks, widened by twice the
clock error; the return lag B to A the same way; their sum (the round trip) on each
probe's own monotonic clock, with no clock error at all. The client only coordinates.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gtbench.experiments import polling
from gtbench.experiments.preflight import check_pairs
from gtbench.experiments.race import (
    RACE_PK,
    RacePlan,
    RaceResult,
    Schedule,
    Trial,
    attach_ground_truth,
    run_race,
)
from gtbench.experiments.trials import RUN_FAILURES, failure_message, run_trials
from gtbench.history import Op
from gtbench.probes.transport import Probes, clock_error_s, for_settings
from gtbench.regions import LOCAL, Regions, Settings

# A probe's reader: one poller every 5 ms by default. More pollers (--pollers), staggered,
# read more often when a read takes longer than the spacing wanted, if the probe has the
# CPU: on a 2-core emulator host they only slowed every read (3 pollers: bounds 79 ms
# wide instead of 46; see docs/probes.md).
PROBE_POLLERS = 1
PROBE_INTERVAL_MS = 5.0
# Lambda caps a synchronous invocation's answer at 6 MB (Invoke API reference); a read
# in a probe's answer takes about 240 bytes of JSON. A poll must finish within it.
ANSWER_LIMIT_BYTES = 6 * 1024 * 1024
OP_BYTES = 240
EARLY_S = 0.02  # the reader starts polling this long before the write is due
MARGIN_S = 0.05  # on top of the slowest invocation: every probe is ready at ``at``


def longest_poll_s(pollers: int, interval_ms: float, eventual: bool) -> float:
    """The longest --timeout a probe's poll can answer within Lambda's 6 MB cap, with a
    fifth to spare: every poller reads every ``interval_ms`` (and an eventually
    consistent read beside each with ``eventual``)."""
    reads_per_s = pollers * 1000 / interval_ms * (2 if eventual else 1)
    return 0.8 * ANSWER_LIMIT_BYTES / (OP_BYTES * reads_per_s)


def to_op(row: dict[str, Any], region: str, process: int) -> Op:
    """A probe's operation as an Op: wall-clock times (its synced clock) and its own
    monotonic times beside them. The writer's probe is process 0 and the reader's 1;
    a probe's further pollers are processes of their own (2, 4, ... and 3, 5, ...)."""
    return Op(region, row["kind"], int(row["sent_ns"]), int(row["received_ns"]),
              row["result"], row.get("value"), process + 2 * int(row.get("poller", 0)),
              error=row.get("error"),
              consistent=bool(row.get("consistent", True)),
              mono_sent_ns=int(row["mono_sent_ns"]),
              mono_received_ns=int(row["mono_received_ns"]))


class Coordinator:
    """What the client learns of each probe before the trials: its declared clock error,
    how far its clock is from the client's, and how long an invocation takes to start."""

    def __init__(self, probes: Probes, regions: list[str], override_ms: float | None) -> None:
        self.probes = probes
        self.override_s = override_ms / 1000 if override_ms is not None else None
        self.error_s: dict[str, float] = {}
        self.offset_ns: dict[str, int] = {}  # probe wall minus client wall
        self.reach_s: dict[str, float] = {}
        never = threading.Event()
        for region in regions:
            for _ in range(2):  # the first invocation may be a cold start
                began_wall, began = time.time_ns(), time.perf_counter()
                answer = probes.invoke(region, {"action": "clock"}, never)
                took = time.perf_counter() - began
            self.error_s[region] = clock_error_s(answer, self.override_s)
            self.offset_ns[region] = int(answer["wall_ns"]) - (began_wall + round(took * 5e8))
            self.reach_s[region] = took

    def start_at_ns(self, *regions: str) -> int:
        """A wall time, on the probes' clocks, by which every probe named has started."""
        lead = max(self.reach_s[r] for r in regions) + MARGIN_S
        return time.time_ns() + self.offset_ns[regions[0]] + round(lead * 1e9)


def run_probe_trial(probes: Probes, clocks: Coordinator, table: str, pair: tuple[str, str],
                    index: int, run_id: str, plan: RacePlan, pool: ThreadPoolExecutor,
                    stop: threading.Event) -> Trial:
    source, target = pair
    sk = f"{run_id}-{index:04d}-{target}"
    key = {"PK": {"S": RACE_PK}, "SK": {"S": sk}}
    echo = {"PK": {"S": RACE_PK}, "SK": {"S": f"{sk}-echo"}}
    value = secrets.randbelow(10**12)
    at = clocks.start_at_ns(source, target)
    common = {"table": table, "attribute": polling.VALUE, "key": key, "echo_key": echo,
              "value": value, "interval_ms": plan.interval_s * 1000, "pollers": plan.pollers,
              "timeout_s": plan.timeout_s, "eventual": plan.eventual}
    ping = pool.submit(probes.invoke, source, common | {"action": "ping", "at_ns": at}, stop)
    pong = pool.submit(probes.invoke, target,
                       common | {"action": "pong", "at_ns": at - round(EARLY_S * 1e9)}, stop)
    pinged, ponged = ping.result(), pong.result()
    a = [to_op(r, source, 0) for r in pinged["ops"]]
    b = [to_op(r, target, 1) for r in ponged["ops"]]
    write = a[0]
    echo_write = b[-1] if b and b[-1].kind == "write" else None
    # The clock error of the environments that served this trial, as each answer says:
    # Lambda runs concurrent invocations in environments of their own, each with its
    # own SNTP measurement (the one measured at set-up may be another's).
    error_s = max(clock_error_s(pinged, clocks.override_s),
                  clock_error_s(ponged, clocks.override_s))
    return Trial(index, source, target, sk, value, write, [o for o in b if o.kind == "read"],
                 via="probes", clock_error_s=error_s, echo_write=echo_write,
                 echo_reads=a[1:])


def run_probe_race(regions: Regions, settings: Settings, plan: RacePlan, probes: Probes,
                   clock_error_ms: float | None = None,
                   on_trial: Callable[[Trial], None] | None = None) -> RaceResult:
    """Every trial of ``plan`` through the probes; Ctrl-C and failing trials end it as
    ``race.run_race`` does."""
    consistency = check_pairs(regions, settings, plan.pairs)
    involved = sorted({r for pair in plan.pairs for r in pair})
    result = RaceResult(plan, {}, consistency=consistency)
    result.started_at, result.started_ns = time.time(), time.perf_counter_ns()
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    local = settings.target == LOCAL and regions.endpoint_url is not None
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")
    clocks: list[Coordinator] = []

    def prepare() -> None:
        clocks.append(Coordinator(probes, involved, clock_error_ms))
        # A probe's pollers read next to the replica, staggered: that is its resolution.
        every = Schedule(plan.pollers, plan.interval_s)
        result.resolution_s = {r: every.spacing_s for r in involved}
        result.schedules = {t: every for _, t in plan.pairs}

    def job(index: int, pair: tuple[str, str]) -> Callable[[threading.Event], Trial]:
        def run(stop: threading.Event) -> Trial:
            since = time.time() - 1
            trial = run_probe_trial(probes, clocks[0], settings.table, pair, index, run_id,
                                    plan, pool, stop)
            if local:
                attach_ground_truth([trial], str(regions.endpoint_url), settings.table,
                                    since, plan.timeout_s)
            return trial
        return run

    try:
        run_trials((job(i, pair) for i, pair in plan.order()), result,
                   result.trials, status=lambda t: t.verdict().status, ops=lambda t: t.ops,
                   pool=pool, prepare=prepare, on_trial=on_trial)
    except RUN_FAILURES as exc:  # a probe that failed (Lambda refused, a function gone)
        result.stopped = failure_message(exc)  # the trials measured so far are kept
    return result


def run_race_via(regions: Regions, settings: Settings, plan: RacePlan, use_probes: bool,
                 clock_error_ms: float | None = None,
                 on_trial: Callable[[Trial], None] | None = None) -> RaceResult:
    """The race from here (``race.run_race``), or from probes in the regions: local
    workers on the emulator, the Lambda functions on AWS."""
    if not use_probes:
        return run_race(regions, settings, plan, on_trial=on_trial)
    probes = for_settings(regions, settings, clock_error_ms)
    return run_probe_race(regions, settings, plan, probes, clock_error_ms, on_trial)
