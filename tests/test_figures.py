"""What each figure shows, read from the matplotlib figure itself (axes, series,
labels) and held against the document's own figures; and what the terminal report
prints, held against the same."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gtbench import registry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / name).read_text()))


def figure(document: dict[str, Any]) -> Any:
    pytest.importorskip("matplotlib")
    return registry.get(document["experiment"]).call("figure", document)


def test_the_race_figure_draws_each_pairs_lags_percentiles_and_bounds() -> None:
    document = load("race.json")
    fig = figure(document)
    pairs = document["summary"]["pairs"]
    assert len(fig.axes) == 3 * len(pairs)
    for row, pair in zip([fig.axes[i:i + 3] for i in range(0, len(fig.axes), 3)], pairs,
                         strict=True):
        hist, cdf, bars = row
        name = f"{pair['from_region']} → {pair['to_region']}"
        assert hist.get_title() == f"{name}: lag histogram" and hist.get_xlabel() == "lag (s)"
        # The histogram's bars hold every replicated trial once.
        assert sum(p.get_height() for p in hist.patches) == pair["replicated"]
        # p50 and p99 lines sit at the document's percentiles.
        lines = {line.get_label(): line.get_xdata()[0] for line in hist.get_lines()}
        assert lines[f"p50 {pair['p50_s']:.3f} s"] == pytest.approx(pair["p50_s"])
        assert lines[f"p99 {pair['p99_s']:.3f} s"] == pytest.approx(pair["p99_s"])
        # The CDF ends at 1 at the largest lag.
        step = cdf.get_lines()[0]
        assert step.get_ydata()[-1] == pytest.approx(1.0)
        assert max(step.get_xdata()) == pytest.approx(pair["max_s"])
        # One bound per replicated trial, around its estimate; the truth beside it.
        trials = [t for t in document["trials"] if t["lag_s"] is not None
                  and (t["from_region"], t["to_region"]) == (pair["from_region"],
                                                             pair["to_region"])]
        legend = [t.get_text() for t in bars.get_legend().get_texts()]
        assert "measured bound" in legend and "emulator's true lag" in legend
        estimates = bars.containers[0].lines[0].get_ydata()
        assert list(estimates) == pytest.approx([t["lag_s"] for t in trials])


def test_the_conflict_sweep_figure_plots_the_share_lost_per_offset() -> None:
    from gtbench.document import rebuild

    document = rebuild(load("conflict-sweep.json"))  # as saved now: with the intervals
    fig = figure(document)
    sweep = fig.axes[0]
    assert sweep.get_title() == "the conflict window"
    assert sweep.get_xlabel() == "offset between the writes (ms)"
    (shares,) = sweep.containers
    points = shares.lines[0]
    offsets = document["summary"]["offsets"]
    assert list(points.get_xdata()) == [o["offset_ms"] for o in offsets]
    assert all(0 <= y <= 1 for y in points.get_ydata())
    assert "earlier write lost unseen" in shares.get_label()
    # Each share with its 95% interval: 2 of 2 trials is anywhere from 34% to 100%.
    (segments,) = [c.get_segments() for c in shares.lines[2]]
    assert [(round(a[1], 6), round(b[1], 6)) for a, b in segments] == [
        (round(o["lost_unseen_low"], 6), round(o["lost_unseen_high"], 6)) for o in offsets]
    assert any(o["earlier_discarded_unseen"] == o["trials"] == 2
               and round(o["lost_unseen_low"], 2) == 0.34 for o in offsets)
    assert len(fig.axes) == 1  # the window alone: one trial beside it added little
    # The legend sits under the axes, off the curves.
    anchor = sweep.get_legend().get_bbox_to_anchor().transformed(
        sweep.transAxes.inverted())
    assert anchor.y0 < 0


def test_conflict_timelines_show_whose_write_and_call_out_the_lost_one() -> None:
    document = load("conflict.json")
    fig = figure(document)
    # One legend, the first panel's, beside the curves; the others rely on it.
    first, *others = fig.axes
    anchor = first.get_legend().get_bbox_to_anchor().transformed(first.transAxes.inverted())
    assert anchor.x0 >= 1.0 and all(ax.get_legend() is None for ax in others)
    for ax, trial in zip(fig.axes, document["trials"], strict=False):
        # Whose write each region shows, not the writes' random values.
        assert [t.get_text() for t in ax.get_yticklabels()] == [
            "no item", *(f"{r}'s write" for r in document["writers"])]
        called = [t.get_text() for t in ax.texts]
        if trial["loser_seen_remotely"] is False:
            lost = next(w for w in trial["writes"] if w["write_id"] == trial["loser_write"])
            assert f"{lost['region']}'s write lost unseen after " \
                   f"{trial['loser_visible_s']:.2f} s" in called


def test_the_compare_figure_has_a_cdf_per_operation_and_region_for_both_kinds() -> None:
    """One panel per operation and region (pooling regions blurred their round trips),
    each with both kinds and their p50 as the summary states it."""
    document = load("compare.json")
    fig = figure(document)
    regions = document["settings"]["regions"]
    operations = ("write", "strong read", "eventual read")
    assert [ax.get_title() for ax in fig.axes] == [f"{op} in {r}" for op in operations
                                                   for r in regions]
    latency = {(m["consistency"], x["operation"], x["region"]): x["p50_s"]
               for m in document["summary"]["modes"] for x in m["latency"]}
    for ax, (op, region) in zip(fig.axes, [(o, r) for o in operations for r in regions],
                                strict=True):
        assert [line.get_label() for line in ax.get_lines()
                if not line.get_label().startswith("_")] == ["MREC", "MRSC"]
        note = ax.texts[0].get_text()
        for kind, consistency in (("MREC", "EVENTUAL"), ("MRSC", "STRONG")):
            assert f"{kind} p50 {latency[(consistency, op, region)] * 1000:.1f} ms" in note
    # Beside what MRSC costs (the curves), what MREC loses, said on the figure.
    assert any(t.get_text().startswith("What MREC lost: ") for t in fig.texts)
    # One x scale per row: the regions of an operation compare at a glance.
    for row in range(len(operations)):
        limits = {fig.axes[row * len(regions) + i].get_xlim() for i in range(len(regions))}
        assert len(limits) == 1


def test_the_outage_figure_shades_the_cut_and_plots_divergence() -> None:
    document = load("outage.json")
    fig = figure(document)
    top, bottom = fig.axes
    rows = document["summary"]["divergence"]
    assert list(top.get_lines()[0].get_ydata()[:-1]) == [d["differing"] for d in rows]
    span = top.patches[0].get_xy() if top.patches else None
    assert span is not None  # the cut, shaded
    assert bottom.get_ylabel() == "writes per second" and bottom.get_ylim()[0] == 0
    # The headline figures are on the figure, as the document states them.
    s = document["summary"]
    said = " ".join(t.get_text() for t in top.texts)
    assert (f"recovery point: {s['recovery_point_writes']} writes only in {s['region']} "
            f"({s['recovery_point_during']} sent during the cut)") in said
    assert f"lost (last writer wins): {s['lost_writes']} acknowledged writes" in said
    # Every region's rate is drawn, over whole seconds only (no partial first second).
    labels = [line.get_label() for line in bottom.get_lines()]
    assert [f"{r} acked" for r in document["regions"]] == labels
    assert all(y > 0 for line in bottom.get_lines() for y in line.get_ydata())
    # ... to the end of the cut, and both seen where their rates are equal: a wide
    # pale band, the other narrow inside it.
    assert all(max(line.get_xdata()) >= int(s["cut_s"]) for line in bottom.get_lines())
    widths = [line.get_linewidth() for line in bottom.get_lines()]
    assert widths[0] > 2 * widths[1]
    # Legends beside the data, never over it.
    for ax in (top, bottom):
        anchor = ax.get_legend().get_bbox_to_anchor().transformed(ax.transAxes.inverted())
        assert anchor.x0 >= 1.0


def render(document: dict[str, Any], width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    for renderable in registry.get(document["experiment"]).call("terminal", document):
        console.print(renderable)
    return " ".join(console.export_text().split())


def test_the_race_report_prints_the_documents_figures() -> None:
    document = load("race.json")
    text = render(document)
    for pair in document["summary"]["pairs"]:
        assert f"{pair['from_region']} → {pair['to_region']}" in text
        for key in ("p50_s", "p99_s", "max_s"):
            assert f"{pair[key] * 1000:.1f}" in text or f"{pair[key]:.3f}" in text, key


def test_the_outage_report_prints_the_documents_counts() -> None:
    document = load("outage.json")
    text = render(document)
    s = document["summary"]
    assert f"{s['lost_writes']} acknowledged writes are in no region's final image" in text
    assert f"Recovery point: {s['recovery_point_writes']} writes" in text
    truth = s["against_truth"]
    assert (f"recovery point {truth[0]['measured']} measured, {truth[0]['true']} true "
            "(the same writes)") in text


@pytest.mark.parametrize("width", [80, 100, 160])
@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_no_report_cuts_a_figure_short_at_common_widths(name: str, width: int) -> None:
    """Rich turns a cell that does not fit into '…': a figure nobody can read. Columns
    are chosen by the width instead, and the essential ones always show."""
    document = load(name)
    console = Console(width=width, record=True, file=io.StringIO())
    for renderable in registry.get(document["experiment"]).call("terminal", document):
        console.print(renderable)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width


def test_at_80_columns_the_race_table_keeps_its_essential_figures() -> None:
    document = load("race.json")
    text = render(document, width=80)
    pair = document["summary"]["pairs"][0]
    for key in ("p50_s", "p99_s", "max_s"):
        assert f"{pair[key]:.3f}" in text
    assert "hidden here:" in text and "mean ± sd" in text
    assert "hidden here" not in render(document, width=160)
    # The hint names a width that shows every column (race has no --markdown), and it
    # does: at that width nothing is hidden.
    import re

    needed = int(re.search(r"COLUMNS=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert "hidden here" not in render(document, width=needed)
    assert "--markdown" not in text


def test_a_25_trial_sweep_reads_in_60_lines_at_80_columns() -> None:
    """By default: one example timeline, a short line per other trial, the summary.
    (It was 345 lines with every timeline.)"""
    document = load("conflict-sweep.json")
    trials = [dict(t, index=i) for i, t in enumerate(
        (document["trials"] * 4)[:25])]
    document["trials"] = trials
    for o in document["summary"]["offsets"]:  # as now saved: the disagreement's bound too
        o["median_disagreed_low_s"] = o["median_disagreed_s"] - 0.02
        o["median_disagreed_high_s"] = o["median_disagreed_s"] + 0.02
    console = Console(width=80, record=True, file=io.StringIO())
    for renderable in registry.get("conflict").call("terminal", document):
        console.print(renderable)
    lines = console.export_text().splitlines()
    assert len(lines) <= 60, len(lines)
    assert sum(1 for line in lines if line.startswith("trial ")) == 25


def test_the_load_figure_draws_a_censored_median_as_an_arrow_up_not_a_point() -> None:
    from gtbench.report.plot import load_figure

    def step(rate: float, p50: float, censored: bool) -> dict[str, Any]:
        return {"rate_wps": rate, "reached_wps": rate, "trials": 3,
                "replicated": 1 if censored else 3, "p50_s": p50, "p99_s": p50,
                "p50_censored": censored, "p99_censored": censored}

    document = {"summary": {"load": [step(0, 1.08, False), step(50, 9.9, True)],
                            "pairs": [{"from_region": "us-west-2", "to_region": "eu-west-1"}]},
                "trials": [], "load": [], "table": "global-serverless", "target": "local",
                "emulator": {"capacity": {"wcu": {"eu-west-1": 20.0}, "backlog_s": {}}}}
    figure = load_figure(document)
    arrows = [line for line in figure.axes[0].get_lines() if line.get_marker() == "^"]
    assert [list(line.get_xdata()) for line in arrows] == [[50], [50]]  # p50 and p99
    assert all("above this" in str(line.get_label()) for line in arrows)
    # The reading replica's capacity is marked where the lag starts to climb.
    for axis in figure.axes[:2]:
        (marked,) = [line for line in axis.get_lines()
                     if "capacity" in str(line.get_label())]
        assert list(marked.get_xdata()) == [20.0, 20.0]
        assert str(marked.get_label()) == "eu-west-1's capacity: 20 WCU (1 KB writes/s)"


def test_the_race_figure_keeps_trials_not_seen_in_time_in_its_cdf_and_bounds() -> None:
    document = load("race.json")
    for t in document["trials"][:2]:  # two trials that timed out, their lags above 9 s
        t.update(status="timed_out", lag_s=None, lag_low_s=None, lag_high_s=None,
                 censored_at_s=9.0)
    (pair,) = document["summary"]["pairs"]
    pair.update(p99_s=9.0, p99_censored=True)
    fig = figure(document)
    _, cdf, bars = fig.axes[:3]
    seen = sum(1 for t in document["trials"] if t["lag_s"] is not None)
    curve = next(line for line in cdf.get_lines() if line.get_label().endswith("in time"))
    assert curve.get_label() == f"2 of {seen + 2} not seen in time"
    assert max(curve.get_ydata()) == pytest.approx(seen / (seen + 2))  # never reaches 1
    assert any(str(line.get_label()) == "p99 > 9.000 s" for line in cdf.get_lines())
    (arrows,) = [line for line in bars.get_lines() if line.get_marker() == "^"]
    assert list(arrows.get_xdata()) == [1, 2] and list(arrows.get_ydata()) == [9.0, 9.0]
