"""The matrix: source by destination, in the terminal, in Markdown and as a heatmap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from gtbench import analysis
from gtbench.awsrules import STRONG
from gtbench.report.common import Column, FitTable, lag_figure, plural, run_note
from gtbench.terminal import Terminal

Pair = tuple[str, str]


def regions_of(document: dict[str, Any]) -> list[str]:
    return list(document["regions"])


def cells(document: dict[str, Any]) -> dict[Pair, dict[str, Any]]:
    return {(p["from_region"], p["to_region"]): p for p in document["summary"]["pairs"]}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _cell(p: dict[str, Any] | None) -> str:
    """p50 (p99) in ms: the cell a reader compares across the matrix."""
    if p is None or p["p50_s"] is None:
        return "-"
    return f"{lag_figure(p, 'p50', 1000, 0)} ({lag_figure(p, 'p99', 1000, 0)})"


def matrix_tables(document: dict[str, Any]) -> list[Any]:
    """Lag by source (rows) and destination (columns), then each pair in a line."""
    regions = regions_of(document)
    by_pair = cells(document)
    columns = [Column("from \\ to", justify="left"), *(Column(r) for r in regions)]
    rows = [[source, *("·" if source == target else _cell(by_pair.get((source, target)))
                       for target in regions)] for source in regions]
    out: list[Any] = [FitTable("replication lag in ms: p50 (p99), each row writes, each "
                               "column reads", columns, rows)]
    widths = [[source, *("·" if source == target else
                         _ms((by_pair.get((source, target)) or {}).get("median_bound_width_s"))
                         for target in regions)] for source in regions]
    out.append(FitTable("median bound width in ms: how sharp each cell is", columns, widths))
    strong = document.get("consistency") == STRONG
    for (source, target), p in by_pair.items():
        line = (f"{source} → {target}: {p['replicated']}/{p['trials']} replicated, "
                f"p50 {lag_figure(p, 'p50', 1000, 0)} ms, p99 {lag_figure(p, 'p99', 1000, 0)}"
                f" ms, max {lag_figure(p, 'max', 1000, 0)} ms")
        if p.get("round_trip_p50_s") is not None:
            line += f", round trip {_ms(p['round_trip_p50_s'])} ms"
        if strong:
            line += (f", writes {_ms(p.get('write_p50_s'))} ms at p50, "
                     f"{plural(p['stale_after_ack'], 'stale strong read')}")
        if p.get("with_truth"):
            line += f", truth in bound {p['true_in_bound']}/{p['with_truth']}"
        out.append(Text(line))
    out.extend(Text(line, style="bold") for line in ranking(list(by_pair.values())))
    out.extend(run_note(document))
    return out


def _name(p: dict[str, Any]) -> str:
    return f"{p['from_region']} → {p['to_region']}"


def _within(p: dict[str, Any]) -> str:
    high = "more" if p["p50_high_s"] is None else f"{_ms(p['p50_high_s'])} ms"
    return f"{_ms(p['p50_low_s'])} to {high}"


def ranking(pairs: list[dict[str, Any]]) -> list[str]:
    """The soonest and latest pair, each named only when its median's interval clears
    every other pair's: a difference inside the noise is said to be noise, with about
    how many trials would tell it apart."""
    measured = sorted((p for p in pairs if p["p50_s"] is not None), key=lambda p: p["p50_s"])
    if len(measured) < 2:
        return []
    if any(p.get("p50_low_s") is None for p in measured):  # saved before intervals
        return [f"Soonest: {_name(measured[0])} ({_ms(measured[0]['p50_s'])} ms at the "
                f"median); latest: {_name(measured[-1])} ({_ms(measured[-1]['p50_s'])} ms)"
                " (medians only: this document has no intervals to say if that is noise)."]
    confidence = min(p["p50_confidence"] for p in measured)
    lines = []
    for word, best, rest in (("soonest", measured[0], measured[1:]),
                             ("latest", measured[-1], measured[:-1])):
        if word == "soonest":
            clear = best["p50_high_s"] is not None and all(
                best["p50_high_s"] < p["p50_low_s"] for p in rest)
            rival = rest[0]
        else:
            clear = all(p["p50_high_s"] is not None and p["p50_high_s"] < best["p50_low_s"]
                        for p in rest)
            rival = rest[-1]
        if clear:
            lines.append(f"{word.capitalize()}: {_name(best)}, {_ms(best['p50_s'])} ms at "
                         f"the median (within {_within(best)} at {confidence:.0%} "
                         "confidence, clear of every other pair).")
            continue
        line = (f"No pair is surely {word} with {rival['trials']} trials each: "
                f"{_name(best)} ({_ms(best['p50_s'])} ms, within {_within(best)}) and "
                f"{_name(rival)} ({_ms(rival['p50_s'])} ms, within {_within(rival)}) "
                f"overlap at {confidence:.0%} confidence")
        widths = [p["p50_high_s"] - p["p50_low_s"] for p in (best, rival)
                  if p["p50_high_s"] is not None]
        difference = abs(best["p50_s"] - rival["p50_s"])
        needed = (analysis.trials_to_tell_apart(rival["trials"], max(widths), difference)
                  if widths else None)
        if needed is not None:
            line += (f"; about {needed} trials would tell apart a difference of "
                     f"{difference * 1000:.0f} ms")
        lines.append(line + ".")
    return lines


def matrix_markdown(document: dict[str, Any]) -> str:
    regions = regions_of(document)
    by_pair = cells(document)
    lines = [f"# Replication lag matrix: {document['table']}", "",
             "p50 (p99) in ms; each row writes, each column reads.", "",
             "| from \\ to | " + " | ".join(regions) + " |",
             "| --- |" + " --- |" * len(regions)]
    for source in regions:
        lines.append(f"| {source} | " + " | ".join(
            "·" if source == target else _cell(by_pair.get((source, target)))
            for target in regions) + " |")
    return "\n".join(lines)


def matrix_figure(document: dict[str, Any]) -> Any:
    """Two heatmaps: p50 lag with p99 written in each cell, and the bounds' widths."""
    import numpy as np

    from gtbench.report.plot import _pyplot

    plt = _pyplot()
    regions = regions_of(document)
    by_pair = cells(document)
    n = len(regions)

    def grid(value: Callable[[dict[str, Any]], float | None]) -> Any:
        out = np.full((n, n), np.nan)
        for i, source in enumerate(regions):
            for j, target in enumerate(regions):
                p = by_pair.get((source, target))
                v = value(p) if p else None
                if v is not None:
                    out[i, j] = v * 1000
        return out

    figure, axes = plt.subplots(1, 2, figsize=(5 + 2.2 * n, 1.5 + 0.9 * n))
    Panel = tuple[str, Any, Callable[[dict[str, Any]], str]]
    panels: tuple[Panel, ...] = (
        ("p50 lag (p99 in brackets), ms", grid(lambda p: p["p50_s"]), _cell),
        ("median bound width, ms", grid(lambda p: p["median_bound_width_s"]),
         lambda p: _ms(p["median_bound_width_s"])))
    for axis, (title, values, label) in zip(axes, panels, strict=True):
        # From zero: on a scale from the least cell to the greatest, 2 ms apart would
        # colour as far apart as 200 (noise drawn as signal).
        top = float(np.nanmax(values)) if not np.all(np.isnan(values)) else 1.0
        image = axis.imshow(values, cmap="viridis", vmin=0, vmax=max(top, 1e-9))
        axis.set_title(title)
        axis.set_xticks(range(n), regions, rotation=30, ha="right")
        axis.set_yticks(range(n), regions)
        axis.set_xlabel("reads (destination)")
        axis.set_ylabel("writes (source)")
        for i, source in enumerate(regions):
            for j, target in enumerate(regions):
                p = by_pair.get((source, target))
                if p is not None:
                    light = not np.isnan(values[i, j]) and image.norm(values[i, j]) > 0.6
                    axis.text(j, i, label(p), ha="center", va="center", fontsize=8,
                              color="black" if light else "white")
        figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle(f"{document['table']}: replication lag between every pair "
                    f"({document['settings']['trials']} rounds)")
    figure.tight_layout()
    return figure


def progress_line(terminal: Terminal, total: int) -> Callable[[Any], None]:
    """A line per trial, as race prints them."""
    from gtbench import document
    from gtbench.report.race import trial_line

    def shown(trial: Any) -> None:
        terminal.print(trial_line(document.race_trial(trial)))
    return shown
