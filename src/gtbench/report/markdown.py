"""A summary table in Markdown, to paste into a design document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gtbench.report.common import lag_figure, plural
from gtbench.report.conflict import disagreed_within


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _where(document: dict[str, Any]) -> str:
    target = "the local emulator" if document["target"] == "local" else "AWS"
    return f"table `{document['table']}` on {target}, gtbench {document['gtbench']}"


def race_markdown(document: dict[str, Any]) -> str:
    s = document["settings"]
    rows = [[f"{p['from_region']} → {p['to_region']}", str(p["trials"]), str(p["timed_out"]),
             *(lag_figure(p, q, 1000, 0, " ms") for q in ("p50", "p90", "p99", "max")),
             _ms(p["median_bound_width_s"])]
            for p in document["summary"]["pairs"]]
    how = (f"a read every {s['resolution_ms']:g} ms" if s.get("resolution_ms")
           else f"{plural(s['pollers'], 'poller')} every {s['interval_ms']:g} ms")
    return "\n\n".join([
        f"**Replication lag** ({_where(document)}; {how}, strongly consistent reads)",
        _table(["from → to", "trials", "timed out", "p50", "p90", "p99", "max",
                "bound width (median)"], rows),
        "Each lag is bounded by [last stale read sent - write acknowledged, first fresh "
        "read received - write sent] on one monotonic clock; percentiles are nearest-rank."])


def conflict_markdown(document: dict[str, Any]) -> str:
    s = document["summary"]
    rows = [[f"{o['offset_ms']:g} ms", str(o["trials"]), str(o["converged"]),
             str(o["lww_held"]), str(o["lww_violated"]), str(o["too_close"]),
             f"{o['earlier_discarded_unseen']}/{o['trials']}", _ms(o["median_disagreed_s"]),
             disagreed_within(o, in_ms=True), _ms(o.get("median_earlier_lag_s"))]
            for o in s["offsets"]]
    a, b = document["writers"]
    parts = [
        f"**Concurrent writes to one item, {a} and {b}** ({document['mode']} mode; "
        f"{_where(document)})",
        _table(["offset", "trials", "converged", "later write won", "earlier write won",
                "too close", "earlier lost unseen", "disagreed (median)",
                "surely to possibly (medians)", "earlier write's lag (median)"], rows)]
    if document["mode"] == "increment":
        parts.append(
            f"Read-modify-write (`SET Bookmark = Bookmark + :inc`), summed over "
            f"{len(document['trials'])} trials' items: {s['updates']} updates, "
            f"expected {s['expected']}, final {s['final']}, **{s['lost_updates']} lost**.")
    order = ("the emulator's ground truth" if document["ground_truth"]
             else "non-overlapping send-to-acknowledge windows")
    parts.append(f"Which write was later is judged from {order}; an earlier write lost "
                 "unseen was never read outside its own region.")
    return "\n\n".join(parts)


def compare_markdown(document: dict[str, Any]) -> str:
    from gtbench.report.compare import LABELS, answer, rows

    modes = document["summary"]["modes"]
    header = ["", *(f"{LABELS.get(m['consistency'])} `{m['table']}`" for m in modes)]
    target = "the local emulator" if document["target"] == "local" else "AWS"
    return "\n\n".join([
        f"**MREC and MRSC side by side** ({', '.join(document['settings']['regions'])} on "
        f"{target}, gtbench {document['gtbench']})",
        _table(header, [[label, *cells] for label, cells in rows(document)]),
        " ".join(answer(document))])


def markdown(document: dict[str, Any]) -> str:
    from gtbench import registry

    return str(registry.get(document["experiment"]).call("markdown", document))
