"""The outage document: what each region did while one was cut off, and how it healed."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.report.common import Column, FitTable, run_note

KIND = {EVENTUAL: "MREC", STRONG: "MRSC"}


def title(document: dict[str, Any]) -> str:
    s, summary = document["settings"], document["summary"]
    lasted = ("never cut off" if summary["cut_s"] is None
              else f"cut off for {summary['cut_s']:.1f} s")
    return (f"{s['region']} {lasted} ({document['cut']}) · "
            f"{KIND.get(document['consistency'], document['consistency'])} table "
            f"{document['table']} · {s['rate']:g} writes/s per region")


def region_table(document: dict[str, Any]) -> FitTable:
    # Whole run, then the same while the cut was on; what was lost always shows.
    columns = [Column("region", justify="left"), Column("acked"),
               Column("refused", False, rank=3), Column("unknown", False, rank=4),
               Column("cut: acked"), Column("cut: refused", False, rank=1),
               Column("cut: unknown", False, rank=2),
               Column("strong reads failed", False, rank=5), Column("lost")]
    rows = []
    for r in document["summary"]["regions"]:
        lost = "-" if r["lost_writes"] is None else str(r["lost_writes"])
        rows.append([r["region"] + (" ✂" if r["cut"] else ""), str(r["acked"]),
                     str(r["refused"]), str(r["indeterminate"]), str(r["acked_during"]),
                     str(r["refused_during"]), str(r["indeterminate_during"]),
                     f"{r['failed_strong_reads_during']} of {r['strong_reads_during']}",
                     Text(lost, style="red" if r["lost_writes"] else "")])
    return FitTable(title(document), columns, rows)


def timeline(document: dict[str, Any], width: int = 40) -> Text:
    """Items the regions disagreed on, second by second, the cut marked."""
    summary = document["summary"]
    rows = summary["divergence"]
    top = max((d["differing"] for d in rows), default=0) or 1
    text = Text("items that differed between the regions, per second (0 = the cut began)\n")
    for d in rows:
        cut = 0 <= d["t_s"] < (summary["cut_s"] or 0)
        bar = "█" * round(width * d["differing"] / top)
        text.append(f"{d['t_s']:>6.0f} s {'cut' if cut else '   '} │ ")
        text.append(bar, style="red" if cut else "cyan")
        text.append(f" {d['differing']}\n")
    return text


def cut_times(summary: dict[str, Any]) -> str | None:
    """The cut asked for and the cut the heartbeats showed, side by side."""
    asked, began = summary.get("cut_requested_s"), summary.get("cut_observed_s")
    if asked is None:
        return None
    ended = summary.get("cut_observed_end_s")
    if began is None:
        return (f"The cut was asked for {asked:.1f} s into the run and never showed in the "
                "heartbeats: replication went on, and nothing here measures a cut.")
    line = (f"The cut was asked for {asked:.1f} s into the run and took hold at "
            f"{began:.1f} s ({began - asked:.1f} s later, seen from the heartbeats: a "
            f"silence over {summary.get('stall_s') or 0:.1f} s)")
    if ended is not None:
        line += f"; replication resumed at {ended:.1f} s"
    return line + "."


def sentences(document: dict[str, Any]) -> list[str]:
    s = document["summary"]
    region = s["region"]
    strong = document["consistency"] == STRONG
    out = []
    times = cut_times(s)
    if times:
        out.append(times)
    if s["cut_s"] is None:
        return out
    cut = next(r for r in s["regions"] if r["cut"])
    if strong:
        failed = cut["refused_during"] + cut["indeterminate_during"]
        how = ", ".join(part for part in (
            f"{cut['refused_during']} refused" if cut["refused_during"] else "",
            f"{cut['indeterminate_during']} with an error of unknown outcome"
            if cut["indeterminate_during"] else "") if part)
        landed = s["indeterminate_landed"]
        out.append(
            f"While cut off, {failed} of {region}'s writes failed ({how or 'none'}) and "
            f"{cut['acked_during']} were acknowledged; "
            + (f"{landed} of the run's writes of unknown outcome landed in the end; "
               if landed is not None and s["indeterminate_writes"] else "")
            + f"{cut['failed_strong_reads_during']} of {cut['strong_reads_during']} strong "
            "reads failed there: the price of losing nothing.")
    else:
        out.append(f"{region} went on accepting writes while cut off: {cut['acked_during']} "
                   "acknowledged, replicated nowhere until the cut ended.")
    for other in (r for r in s["regions"] if not r["cut"]):
        lost = ("" if other["lost_writes"] is None
                else f"; {other['lost_writes']} of its acknowledged writes are in no final image")
        out.append(f"{other['region']} went on too: {other['acked_during']} writes acknowledged "
                   f"during the cut, {other['refused_during']} refused, "
                   f"{other['failed_strong_reads_during']} strong reads failed{lost}.")
    if s["recovery_point_writes"] is None:
        out.append("Recovery point: not measured (the other regions were not read as the "
                   "cut ended).")
    elif s["recovery_point_writes"]:
        during, before = s.get("recovery_point_during"), s.get("recovery_point_before")
        split = ""
        if during is not None and before is not None:
            split = f": {during} sent during the cut"
            if before:
                oldest = s.get("recovery_point_oldest_before_cut_s") or 0.0
                split += (f", {before} sent before it (replication was already behind "
                          f"when the cut began, the oldest acknowledged {oldest:.1f} s "
                          "before)")
        out.append(
            f"Recovery point: {s['recovery_point_writes']} writes acknowledged in {region} "
            f"were held by no other region when the cut ended{split}; had {region} never "
            "come back, they were gone.")
    else:
        out.append(f"Recovery point: every write acknowledged in {region} was also held by "
                   "another region when the cut ended: nothing depended on its return.")
    if s["converge_s"] is not None:
        out.append(f"The regions agreed again {s['converge_s']:.2f} s after the cut ended "
                   f"(in [{s['converge_low_s']:.2f}, {s['converge_high_s']:.2f}] s).")
    elif document.get("interrupted"):
        out.append("Interrupted before the regions were watched to agreement: the time to "
                   "converge was not measured.")
    else:
        out.append("The regions did not agree again before the watch gave up.")
    if s["lost_writes"] is not None:
        examples = ", ".join(f"{x['write_id']} (replaced, in the end, by {x['replaced_by']})"
                             for x in s["lost"][:3])
        during = s.get("lost_sent_during")
        lost = (f"{s['lost_writes']} acknowledged writes are in no region's final image "
                + (f"({during} of them sent during the cut)" if during is not None else "")
                + ": last writer wins threw them away"
                + (f", e.g. {examples}" if examples else "")
                if s["lost_writes"] else "No acknowledged write was lost")
        updates = (f"; {s['lost_updates']} of {s['updates']} acknowledged increments are "
                   "missing from the counter" if s["lost_updates"] is not None else "")
        out.append(lost + updates + ".")
    checks = s.get("against_truth")
    if checks:
        out.append("Against the emulator's ground truth: " + "; ".join(
            _truth_phrase(c) for c in checks) + ".")
    return out


def _truth_phrase(check: dict[str, Any]) -> str:
    """One figure beside the truth; an unmeasured figure is never a comparison."""
    if check["measured"] is None:
        return f"{check['figure']} not measured ({check['true']} true)"
    same = "the same writes" if check["same_writes"] else "DIFFERENT writes"
    return f"{check['figure']} {check['measured']} measured, {check['true']} true ({same})"


def outage_tables(document: dict[str, Any]) -> list[Any]:
    out: list[Any] = [region_table(document), timeline(document)]
    out += [Text(line, style="bold") for line in sentences(document)]
    out.extend(run_note(document))
    return out


def outage_markdown(document: dict[str, Any]) -> str:
    header = ["region", "acked", "refused", "unknown", "acked during the cut",
              "refused during", "strong reads failed during", "lost writes"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    for r in document["summary"]["regions"]:
        lines.append("| " + " | ".join([
            r["region"] + (" (cut)" if r["cut"] else ""), str(r["acked"]), str(r["refused"]),
            str(r["indeterminate"]), str(r["acked_during"]), str(r["refused_during"]),
            f"{r['failed_strong_reads_during']} of {r['strong_reads_during']}",
            "-" if r["lost_writes"] is None else str(r["lost_writes"])]) + " |")
    return "\n\n".join([f"**{title(document)}**", "\n".join(lines),
                        " ".join(sentences(document))])


def outage_figure(document: dict[str, Any]) -> Any:
    """Divergence over time with the cut shaded and the headline figures on it, and each
    region's writes per second (whole seconds of the workload only)."""
    from gtbench.report.plot import COLORS, _pyplot

    plt = _pyplot()
    summary = document["summary"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True)
    rows = summary["divergence"]
    # Each second's count holds for the whole second: draw its end too.
    xs = [d["t_s"] for d in rows] + ([rows[-1]["t_s"] + 1] if rows else [])
    ys = [d["differing"] for d in rows] + ([rows[-1]["differing"]] if rows else [])
    top.step(xs, ys, where="post", color=COLORS[3],
             label="items that differ between the regions")
    if rows and rows[0]["t_s"] < 0:
        # Before the cut the regions differ too: writes still on their way.
        top.annotate("before the cut: writes in flight\n(ordinary replication lag)",
                     xy=(rows[0]["t_s"] + 0.5, max(ys[:1] or [0])), fontsize="small",
                     xytext=(4, 8), textcoords="offset points", color="dimgrey")
    top.text(0.01, 0.97, "\n".join(_headline(document)), transform=top.transAxes,
             va="top", ha="left", fontsize="small",
             bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})
    start_ns = document["start_ns"]
    writes = document["history"]["writes"]
    if writes:
        # Whole seconds only: a partly covered first or last second is not a rate. A
        # second the workload covered to within one write's interval counts as whole
        # (the last second of the cut was left out, and both lines stopped short of it).
        first = (min(w["sent_ns"] for w in writes) - start_ns) / 1e9
        last = (max(w["sent_ns"] for w in writes) - start_ns) / 1e9
        step = 1 / max(float(document["settings"].get("rate") or 1.0), 1e-9)
        start = math.floor(first) + (first - math.floor(first) > step)
        stop = math.floor(last) + (last - math.floor(last) >= 1 - step - 1e-9)
        span = range(start, max(stop, start + 1))
        for n, (color, region) in enumerate(zip(COLORS, document["regions"], strict=False)):
            for outcome, style in (("ok", "-"), ("fail", ":"), ("info", "--")):
                seconds = dict.fromkeys(span, 0)
                for w in writes:
                    t = int((w["sent_ns"] - start_ns) // 1_000_000_000)
                    if w["region"] == region and w["result"] == outcome and t in seconds:
                        seconds[t] += 1
                if any(seconds.values()):
                    ts = [*span, span[-1] + 1]
                    label = {"ok": "acked", "fail": "refused", "info": "unknown"}[outcome]
                    # Equal rates draw one line over another: the first region's is a
                    # wide pale band, the others narrow inside it, both seen.
                    bottom.step(ts, [*seconds.values(), seconds[span[-1]]], where="post",
                                linestyle=style, color=color,
                                linewidth=7.0 if n == 0 else 2.0,
                                alpha=0.45 if n == 0 else 1.0, label=f"{region} {label}")
    for ax in (top, bottom):
        ax.axvspan(0, summary["cut_s"] or 0, color="grey", alpha=0.2,
                   label=f"{document['settings']['region']} cut off" if ax is top else None)
    top.set(ylabel="items", title=title(document))
    bottom.set(xlabel="seconds after the cut began", ylabel="writes per second")
    bottom.set_ylim(bottom=0, top=max(bottom.get_ylim()[1], 1) * 1.2)  # a rate from zero
    # Beside the data, never over it.
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.tight_layout()
    return fig


def _headline(document: dict[str, Any]) -> list[str]:
    """The figures the outage exists for, in a few short lines."""
    s = document["summary"]
    region = s["region"]
    out = []
    if s["recovery_point_writes"] is None:
        out.append("recovery point: not measured")
    else:
        during = s.get("recovery_point_during")
        out.append(f"recovery point: {s['recovery_point_writes']} writes only in {region}"
                   + (f" ({during} sent during the cut)" if during is not None else ""))
    out.append("lost (last writer wins): " + (
        "not measured" if s["lost_writes"] is None
        else f"{s['lost_writes']} acknowledged writes"))
    out.append("agreed again: " + ("not measured" if s["converge_s"] is None
                                   else f"{s['converge_s']:.2f} s after the cut"))
    return out


def holding(document: dict[str, Any]) -> str:
    """What an outage's history holds, in words."""
    h = document["history"]
    return (f"{len(h['writes'])} writes, {len(h['reads'])} strong reads, "
            f"{len(h['snapshots']) + len(h['held']) + sum(map(len, h['rounds']))} snapshots")
