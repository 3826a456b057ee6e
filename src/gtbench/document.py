"""Result documents: the one place where experiment results become JSON, and back.

A document holds each trial's history (every operation, on one monotonic clock),
the plan, where it ran, and the verdicts and summaries that analysis computed from
them. Verdict and summary fields come from the analysis dataclasses themselves
(``record``): the dataclass is the list of fields, so a field is added once.

``check`` rebuilds every verdict and summary from the stored histories alone and
lists where they differ from what the file states (``gtbench report --check``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from gtbench import __version__, analysis
from gtbench.analysis import CloudWatchStats, FinalImage, WriteTruth
from gtbench.awsrules import EVENTUAL
from gtbench.history import Op
from gtbench.registry import FORMAT_VERSION

if TYPE_CHECKING:  # the result types the codecs turn into JSON and back
    from gtbench.analysis import CompareSummary
    from gtbench.experiments.compare import CompareResult
    from gtbench.experiments.conflict import ConflictResult, ConflictTrial
    from gtbench.experiments.outage import OutageResult
    from gtbench.experiments.race import RaceResult, Trial
    from gtbench.experiments.trials import RunEnd

Document = dict[str, Any]


def record(value: Any) -> Any:
    """A dataclass (recursively) as plain JSON data, keyed by its field names."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: record(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [record(v) for v in value]
    if isinstance(value, dict):
        return {str(k): record(v) for k, v in value.items()}
    return value


def environment() -> dict[str, Any]:
    """The versions a result was measured with."""
    import boto3
    import botocore

    return {"gtbench": __version__, "python": platform.python_version(),
            "boto3": boto3.__version__, "botocore": botocore.__version__,
            "platform": platform.platform(terse=True),
            "machine": {"cpus": os.cpu_count(), "arch": platform.machine()},
            "commit": _commit(),
            "clock": "time.perf_counter_ns (one process, monotonic)"}


def _commit() -> str | None:
    """The git commit gtbench runs from (with "+" if its tree has changes), or None
    when it is not a git checkout (an installed wheel), as pytest-benchmark records."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


@dataclass(frozen=True)
class Context:
    """Where a run ran: shared by every experiment's document."""

    target: str
    endpoint_url: str | None
    table: str
    regions: tuple[str, ...]
    emulator: dict[str, Any] | None  # the emulator's settings at the start (local only)
    environment: dict[str, Any]

    @classmethod
    def of(cls, settings: Any, endpoint_url: str | None) -> Context:
        from gtbench.local import truth
        from gtbench.regions import LOCAL

        emulator = (truth.emulator_settings(endpoint_url)
                    if settings.target == LOCAL and endpoint_url else None)
        return cls(settings.target, endpoint_url, settings.table, tuple(settings.regions),
                   emulator, environment())


def _header(experiment: str, context: Context, result: RunEnd) -> Document:
    return {
        "experiment": experiment, "format": FORMAT_VERSION, "gtbench": __version__,
        "interrupted": result.interrupted, "stopped": result.stopped,
        "target": context.target, "endpoint_url": context.endpoint_url,
        "table": context.table, "regions": list(context.regions),
        "environment": context.environment, "emulator": context.emulator,
    }


def _context(document: Document) -> Context:
    return Context(document["target"], document.get("endpoint_url"), document["table"],
                   tuple(document["regions"]), document.get("emulator"),
                   document.get("environment") or {})


def _history(ops: list[Op]) -> list[dict[str, Any]]:
    return [op.to_json() for op in sorted(ops, key=lambda o: (o.sent_ns, o.process))]


# -- race ---------------------------------------------------------------------------


def race_trial(trial: Trial) -> Document:
    """One race trial: its key and value, its verdict, and its history."""
    from gtbench.experiments.race import RACE_PK

    return {"index": trial.index, "from_region": trial.from_region,
            "to_region": trial.to_region, "key": {"PK": RACE_PK, "SK": trial.sk},
            "value": trial.value, "via": trial.via, **record(trial.verdict()),
            **({"load_wps": trial.load_wps} if trial.load_wps is not None else {}),
            "history": _history(trial.ops)}


def race_document(result: RaceResult, context: Context) -> Document:
    plan = result.plan
    summary = analysis.race_summary([(t.pair, t.verdict()) for t in result.trials],
                                    plan.pairs, result.cloudwatch)
    return {
        **_header("race", context, result),
        "settings": {"pairs": [list(p) for p in plan.pairs], "trials": plan.trials,
                     "resolution_ms": (plan.resolution_s * 1000
                                       if plan.resolution_s is not None else None),
                     "pollers": plan.pollers, "interval_ms": plan.interval_s * 1000,
                     "timeout_s": plan.timeout_s, "eventual": plan.eventual},
        "started_at": result.started_at, "ended_at": result.ended_at,
        "consistency": result.consistency,
        "resolution_s": result.resolution_s,
        "schedules": {region: {"pollers": s.pollers, "interval_ms": s.interval_s * 1000,
                               "spacing_ms": s.spacing_s * 1000}
                      for region, s in result.schedules.items()},
        "trials": [race_trial(t) for t in result.trials],
        "summary": record(summary) | _load_summary(result),
        **({"load": [step.to_json() for step in result.load]} if result.load else {}),
    }


def _load_summary(result: RaceResult) -> Document:
    """race --load: lag per step, beside the rate each step's load reached."""
    if not result.load:
        return {}
    reached = {step.rate_wps: step.reached_wps for step in result.load}
    return {"load": [record(s) for s in analysis.load_summary(
        [(t.load_wps, t.verdict()) for t in result.trials], reached)]}


def read_race(document: Document) -> RaceResult:
    """The RaceResult a race document was made from: plan, histories and truth."""
    from gtbench.experiments.load import LoadStep
    from gtbench.experiments.race import RacePlan, RaceResult, Schedule, Trial

    s = document["settings"]
    pairs = tuple((str(a), str(b)) for a, b in s.get("pairs") or sorted(
        {(t["from_region"], t["to_region"]) for t in document["trials"]}))
    resolution = s.get("resolution_ms")
    plan = RacePlan(pairs, s["trials"], s["pollers"], s["interval_ms"] / 1000, s["timeout_s"],
                    resolution / 1000 if resolution is not None else None,
                    bool(s.get("eventual")))
    schedules = {region: Schedule(v["pollers"], v["interval_ms"] / 1000)
                 for region, v in (document.get("schedules") or {}).items()}
    result = RaceResult(plan, dict(document["resolution_s"]), schedules=schedules,
                        consistency=str(document.get("consistency") or EVENTUAL),
                        started_at=document["started_at"], ended_at=document["ended_at"],
                        interrupted=bool(document.get("interrupted")),
                        stopped=document.get("stopped"),
                        load=[LoadStep.from_json(step) for step in document.get("load") or []])
    for t in document["trials"]:
        ops = [Op.from_json(o) for o in t["history"]]
        source, target = t["from_region"], t["to_region"]
        # The write is the source's; with probes the target echoes it (ping-pong) and
        # the source reads the echo.
        (write,) = [o for o in ops if o.kind == "write" and o.region == source]
        echo = [o for o in ops if o.kind == "write" and o.region == target]
        result.trials.append(Trial(
            t["index"], source, target, t["key"]["SK"], t["value"], write,
            [o for o in ops if o.kind == "read" and o.region == target], t.get("true_lag_s"),
            via=str(t.get("via", "client")), clock_error_s=float(t.get("clock_error_s", 0.0)),
            echo_write=echo[0] if echo else None,
            echo_reads=[o for o in ops if o.kind == "read" and o.region == source],
            load_wps=t.get("load_wps")))
    for p in document["summary"]["pairs"]:
        if p.get("cloudwatch"):
            result.cloudwatch[(p["from_region"], p["to_region"])] = (
                CloudWatchStats.from_json(p["cloudwatch"]))
    return result


# -- conflict -------------------------------------------------------------------------


def _since(ns: int, release_ns: int) -> float:
    return (ns - release_ns) / analysis.NS


def conflict_trial(trial: ConflictTrial) -> Document:
    """One conflict trial: its writes and what each region showed (both from its history,
    in seconds after the release), its verdict, its inputs and its history."""
    from gtbench.experiments.conflict import CONFLICT_PK, INCREMENT

    release = trial.release_ns
    writes = [{"region": w.region, "write_id": w.write_id, "value": w.value,
               "increment": trial.increments.get(str(w.write_id))
               if trial.mode == INCREMENT else None,
               "sent": _since(w.sent_ns, release), "acked": _since(w.received_ns, release),
               "result": w.result, "error": w.error} for w in trial.writes]
    final = trial.verdict().final_write
    timeline: list[dict[str, Any]] = []
    for region in sorted({r.region for r in trial.reads}):
        # In answering order, as drawn. A region's item only moves forward (last-writer-
        # wins, never deleted here): no write again once another replaced it, no absence
        # once a write showed, nothing after the write all regions agreed on. A read
        # that shows otherwise was served before the change and answered late (a loaded
        # client): it adds nothing.
        shown: list[str | None] = []
        for r in sorted((r for r in trial.reads if r.region == region and r.ok),
                        key=lambda r: r.received_ns):
            if r.write_id in shown or (shown and r.write_id is None) or (
                    final is not None and final in shown):
                continue
            timeline.append({"region": region, "t": _since(r.received_ns, release),
                             "value": r.value, "write_id": r.write_id})
            shown.append(r.write_id)
    timeline.sort(key=lambda e: e["t"])
    return {
        "index": trial.index, "offset_ms": trial.offset_ms,
        "key": {"PK": CONFLICT_PK, "SK": trial.sk}, "release_ns": release,
        "writes": writes, "unsent": list(trial.unsent), "timeline": timeline,
        "reads": len(trial.reads),
        "failed_reads": sum(1 for r in trial.reads if not r.ok),
        **trial.verdict().to_json(),
        "truth": record(trial.truth), "final_image": record(trial.final),
        "history": _history([*trial.writes, *trial.reads]),
    }


def conflict_document(result: ConflictResult, context: Context) -> Document:
    from gtbench.experiments.conflict import INCREMENT

    plan = result.plan
    summary = analysis.conflict_summary([(t.offset_ms, t.verdict()) for t in result.trials],
                                        plan.offsets_ms, plan.mode == INCREMENT)
    return {
        **_header("conflict", context, result),
        "mode": plan.mode, "writers": list(plan.regions),
        "settings": {"trials": plan.trials, "offsets_ms": list(plan.offsets_ms),
                     "pollers": plan.pollers, "interval_ms": plan.interval_s * 1000,
                     "timeout_s": plan.timeout_s, "increments": plan.increments,
                     "pace_ms": plan.pace_ms, "same_sign": plan.same_sign,
                     "align": plan.align},
        "started_at": result.started_at, "ended_at": result.ended_at,
        "round_trips_s": result.round_trips_s,
        "ground_truth": result.ground_truth,
        "trials": [conflict_trial(t) for t in result.trials],
        "summary": record(summary),
    }


def read_conflict(document: Document) -> ConflictResult:
    """The ConflictResult a conflict document was made from."""
    from gtbench.experiments.conflict import (
        INCREMENT,
        OVERWRITE,
        ConflictPlan,
        ConflictResult,
        ConflictTrial,
    )

    s = document["settings"]
    writers = document["writers"]
    mode = INCREMENT if document["mode"] == INCREMENT else OVERWRITE
    plan = ConflictPlan((writers[0], writers[1]), tuple(s["offsets_ms"]), s["trials"],
                        mode, s["increments"], s["pace_ms"], s["same_sign"],
                        s["pollers"], s["interval_ms"] / 1000, s["timeout_s"],
                        "arrival" if s.get("align") == "arrival" else "send")
    result = ConflictResult(plan, started_at=document["started_at"],
                            ended_at=document["ended_at"],
                            round_trips_s=dict(document.get("round_trips_s") or {}),
                            interrupted=bool(document.get("interrupted")),
                            stopped=document.get("stopped"))
    for t in document["trials"]:
        ops = [Op.from_json(o) for o in t["history"]]
        increments = ({w["write_id"]: w["increment"] for w in t["writes"]
                       if w["increment"] is not None} if plan.mode == INCREMENT else {})
        final = FinalImage(**t["final_image"]) if t.get("final_image") else None
        known = ({k: WriteTruth(**v) for k, v in t["truth"].items()}
                 if t.get("truth") is not None else None)
        result.trials.append(ConflictTrial(
            t["index"], t["offset_ms"], t["key"]["SK"], plan.mode,
            [o for o in ops if o.kind == "write"], [o for o in ops if o.kind == "read"],
            t["release_ns"], increments, final, known,
            unsent=[str(w) for w in t.get("unsent") or []]))
    return result


# -- compare ------------------------------------------------------------------------

RUNS = ("race", "conflict", "increment")  # each mode's runs, in the order they ran


def compare_summary(result: CompareResult) -> CompareSummary:
    """The side-by-side summary, from each mode's runs (live or rebuilt)."""
    from gtbench.experiments.compare import race_rows

    modes = []
    for mode in result.modes:
        conflicts = increments = None
        if mode.conflict is not None:
            conflicts = analysis.conflict_summary(
                [(t.offset_ms, t.verdict()) for t in mode.conflict.trials], (0.0,), False)
        if mode.increment is not None:
            increments = analysis.conflict_summary(
                [(t.offset_ms, t.verdict()) for t in mode.increment.trials], (0.0,), True)
        modes.append(analysis.mode_summary(mode.consistency, mode.table, mode.ops(),
                                           race_rows(mode), conflicts, increments))
    return analysis.compare_summary(modes)


def compare_document(result: CompareResult, context: Context) -> Document:
    """One document for both modes: each mode's race, conflict and increment runs as the
    documents those commands save, then the side-by-side summary."""
    plan = result.plan
    modes = []
    for mode in result.modes:
        scoped = Context(context.target, context.endpoint_url, mode.table,
                         tuple(plan.regions), context.emulator, context.environment)
        entry: Document = {"consistency": mode.consistency, "table": mode.table,
                           "removed": mode.removed}
        for name in RUNS:
            run = getattr(mode, name)
            entry[name] = None if run is None else _RUN_CODECS[name][0](run, scoped)
        modes.append(entry)
    return {
        **_header("compare", context, result),
        "settings": {"prefix": result.prefix, "run": result.run, "regions": list(plan.regions),
                     "pairs": [list(p) for p in plan.pairs], "trials": plan.trials,
                     "conflicts": plan.conflicts, "increments": plan.increments,
                     "pace_ms": plan.pace_ms, "resolution_ms": plan.resolution_s * 1000,
                     "timeout_s": plan.timeout_s, "keep": plan.keep},
        "started_at": result.started_at, "ended_at": result.ended_at,
        "modes": modes,
        "summary": record(compare_summary(result)),
    }


def read_compare(document: Document) -> CompareResult:
    """The CompareResult a compare document was made from."""
    from gtbench.experiments.compare import ComparePlan, CompareResult, ModeRun

    s = document["settings"]
    plan = ComparePlan(tuple(s["regions"]), s["trials"], s["conflicts"], s["increments"],
                       s["pace_ms"], s["resolution_ms"] / 1000, s["timeout_s"], s["keep"])
    result = CompareResult(plan, s["prefix"], run=s.get("run", ""),
                           started_at=document["started_at"],
                           ended_at=document["ended_at"],
                           interrupted=bool(document.get("interrupted")),
                           stopped=document.get("stopped"))
    for m in document["modes"]:
        mode = ModeRun(m["consistency"], m["table"], removed=bool(m.get("removed")))
        for name in RUNS:
            if m.get(name) is not None:
                setattr(mode, name, _RUN_CODECS[name][1](m[name]))
        result.modes.append(mode)
    return result


# Each run of a compare mode, written and read as the command that makes it saves it.
_RUN_CODECS: dict[str, tuple[Callable[[Any, Context], Document], Callable[[Document], Any]]] = {
    "race": (race_document, read_race), "conflict": (conflict_document, read_conflict),
    "increment": (conflict_document, read_conflict)}


# -- outage -------------------------------------------------------------------------


def outage_document(result: OutageResult, context: Context) -> Document:
    """The whole run: every write (with its item), every strong-read probe, every
    snapshot, the recovery-point and convergence reads, the truth, the summary."""
    plan = result.plan
    return {
        **_header("outage", context, result),
        "settings": {"region": plan.region, "duration_s": plan.duration_s,
                     "rate": plan.rate, "keys": plan.keys,
                     "increment_share": plan.increment_share, "lead_s": plan.lead_s,
                     "sample_s": plan.sample_s, "settle_timeout_s": plan.settle_timeout_s,
                     "min_stall_s": plan.min_stall_s},
        "run_id": result.run_id, "consistency": result.consistency, "cut": result.cut,
        "started_at": result.started_at, "cut_ended_at": result.cut_ended_at,
        "ended_at": result.ended_at, "wall_offset_s": result.wall_offset_s,
        "start_ns": result.start_ns, "end_ns": result.end_ns,
        "origin_ns": result.origin_ns, "requested_ns": result.requested_ns,
        "history": {
            "beats": _history(result.beats),
            "beats_seen": record(sorted(result.seen, key=lambda x: x.sent_ns)),
            "writes": [{**w.op.to_json(), "key": w.key, "increment": w.increment}
                       for w in analysis.in_order(result.writes)],
            "reads": _history(result.reads),
            "snapshots": record(sorted(result.snapshots, key=lambda x: x.sent_ns)),
            "held": record(result.held),
            "rounds": record(result.rounds),
        },
        "truth": record(result.truth),
        "summary": record(result.summary()),
    }


def read_outage(document: Document) -> OutageResult:
    """The OutageResult an outage document was made from."""
    from gtbench.analysis import OutageWrite, Snapshot
    from gtbench.analysis.heartbeat import BeatSeen
    from gtbench.experiments.outage import OutagePlan, OutageResult, OutageTruth

    s = document["settings"]
    plan = OutagePlan(s["region"], s["duration_s"], s["rate"], s["keys"],
                      s["increment_share"], s["lead_s"], s["sample_s"], s["settle_timeout_s"],
                      s.get("min_stall_s", 1.0))
    h = document["history"]

    def snapshot(x: Document) -> Snapshot:
        return Snapshot(**x)

    result = OutageResult(
        plan, document["run_id"], tuple(document["regions"]), document["consistency"],
        document["cut"],
        writes=[OutageWrite(Op.from_json({k: v for k, v in w.items()
                                          if k not in ("key", "increment")}),
                            w["key"], bool(w["increment"])) for w in h["writes"]],
        reads=[Op.from_json(o) for o in h["reads"]],
        snapshots=[snapshot(x) for x in h["snapshots"]],
        held=[snapshot(x) for x in h["held"]],
        rounds=[[snapshot(x) for x in r] for r in h["rounds"]],
        start_ns=document["start_ns"], end_ns=document["end_ns"],
        started_at=document["started_at"], cut_ended_at=document["cut_ended_at"],
        ended_at=document["ended_at"], interrupted=bool(document.get("interrupted")),
        stopped=document.get("stopped"),
        truth=OutageTruth(**document["truth"]) if document.get("truth") else None,
        wall_offset_s=document.get("wall_offset_s", 0.0),
        # Documents before heartbeats have none, and no observed cut.
        beats=[Op.from_json(o) for o in h.get("beats", [])],
        seen=[BeatSeen(**x) for x in h.get("beats_seen", [])],
        origin_ns=int(document.get("origin_ns", 0)),
        requested_ns=int(document.get("requested_ns", 0)))
    return result


# -- checking a stored run --------------------------------------------------------------


def rebuild(document: Document) -> Document:
    """The document again, every verdict and summary recomputed from its histories."""
    from gtbench import registry

    return dict(registry.get(document.get("experiment")).call(
        "rebuild", document, _context(document)))


def rebuild_race(document: Document, context: Context) -> Document:
    return race_document(read_race(document), context)


def matrix_document(result: RaceResult, context: Context) -> Document:
    """A matrix is a race over every ordered pair: the race's document and keys."""
    return {**race_document(result, context), "experiment": "matrix"}


def rebuild_matrix(document: Document, context: Context) -> Document:
    return matrix_document(read_race(document), context)


def rebuild_conflict(document: Document, context: Context) -> Document:
    return conflict_document(read_conflict(document), context)


def rebuild_compare(document: Document, context: Context) -> Document:
    return compare_document(read_compare(document), context)


def rebuild_outage(document: Document, context: Context) -> Document:
    return outage_document(read_outage(document), context)


def check(document: Document) -> list[str]:
    """Where the stated verdicts and summaries differ from those the histories give."""
    from gtbench import registry

    return list(registry.get(document.get("experiment")).call("check", document))
