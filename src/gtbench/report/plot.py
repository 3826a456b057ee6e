"""Figures from result documents (matplotlib, the optional ``plot`` extra)."""

from __future__ import annotations

from typing import Any

from gtbench import analysis
from gtbench.errors import GtbenchError

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise GtbenchError("--png needs matplotlib",
                           hint="install it with: pip install -e '.[plot]' in a clone of "
                                "gtbench, or pip install 'gtbench[plot]'") from None
    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def race_figure(document: dict[str, Any]) -> Any:
    """Per pair: a histogram and a CDF of the lag with p50 and p99, and every bound; with
    ``race --load``, lag against rate instead."""
    if (document.get("summary") or {}).get("load"):
        return load_figure(document)
    plt = _pyplot()
    pairs = document["summary"]["pairs"]
    fig, axes = plt.subplots(len(pairs), 3, figsize=(15, 4 * len(pairs)), squeeze=False)
    for row, p in zip(axes, pairs, strict=True):
        name = f"{p['from_region']} → {p['to_region']}"
        trials = [t for t in document["trials"]
                  if (t["from_region"], t["to_region"]) == (p["from_region"], p["to_region"])]
        done = [t for t in trials if t["lag_s"] is not None]
        unseen = [t for t in trials if t["status"] == "timed_out"
                  and t.get("censored_at_s") is not None]
        lags = sorted(t["lag_s"] for t in done)
        hist, cdf, bars = row
        if lags:
            hist.hist(lags, bins=min(20, max(5, len(lags) // 2)), color=COLORS[0], alpha=0.8)
            # Over every trial with a lag or a floor: trials not seen in time keep the
            # curve below 1 (a CDF of the seen alone would claim they never happened).
            counted = len(lags) + len(unseen)
            cdf.step(lags, [(i + 1) / counted for i in range(len(lags))], where="post",
                     color=COLORS[0],
                     label=(f"{len(unseen)} of {counted} not seen in time"
                            if unseen else None))
            for q, style in ((50, "--"), (99, ":")):
                # The summary's figure, as the table prints it (a lower bound said so).
                value, above = p.get(f"p{q}_s"), p.get(f"p{q}_censored", False)
                if value is None:
                    value, above = analysis.percentile(lags, q), False
                for ax in (hist, cdf):
                    ax.axvline(value, color="black", linestyle=style,
                               label=f"p{q} {'> ' if above else ''}{value:.3f} s")
        hist.set(title=f"{name}: lag histogram", xlabel="lag (s)", ylabel="trials")
        cdf.set(title=f"{name}: CDF", xlabel="lag (s)", ylabel="share of trials", ylim=(0, 1.02))
        if lags:
            hist.legend(loc="best")
            cdf.legend(loc="best")
        else:  # say why the axes are empty rather than leave them blank
            for ax in (hist, cdf):
                ax.text(0.5, 0.5, f"no trial replicated\n({_ended(trials)})",
                        transform=ax.transAxes, ha="center", va="center", fontsize=12)
        xs = [t["index"] + 1 for t in done]
        ys = [t["lag_s"] for t in done]
        low = [t["lag_s"] - t["lag_low_s"] for t in done]
        high = [t["lag_high_s"] - t["lag_s"] for t in done]
        bars.errorbar(xs, ys, yerr=[low, high], fmt="o", ms=3, capsize=2, color=COLORS[0],
                      label="measured bound")
        if unseen:  # a lag above its floor: an arrow up, not a point
            bars.plot([t["index"] + 1 for t in unseen], [t["censored_at_s"] for t in unseen],
                      "^", ms=8, color=COLORS[1], label="not seen in time (lag above)")
        truth = [(t["index"] + 1, t["true_lag_s"]) for t in trials if t["true_lag_s"] is not None]
        if truth:
            bars.plot(*zip(*truth, strict=True), "x", color=COLORS[3],
                      label="emulator's true lag")
        bars.set(title=f"{name}: each trial's bound", xlabel="trial", ylabel="lag (s)")
        bars.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
        if done or truth or unseen:
            bars.legend(loc="best")
        else:
            bars.text(0.5, 0.5, f"no trial replicated\n({_ended(trials)})",
                      transform=bars.transAxes, ha="center", va="center", fontsize=12)
    fig.suptitle(f"replication lag · {document['table']} on {document['target']}")
    fig.tight_layout()
    return fig


def load_figure(document: dict[str, Any]) -> Any:
    """Lag against the background write rate: p50 and p99 per step at the rate asked,
    each trial's lag as a dot, and the rate each step reached."""
    plt = _pyplot()
    steps = document["summary"]["load"]
    fig, (lag, reach) = plt.subplots(1, 2, figsize=(13, 4.5))
    for q, style in (("p50_s", "o-"), ("p99_s", "s--")):
        points = [(s["rate_wps"], s[q]) for s in steps if s[q] is not None]
        color = COLORS[0] if q == "p50_s" else COLORS[1]
        if points:
            lag.plot(*zip(*points, strict=True), style, color=color,
                     label=q.removesuffix("_s"))
        # A figure that takes in trials not seen within the timeout is a lower bound:
        # an arrow up, not a point that claims to be the percentile.
        floors = [(s["rate_wps"], s[q]) for s in steps
                  if s[q] is not None and s.get(q.replace("_s", "_censored"))]
        if floors:
            lag.plot(*zip(*floors, strict=True), "^", color=color, markersize=12,
                     label=f"{q.removesuffix('_s')} above this (trials not seen in time)")
    dots = [(t["load_wps"], t["lag_s"]) for t in document["trials"]
            if t.get("load_wps") is not None and t["lag_s"] is not None]
    if dots:
        lag.plot(*zip(*dots, strict=True), ".", color="grey", alpha=0.5, label="each trial")
    for s in steps:  # a step's lags leave out the trials that never saw the write
        missed = s["trials"] - s["replicated"]
        if missed:
            lag.annotate(f"{missed} of {s['trials']} not seen", (s["rate_wps"], s["p50_s"] or 0),
                         textcoords="offset points", xytext=(0, -14), ha="center",
                         color=COLORS[3], fontsize=9)
    # The table's write capacity, the same in every replica (a provisioned table on the
    # emulator): past it the source refuses writes and the rate reached levels off.
    wcu = ((document.get("emulator") or {}).get("capacity") or {}).get("wcu") or {}
    readers = {p["to_region"] for p in document["summary"].get("pairs", [])}
    for region, units in sorted(wcu.items()):
        if region in readers:
            for ax in (lag, reach):
                ax.axvline(units, color=COLORS[3], linestyle="-.", alpha=0.8,
                           label=f"{region}'s capacity: {units:g} WCU (1 KB writes/s)")
    lag.set(title="replication lag under load", xlabel="background writes per second",
            ylabel="lag (s)")
    lag.legend(loc="best")
    asked = [s["rate_wps"] for s in steps]
    reach.plot(asked, asked, ":", color="black", label="asked")
    reach.plot(asked, [s["reached_wps"] or 0 for s in steps], "o-", color=COLORS[2],
               label="reached")
    reach.set(title="the load each step reached", xlabel="writes per second asked",
              ylabel="writes per second acknowledged")
    reach.legend(loc="best")
    pairs = ", ".join(f"{p['from_region']} → {p['to_region']}"
                      for p in document["summary"]["pairs"])
    fig.suptitle(f"lag under load · {pairs} · {document['table']} on {document['target']}")
    fig.tight_layout()
    return fig


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def _ended(trials: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        status = t.get("status", "timed_out" if t["lag_s"] is None else "replicated")
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items()))


def _timeline(ax: Any, trial: dict[str, Any], writers: list[str], legend: bool = True
              ) -> None:
    """One trial: what each region shows over time, the writes marked (▼). An overwrite
    is drawn by whose write each region shows (the values are random: as numbers they
    said nothing), with the write that was lost called out; increments by the counter."""
    end = max([e["t"] for e in trial["timeline"]] + [w["acked"] for w in trial["writes"]])
    increment = trial.get("increment")
    whose = {w["value"]: writers.index(w["region"]) + 1 for w in trial["writes"]
             if w["region"] in writers and w["value"] is not None}

    def level(value: int | None) -> float:
        if increment is not None:
            return float("nan") if value is None else float(value)
        return 0.0 if value is None else float(whose.get(value, float("nan")))

    for color, region in zip(COLORS, writers, strict=False):
        points = [e for e in trial["timeline"] if e["region"] == region]
        if points:
            # Each state lasts until the next; the last one until the trial's end.
            xs = [e["t"] * 1000 for e in points] + [end * 1050]
            ys = [level(e["value"]) for e in points]
            ax.step(xs, [*ys, ys[-1]], where="post", color=color, label=f"{region} shows")
        for w in (w for w in trial["writes"] if w["region"] == region):
            ax.axvline(w["sent"] * 1000, color=color, alpha=0.4, linestyle="--")
            ax.plot([w["sent"] * 1000], [level(w["value"])], marker="v", color=color, ms=8)
    verdict = (f"{trial['winner_region']} won" if trial["converged"] else "did not converge")
    if increment is not None:
        # The lost updates: the gap between what every update adds up to and the final.
        ax.axhline(increment["expected"], color="black", linestyle=":",
                   label=f"expected {increment['expected']} (no update lost)")
        ax.axhline(increment["final"], color=COLORS[3], linestyle="-", alpha=0.5,
                   label=f"final {increment['final']}")
        ax.annotate(f"{increment['lost_updates']} of {increment['updates']} updates lost",
                    xy=(end * 1000, increment["final"]),
                    xytext=(end * 1000, increment["expected"]), ha="right",
                    va="bottom" if increment["expected"] >= increment["final"] else "top",
                    color=COLORS[3], fontweight="bold",
                    arrowprops={"arrowstyle": "->", "color": COLORS[3]})
        verdict += f", {increment['lost_updates']} updates lost"
        ax.set(ylabel="Bookmark")
    else:
        ax.set_yticks([0, *range(1, len(writers) + 1)],
                      ["no item", *(f"{r}'s write" for r in writers)])
        ax.set(ylim=(-0.5, len(writers) + 0.5), ylabel="what the region shows")
        lost = next((w for w in trial["writes"] if w["write_id"] == trial.get("loser_write")),
                    None)
        if lost is not None and trial.get("loser_seen_remotely") is False:
            # What the figure is for: the write that vanished, as if it never happened.
            shown = trial.get("loser_visible_s")
            ax.annotate(f"{lost['region']}'s write lost unseen"
                        + (f" after {shown:.2f} s" if shown is not None else ""),
                        xy=(lost["sent"] * 1000, level(lost["value"])),
                        xytext=(end * 500, level(lost["value"]) - 0.35), ha="center",
                        color=COLORS[3], fontweight="bold",
                        arrowprops={"arrowstyle": "->", "color": COLORS[3]})
            verdict += ", the other write lost unseen"
    ax.set(title=f"trial {trial['index'] + 1}, offset {trial['offset_ms']:g} ms: {verdict}",
           xlabel="ms after the release")
    if legend:  # once per figure: the first panel's, beside the curves, never over them
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")


def _earlier_lag(trial: dict[str, Any]) -> float | None:
    """The earlier write's lag: true (emulator) where known, else measured."""
    true = trial.get("earlier_true_lag_s")
    return true if true is not None else trial.get("earlier_lag_s")


def conflict_figure(document: dict[str, Any]) -> Any:
    """A sweep: share of earlier writes lost unseen against the offset, beside the lag
    (the sweep's own figure: one trial's timeline beside it added little). Otherwise:
    the first trials' timelines, per region, with the writes marked (▼)."""
    plt = _pyplot()
    writers = document["writers"]
    offsets = document["summary"]["offsets"]
    title = f"concurrent writes, {document['mode']} · {writers[0]} and {writers[1]}"
    if len(offsets) > 1:
        fig, sweep = plt.subplots(1, 1, figsize=(11, 5.5))
        xs = [o["offset_ms"] for o in offsets]
        share = [o["earlier_discarded_unseen"] / o["trials"] if o["trials"] else 0.0
                 for o in offsets]
        # Markers only: nothing was measured between the offsets; each with its 95%
        # interval, so a step between offsets of a few trials reads as the noise it is.
        low = [s - o["lost_unseen_low"] if o.get("lost_unseen_low") is not None else 0.0
               for s, o in zip(share, offsets, strict=True)]
        high = [o["lost_unseen_high"] - s if o.get("lost_unseen_high") is not None else 0.0
                for s, o in zip(share, offsets, strict=True)]
        sweep.errorbar(xs, share, yerr=[low, high], fmt="o", ms=8, capsize=4,
                       color=COLORS[0],
                       label=f"earlier write lost unseen ({offsets[0]['trials']} trials "
                             "each, 95% interval)")
        lags = sorted(lag * 1000 for t in document["trials"]
                      if (lag := _earlier_lag(t)) is not None)
        if lags:
            grid = [min(xs) + i * (max(xs) - min(xs)) / 200 for i in range(201)]
            sweep.plot(grid, [sum(lag > g for lag in lags) / len(lags) for g in grid], "--",
                       color=COLORS[1],
                       label=f"share of the earlier writes' lags above the offset "
                             f"({len(lags)} lags)")
            median = analysis.percentile(lags, 50)
            sweep.axvline(median, color="black", linestyle=":",
                          label=f"median earlier-write lag {median:.0f} ms")
        sweep.set(title="the conflict window", xlabel="offset between the writes (ms)",
                  ylabel="share of trials", ylim=(-0.02, 1.05))
        sweep.set_xticks(xs)
        sweep.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small",
                     ncol=2)
    else:
        shown = document["trials"][:4]
        fig, axes = plt.subplots(len(shown), 1, figsize=(13, 3.2 * len(shown)), squeeze=False,
                                 sharex=True)  # one time axis: trials compare at a glance
        for index, (ax, trial) in enumerate(zip(axes[:, 0], shown, strict=True)):
            # One legend: the regions' colours are the same in every panel; an
            # increment's expected and final lines differ per trial, so each keeps its.
            _timeline(ax, trial, writers, legend=index == 0 or trial.get("increment")
                      is not None)
        hidden = len(document["trials"]) - len(shown)
        if hidden:
            title += f" · first {len(shown)} of {len(document['trials'])} trials shown"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_figure(document: dict[str, Any]) -> Any:
    """A latency CDF per operation (rows) and region (columns), both kinds of table on
    each axis: a region's round trips differ, so pooling them would blur both. One x
    scale per row, so the regions of one operation compare at a glance."""
    from gtbench.report.compare import SHORT, latencies

    plt = _pyplot()
    operations = ("write", "strong read", "eventual read")
    regions = list(document["settings"]["regions"])
    fig, axes = plt.subplots(len(operations), len(regions),
                             figsize=(4.2 * len(regions) + 1.5, 3.2 * len(operations)),
                             squeeze=False, sharex="row", sharey=True)
    for row, operation in zip(axes, operations, strict=True):
        for ax, region in zip(row, regions, strict=True):
            notes = []
            for color, mode in zip(COLORS, document["modes"], strict=False):
                times = [t * 1000 for t in latencies(mode, operation, region)]
                if not times:
                    continue
                p50 = analysis.percentile(times, 50)
                kind = SHORT.get(mode["consistency"], mode["consistency"])
                ax.step(times, [(i + 1) / len(times) for i in range(len(times))],
                        where="post", color=color, label=kind)
                ax.axvline(p50, color=color, linestyle="--", linewidth=0.8)
                notes.append(f"{kind} p50 {p50:.1f} ms, p99 "
                             f"{analysis.percentile(times, 99):.1f} ms")
            ax.set(title=f"{operation} in {region}", ylim=(0, 1.02))
            ax.text(0.98, 0.04, "\n".join(notes), transform=ax.transAxes, ha="right",
                    va="bottom", fontsize="x-small",
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
        row[0].set_ylabel("share of requests")
    for ax in axes[-1]:
        ax.set_xlabel("ms")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right")
    fig.suptitle(f"MREC and MRSC side by side · {', '.join(regions)} on "
                 f"{document['target']}")
    # The latencies are what MRSC costs; what MREC loses is said under them, so the
    # figure alone does not make the cheaper kind look free.
    from gtbench.report.compare import answer

    lost = next((line for line in answer(document) if line.startswith("What MREC lost")), None)
    if lost is not None:
        import textwrap

        fig.text(0.01, 0.005, textwrap.fill(lost, 150), fontsize="small", va="bottom",
                 color=COLORS[3])
    fig.tight_layout(rect=(0, 0.05 if lost else 0, 0.93, 1))
    return fig


def save_png(document: dict[str, Any], path: str) -> None:
    from gtbench import registry

    figure = registry.get(document["experiment"]).call("figure", document)
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
