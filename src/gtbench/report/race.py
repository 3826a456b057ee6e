"""The race's result document and its terminal rendering."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from gtbench.awsrules import STRONG
from gtbench.experiments.load import LoadStep
from gtbench.report.common import (
    Column,
    FitTable,
    histogram_text,
    lag_figure,
    plain,
    plural,
    run_note,
    seconds,
)


def trial_line(trial: dict[str, Any]) -> str:
    pair = f"{trial['from_region']} → {trial['to_region']}"
    status = trial.get("status", "timed_out" if trial["lag_s"] is None else "replicated")
    head = f"trial {trial['index'] + 1:>3} {pair}:"
    failed = trial.get("failed_reads", 0)
    failures = f", {failed} failed" if failed else ""
    if status == "failed":
        return f"{head} the write was refused ({_write_error(trial)}): nothing to time"
    if status == "indeterminate":
        return (f"{head} indeterminate: {_why_indeterminate(trial)} "
                f"({trial['stale_reads']} stale reads{failures})")
    if trial["lag_s"] is None:
        return (f"{head} no fresh read before the timeout "
                f"({trial['stale_reads']} stale reads{failures})")
    line = (f"trial {trial['index'] + 1:>3} {pair}: lag {trial['lag_s']:.3f} s in "
            f"[{trial['lag_low_s']:.3f}, {trial['lag_high_s']:.3f}] · "
            f"{trial['stale_reads']} stale reads")
    if failed:
        line += f" · {failed} failed reads"
    if trial["true_lag_s"] is not None:
        line += f" · true {trial['true_lag_s']:.3f} s"
    if trial.get("eventual_lag_s") is not None:
        line += f" · eventual reads {trial['eventual_lag_s']:.3f} s"
    if trial.get("round_trip_low_s") is not None:
        line += (f" · round trip [{trial['round_trip_low_s']:.3f}, "
                 f"{trial['round_trip_high_s']:.3f}]")
        if trial.get("clocks_agree") is False:
            line += " (the one-way lags cannot be right: clock error too small)"
    return line


def _write_error(trial: dict[str, Any]) -> str:
    write = next((o for o in trial.get("history", []) if o["kind"] == "write"), None)
    return str(write["error"]) if write and write.get("error") else "error"


def _why_indeterminate(trial: dict[str, Any]) -> str:
    write = next((o for o in trial.get("history", []) if o["kind"] == "write"), None)
    if write is not None and write["result"] == "info":
        return f"the write's fate is unknown ({write.get('error') or 'no answer'})"
    reads = [o for o in trial.get("history", []) if o["kind"] == "read"]
    last = max(reads, key=lambda o: o["sent_ns"], default=None)
    error = last.get("error") if last else None
    return f"the reads were failing when the trial ended ({error or 'no answer'})"


def race_tables(document: dict[str, Any]) -> list[Any]:
    """Summary table, one histogram per pair, and a plain sentence per pair."""
    out: list[Any] = []
    # The pair, its counts and p50/p99/max always; the rest as the width allows.
    columns = [Column("from → to", justify="left"), Column("trials"), Column("ok"),
               Column("timed out", False, rank=1), Column("unknown", False, rank=2),
               Column("failed", False, rank=3), Column("min", False, rank=5),
               Column("p50"), Column("p90", False, rank=4), Column("p99"), Column("max"),
               Column("mean ± sd", False, rank=6)]
    has_truth = any(p["with_truth"] for p in document["summary"]["pairs"])
    rows = []
    for p in document["summary"]["pairs"]:
        spread = "-" if p["mean_s"] is None else (
            f"{p['mean_s']:.3f} ± {p['stdev_s']:.3f}" if p["stdev_s"] is not None
            else lag_figure(p, "mean"))
        rows.append([f"{p['from_region']} → {p['to_region']}", str(p["trials"]),
                     str(p["replicated"]), str(p["timed_out"]),
                     str(p.get("indeterminate", 0)), str(p.get("failed", 0)),
                     *(lag_figure(p, name) for name in ("min", "p50", "p90", "p99", "max")),
                     spread])
    out.append(FitTable("replication lag in seconds (point estimates)", columns, rows))
    resolution = ", ".join(f"{r} {v * 1000:.1f} ms" for r, v in
                           document["resolution_s"].items())
    probes = [t for t in document["trials"] if t.get("via") == "probes"]
    if probes:
        errors = sorted({t["clock_error_s"] * 1000 for t in probes})
        out.append(Text(
            "measured by probes in the regions (ping-pong: the reader echoes each write); "
            f"each bound allows for a clock error of {_ms_list(errors)} ms per probe, twice"))
    else:
        out.append(Text(f"instrument resolution (median GetItem round trip): {resolution}"))
    schedules = document.get("schedules") or {}
    if schedules:
        out.append(Text("reads: " + "; ".join(
            f"{r} every {v['spacing_ms']:.1f} ms ({plural(v['pollers'], 'poller')}, each every "
            f"{v['interval_ms']:g} ms)" for r, v in schedules.items())))
    for p in document["summary"]["pairs"]:
        lags = [t["lag_s"] for t in document["trials"]
                if (t["from_region"], t["to_region"]) == (p["from_region"], p["to_region"])
                and t["lag_s"] is not None]
        out.append(histogram_text(lags, f"{p['from_region']} → {p['to_region']}"))
        if p["median_bound_width_s"] is not None:
            out.append(Text(f"median bound width {p['median_bound_width_s'] * 1000:.1f} ms"))
        if p.get("round_trip_p50_s") is not None:
            out.append(Text(
                f"round trip {p['from_region']} → {p['to_region']} → {p['from_region']} "
                f"(ping-pong, no clock in it): {p['round_trip_p50_s']:.3f} s at the median, "
                f"bound width {p['round_trip_width_p50_s'] * 1000:.1f} ms"))
        if p.get("clocks_disagree"):
            out.append(Text(
                f"warning: in {plural(p['clocks_disagree'], 'trial')} the one-way lags "
                "cannot be right (summed they miss the round trip, or one is below zero): "
                "the probes' clocks err by more than the clock error allowed for "
                "(raise --clock-error-ms)", style="bold red"))
        if has_truth and p["with_truth"]:
            out.append(Text(
                f"against the emulator's ground truth: true lag inside the bound in "
                f"{p['true_in_bound']}/{p['with_truth']} trials, median |error| "
                f"{(p['median_abs_error_s'] or 0) * 1000:.1f} ms"))
        if p.get("cloudwatch"):
            out.append(Text(cloudwatch_line(p["cloudwatch"])))
        if p.get("write_p50_s") is not None:
            out.append(Text(f"writes in {p['from_region']} acknowledged after "
                            f"{p['write_p50_s'] * 1000:.1f} ms at the median, "
                            f"{p['write_p99_s'] * 1000:.1f} ms at p99"))
        if document.get("consistency") == STRONG:
            out.append(_strong_verdict(p))
        if p.get("eventual_reads"):
            out.append(Text(eventual_sentence(p)))
        out.append(Text(race_sentence(p), style="bold"))
    out.extend(load_tables(document))
    out.extend(run_note(document))
    return out


def load_tables(document: dict[str, Any]) -> list[Any]:
    """race --load: lag against the background write rate, one row per step."""
    steps = (document.get("summary") or {}).get("load") or []
    if not steps:
        return []
    columns = [Column("writes/s"), Column("reached"), Column("trials"), Column("ok"),
               Column("p50"), Column("p99"), Column("max", False, rank=1),
               Column("width", False, rank=2), Column("true p50", False, rank=3)]
    rows = [[f"{s['rate_wps']:g}", "-" if s["reached_wps"] is None
             else f"{s['reached_wps']:.0f}", str(s["trials"]), str(s["replicated"]),
             lag_figure(s, "p50"), lag_figure(s, "p99"), lag_figure(s, "max"),
             "-" if s["median_bound_width_s"] is None
             else f"{s['median_bound_width_s'] * 1000:.0f} ms", plain(s["true_p50_s"])]
            for s in steps]
    out: list[Any] = [FitTable("lag under load (seconds): background writes per second in "
                               "the source region", columns, rows)]
    for step in (LoadStep.from_json(s) for s in document.get("load") or []):
        if step.stopped:
            out.append(Text(f"warning: the {step.rate_wps:g} writes/s load stopped early: "
                            f"{step.stopped}", style="bold red"))
        elif step.short:
            out.append(Text(f"warning: the {step.rate_wps:g} writes/s step reached "
                            f"{step.reached_wps:.0f}: it measured a lighter load than asked",
                            style="bold red"))
    measured = [s for s in steps if s["p50_s"] is not None]
    if len(measured) > 1:
        first, last = measured[0], measured[-1]
        out.append(Text(f"from {first['rate_wps']:g} to {last['rate_wps']:g} writes/s the "
                        f"median lag went from {lag_figure(first, 'p50')} s to "
                        f"{lag_figure(last, 'p50')} s", style="bold"))
    return out


def _ms_list(values: list[float]) -> str:
    return " to ".join(f"{v:g}" for v in (values if len(values) < 3 else
                                          [values[0], values[-1]]))


def _strong_verdict(p: dict[str, Any]) -> Text:
    """On a strongly consistent table, a stale strong read after the acknowledgement is a
    violation: counted and shown loudly, never averaged away."""
    stale = p.get("stale_after_ack", 0)
    if stale:
        return Text(f"VIOLATION: {stale} strongly consistent reads in {p['to_region']} sent "
                    "after a write's acknowledgement returned the old value; multi-Region "
                    "strong consistency promises none", style="bold red")
    return Text(f"strong consistency held: no strongly consistent read in {p['to_region']} "
                "sent after a write's acknowledgement returned the old value", style="green")


def eventual_sentence(p: dict[str, Any]) -> str:
    """What readers with eventually consistent reads saw: stale reads are allowed there,
    on either kind of table, so this is a figure, not a verdict."""
    stale = p.get("eventual_stale_after_ack", 0)
    if p.get("eventual_p50_s") is None:
        return (f"eventually consistent reads in {p['to_region']} never saw the write "
                f"({p['eventual_reads']} reads, {stale} after the acknowledgement)")
    return (f"eventually consistent reads in {p['to_region']} saw the write after "
            f"{p['eventual_p50_s']:.3f} s at the median ({p['eventual_p99_s']:.3f} s at p99); "
            f"{stale} of {p['eventual_reads']} such reads, sent after the acknowledgement, "
            "still returned the old value")


def race_sentence(p: dict[str, Any]) -> str:
    if p["p50_s"] is None or not p.get("replicated", 1):
        return (f"{p['to_region']} never saw a write from {p['from_region']} within the "
                f"timeout ({plural(p['trials'], 'trial')}).")
    others = [f"{p[k]} {label}" for k, label in (("timed_out", "timed out"),
                                                 ("indeterminate", "indeterminate"),
                                                 ("failed", "failed")) if p.get(k)]
    timed_out = "".join(f", {o}" for o in others)
    return (f"{p['to_region']} saw the write from {p['from_region']} after "
            f"{lag_figure(p, 'p50', digits=2)} s at the median "
            f"({plural(p['trials'], 'trial')}{timed_out}).")


def cloudwatch_line(cw: dict[str, Any]) -> str:
    """AWS's own figure, labelled for what it is: an average per period over every
    replicated write of the table, beside (never mixed with) gtbench's per-write lags."""
    period = cw.get("period_s")
    per = f"per {period / 60:g}-minute period" if period and period >= 60 else (
        f"per {period:g} s period" if period else "per period")
    periods = cw.get("periods") or []
    if cw.get("average_s") is None:
        return (f"CloudWatch ReplicationLatency: no datapoint arrived within "
                f"{cw.get('waited_s', 0):.0f} s (AWS publishes it minutes late)")
    line = (f"CloudWatch ReplicationLatency (AWS's average {per}, all of the table's "
            f"replicated writes): average {seconds(cw['average_s'])}, minimum "
            f"{seconds(cw.get('minimum_s'))}, maximum {seconds(cw.get('maximum_s'))} over "
            f"{len(periods)} period{'s' if len(periods) != 1 else ''}")
    if not cw.get("covered", True):
        line += f"; not every period had arrived after {cw.get('waited_s', 0):.0f} s"
    return line


def terminal_view(document: dict[str, Any]) -> list[Any]:
    """What the live run printed: a line per trial, then the summary."""
    return [trial_line(t) for t in document["trials"]] + race_tables(document)
