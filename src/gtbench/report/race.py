"""The race's result document and its terminal rendering."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from gtbench import __version__, analysis
from gtbench.report import FORMAT_VERSION
from gtbench.report.common import histogram_text, plain, seconds


def race_document(result: Any, settings: Any, endpoint_url: str | None,
                  cloudwatch: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``race`` result as documented in the README."""
    trials = [t.to_json() for t in result.trials]
    pairs = []
    for source, target in result.plan.pairs:
        mine = [t for t in trials if (t["from_region"], t["to_region"]) == (source, target)]
        summary = analysis.summarize([t["lag_s"] for t in mine])
        errors = [abs(t["error_s"]) for t in mine if t["error_s"] is not None]
        widths = [t["lag_high_s"] - t["lag_low_s"] for t in mine if t["lag_s"] is not None]
        pairs.append({
            "from_region": source, "to_region": target, **vars(summary),
            "median_bound_width_s": analysis.percentile(widths, 50) if widths else None,
            "median_abs_error_s": analysis.percentile(errors, 50) if errors else None,
            "true_in_bound": sum(1 for t in mine if t["true_lag_s"] is not None
                                 and t["lag_low_s"] is not None
                                 and t["lag_low_s"] <= t["true_lag_s"] <= t["lag_high_s"]),
            "with_truth": sum(1 for t in mine if t["true_lag_s"] is not None),
            "cloudwatch": (cloudwatch or {}).get(f"{source}>{target}"),
        })
    overall = analysis.summarize([t["lag_s"] for t in trials])
    return {
        "experiment": "race", "format": FORMAT_VERSION, "gtbench": __version__,
        "target": settings.target, "endpoint_url": endpoint_url, "table": settings.table,
        "regions": list(settings.regions),
        "settings": {"trials": result.plan.trials, "pollers": result.plan.pollers,
                     "interval_ms": result.plan.interval_s * 1000,
                     "timeout_s": result.plan.timeout_s},
        "started_at": result.started_at, "ended_at": result.ended_at,
        "resolution_s": result.resolution_s,
        "trials": trials,
        "summary": {"trials": overall.trials, "replicated": overall.replicated,
                    "timed_out": overall.timed_out, "p50_s": overall.p50_s,
                    "p90_s": overall.p90_s, "p99_s": overall.p99_s, "max_s": overall.max_s,
                    "pairs": pairs},
    }


def trial_line(trial: dict[str, Any]) -> str:
    pair = f"{trial['from_region']} → {trial['to_region']}"
    if trial["lag_s"] is None:
        return (f"trial {trial['index'] + 1:>3} {pair}: no fresh read before the timeout "
                f"({trial['stale_reads']} stale reads)")
    line = (f"trial {trial['index'] + 1:>3} {pair}: lag {trial['lag_s']:.3f} s in "
            f"[{trial['lag_low_s']:.3f}, {trial['lag_high_s']:.3f}] · "
            f"{trial['stale_reads']} stale reads")
    if trial["true_lag_s"] is not None:
        line += f" · true {trial['true_lag_s']:.3f} s"
    return line


def race_tables(document: dict[str, Any]) -> list[Any]:
    """Summary table, one histogram per pair, and a plain sentence per pair."""
    out: list[Any] = []
    summary = Table(title="replication lag in seconds (point estimates)", title_justify="left")
    for column in ("from → to", "trials", "ok", "timed out", "min", "p50", "p90", "p99", "max",
                   "mean ± sd"):
        summary.add_column(column, justify="left" if column == "from → to" else "right",
                           no_wrap=True)
    has_truth = any(p["with_truth"] for p in document["summary"]["pairs"])
    for p in document["summary"]["pairs"]:
        spread = "-" if p["mean_s"] is None else (
            f"{p['mean_s']:.3f} ± {p['stdev_s']:.3f}" if p["stdev_s"] is not None
            else f"{p['mean_s']:.3f}")
        summary.add_row(f"{p['from_region']} → {p['to_region']}", str(p["trials"]),
                        str(p["replicated"]), str(p["timed_out"]), plain(p["min_s"]),
                        plain(p["p50_s"]), plain(p["p90_s"]), plain(p["p99_s"]),
                        plain(p["max_s"]), spread)
    out.append(summary)
    resolution = ", ".join(f"{r} {v * 1000:.1f} ms" for r, v in
                           document["resolution_s"].items())
    out.append(Text(f"instrument resolution (median GetItem round trip): {resolution}"))
    for p in document["summary"]["pairs"]:
        lags = [t["lag_s"] for t in document["trials"]
                if (t["from_region"], t["to_region"]) == (p["from_region"], p["to_region"])
                and t["lag_s"] is not None]
        out.append(histogram_text(lags, f"{p['from_region']} → {p['to_region']}"))
        if p["median_bound_width_s"] is not None:
            out.append(Text(f"median bound width {p['median_bound_width_s'] * 1000:.1f} ms"))
        if has_truth and p["with_truth"]:
            out.append(Text(
                f"against the emulator's ground truth: true lag inside the bound in "
                f"{p['true_in_bound']}/{p['with_truth']} trials, median |error| "
                f"{(p['median_abs_error_s'] or 0) * 1000:.1f} ms"))
        if p.get("cloudwatch"):
            cw = p["cloudwatch"]
            out.append(Text(f"CloudWatch ReplicationLatency over the run: average "
                            f"{seconds(cw.get('average_s'))}, maximum "
                            f"{seconds(cw.get('maximum_s'))} ({cw.get('samples', 0)} samples)"))
        out.append(Text(race_sentence(p), style="bold"))
    return out


def race_sentence(p: dict[str, Any]) -> str:
    if p["p50_s"] is None:
        return (f"{p['to_region']} never saw a write from {p['from_region']} within the "
                f"timeout ({p['trials']} trials).")
    timed_out = f", {p['timed_out']} timed out" if p["timed_out"] else ""
    return (f"{p['to_region']} saw the write from {p['from_region']} after "
            f"{p['p50_s']:.2f} s at the median ({p['trials']} trials{timed_out}).")
