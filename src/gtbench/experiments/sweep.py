"""``race --load``: the race once per load step, with background writers keeping each
step's rate in the source region, and every step's trials in one result.

The load runs from here, or with ``--probes`` from the source region's probe (the
same writer loop, ``handler.write_at_rate``). Per step: the load starts and runs
``warm_up_s`` before the first trial (so a trial meets the load, not its start), the
step's trials run (each pair ``plan.trials`` times), the load stops, and the sweep
waits until the target regions hold the step's last load write, so that no step
inherits the last one's backlog. Ctrl-C or a run that stops early ends the sweep with
every trial measured so far.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from gtbench.experiments import polling
from gtbench.experiments.load import (
    LOAD_PK,
    PROBE_WRITE_S,
    WARM_UP_S,
    ClientLoad,
    Load,
    ProbeLoad,
    drain,
    writers_for,
)
from gtbench.experiments.preflight import check_pairs
from gtbench.experiments.race import RaceResult, Trial
from gtbench.experiments.trials import RUN_FAILURES, failure_message, timed_write
from gtbench.probes.race import run_race_via
from gtbench.probes.transport import for_settings
from gtbench.regions import Regions, Settings

DRAIN_TIMEOUT_S = 120.0  # a backlog of minutes is a finding; the next step starts anyway


def write_round_trip_s(regions: Regions, settings: Settings, region: str) -> float:
    """A write's round trip to ``region`` (median of 5): how many writers a rate needs."""
    client = regions.writer(region)
    key = {"PK": {"S": LOAD_PK}, "SK": {"S": "round-trip"}}
    times = []
    for n in range(5):
        op = timed_write(lambda n=n: client.put_item(  # type: ignore[misc]
            TableName=settings.table, Item={**key, polling.VALUE: {"N": str(n)}}),
            region=region, value=n)
        times.append((op.received_ns - op.sent_ns) / 1e9)
    return sorted(times)[len(times) // 2]


def run_race_under_load(regions: Regions, settings: Settings, plan: Any,
                        rates: Sequence[float], use_probes: bool,
                        clock_error_ms: float | None = None,
                        on_trial: Callable[[Trial], None] | None = None,
                        say: Callable[[str], None] = lambda _: None,
                        warm_up_s: float = WARM_UP_S) -> RaceResult:
    """Every step's race in one result: trials numbered in run order, each with its
    step's rate (``load_wps``), and each step's load (``load``)."""
    check_pairs(regions, settings, plan.pairs)
    source = plan.pairs[0][0]
    targets = sorted({t for _, t in plan.pairs})
    run_id = f"{int(time.time())}-{secrets.token_hex(3)}"
    if use_probes:  # the load from the source region's probe, beside its replica
        probes = for_settings(regions, settings, clock_error_ms)

        def load_for(rate: float, prefix: str) -> Load:
            return ProbeLoad(probes, source, settings.table, rate,
                             writers_for(rate, PROBE_WRITE_S), prefix)
    else:  # from here: as many writers as the round trip to the source region needs
        write_s = write_round_trip_s(regions, settings, source)
        client = regions.own_client(source, attempts=1)

        def load_for(rate: float, prefix: str) -> Load:
            return ClientLoad(client, settings.table, rate, writers_for(rate, write_s),
                              prefix)
    merged: RaceResult | None = None

    def holds(region: str) -> Callable[[dict[str, Any]], bool]:
        reader = regions.reader(region)

        def read(key: dict[str, Any]) -> bool:
            try:
                found = reader.get_item(TableName=settings.table, Key=key, ConsistentRead=True)
            except Exception:  # a failed read is a "not yet"
                return False
            return "Item" in found
        return read

    for step, rate in enumerate(rates):
        load = load_for(rate, f"{run_id}-{step}")
        say(f"step {step + 1} of {len(rates)}: {rate:g} writes/s in {source}"
            + (f" ({load.step.writers} writers{' in its probe' if use_probes else ''})"
               if rate > 0 else ""))
        interrupted, failure = False, None
        try:
            load.start()
            if rate > 0:
                time.sleep(warm_up_s)  # Ctrl-C ends it, as any wait in the main thread
            result = run_race_via(regions, settings, plan, use_probes, clock_error_ms,
                                  on_trial=_tagged(rate, on_trial))
        except KeyboardInterrupt:
            interrupted, result = True, None
        except RUN_FAILURES as exc:  # the table gone between steps: keep the steps run
            if merged is None:
                raise
            failure, result = failure_message(exc), None
        finally:
            load.stop()
        merged = _merge(merged, result, rate, load)
        if interrupted:
            merged.interrupted = True
        if failure is not None:
            merged.stopped = merged.stopped or f"step {step + 1}: {failure}"
        if merged.interrupted or merged.stopped:
            break
        if load.step.stopped:
            say(f"warning: the load stopped early: {load.step.stopped}")
        elif load.step.short:
            say(f"warning: {rate:g} writes/s asked, {load.step.reached_wps:.0f} reached: "
                "the step measured a lighter load than asked")
        if step == len(rates) - 1:
            break  # no next step to protect from this one's backlog
        for target in targets:
            try:
                arrived = drain(holds(target), load.last_key, DRAIN_TIMEOUT_S)
            except KeyboardInterrupt:
                merged.interrupted = True
                break
            if not arrived:
                say(f"warning: {target} had not caught up with the load after "
                    f"{DRAIN_TIMEOUT_S:g} s; the next step starts behind")
        if merged.interrupted:
            break
    assert merged is not None  # at least one step ran
    merged.ended_at = time.time()
    return merged


def _tagged(rate: float, on_trial: Callable[[Trial], None] | None
            ) -> Callable[[Trial], None]:
    def tag(trial: Trial) -> None:
        trial.load_wps = rate
        if on_trial is not None:
            on_trial(trial)
    return tag


def _merge(merged: RaceResult | None, result: RaceResult | None, rate: float,
           load: Load) -> RaceResult:
    """``result``'s trials (renumbered after ``merged``'s) and its step into ``merged``."""
    trials = list(result.trials) if result is not None else []
    if merged is None:
        if result is None:  # interrupted before the first step's race began
            raise KeyboardInterrupt
        merged = result
        merged.trials = []
    for trial in trials:
        trial.load_wps = rate
        trial.index = len(merged.trials)
        merged.trials.append(trial)
    if result is not None:
        merged.interrupted = merged.interrupted or result.interrupted
        merged.stopped = merged.stopped or result.stopped
        merged.resolution_s.update(result.resolution_s)
        merged.schedules.update(result.schedules)
    merged.load.append(load.step)
    return merged
