"""The compare document, side by side: what each kind of global table costs and loses."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from gtbench.awsrules import EVENTUAL, STRONG
from gtbench.report.common import Column, FitTable, lag_figure, run_note

LABELS = {EVENTUAL: "MREC (eventual)", STRONG: "MRSC (strong)"}
SHORT = {EVENTUAL: "MREC", STRONG: "MRSC"}


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _latency(mode: dict[str, Any], operation: str, region: str) -> str:
    row = next((x for x in mode["latency"]
                if x["operation"] == operation and x["region"] == region), None)
    if row is None:
        return "-"
    return f"{ms(row['p50_s'])} / {ms(row['p99_s'])}"


def latencies(mode: dict[str, Any], operation: str, region: str | None = None
              ) -> list[float]:
    """Every answered request of one operation in a mode's race (in ``region``, or all),
    in seconds, from the stored history (the figure draws what the summary counts)."""
    out = []
    for run in [mode["race"]] if mode.get("race") else []:
        for trial in run["trials"]:
            for op in trial["history"]:
                kind = ("write" if op["kind"] == "write" else
                        "strong read" if op.get("consistent", True) else "eventual read")
                if kind == operation and op["result"] == "ok" and region in (None,
                                                                             op["region"]):
                    out.append((op["received_ns"] - op["sent_ns"]) / 1e9)
    return sorted(out)


def rows(document: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, one cell per mode): the same rows serve the terminal and Markdown."""
    modes = document["summary"]["modes"]
    regions = document["settings"]["regions"]
    out: list[tuple[str, list[str]]] = []
    for operation in ("write", "strong read", "eventual read"):
        for region in regions:
            out.append((f"{operation} in {region}",
                        [_latency(m, operation, region) for m in modes]))
    out += [
        ("stale strong reads after ack",
         [f"{m['stale_strong_reads']} of {m['strong_reads_after_ack']}" for m in modes]),
        ("stale eventual reads after ack",
         [str(m["stale_eventual_reads"]) for m in modes]),
        # On MRSC a strong read after the acknowledgement sees the write at once: its
        # "lag" would only be the width of the measurement, so none is claimed.
        ("lag to strong reads",
         ["none (at once)" if m["consistency"] == STRONG and not m["stale_strong_reads"]
          else f"{lag_figure(m, 'lag_p50', 1000, 1, ' ms')} / "
               f"{lag_figure(m, 'lag_p99', 1000, 1, ' ms')}" for m in modes]),
        ("lag to eventual reads",
         [f"{ms(m['eventual_lag_p50_s'])} / {ms(m['eventual_lag_p99_s'])}" for m in modes]),
        # One unit per row, named in each cell: trials, writes, updates.
        ("conflict trials: a write lost unseen",
         [f"{m['lost_unseen']} of {m['conflicts']} trials" for m in modes]),
        ("writes refused as conflicts",
         [f"{m['refused_writes']} writes" for m in modes]),
        ("updates lost (increments)",
         ["-" if m["lost_updates"] is None else f"{m['lost_updates']} of {m['updates']} "
          "updates" for m in modes]),
        ("writes sent (refused)",
         [f"{m['requests_by_operation'].get('write', 0)} ({m['refused_requests']})"
          for m in modes]),
        ("reads sent: strong + eventual",
         [f"{m['requests_by_operation'].get('strong read', 0)} + "
          f"{m['requests_by_operation'].get('eventual read', 0)}" for m in modes]),
    ]
    return out


def compare_tables(document: dict[str, Any]) -> list[Any]:
    modes = document["summary"]["modes"]
    # Latencies and lags are p50 / p99; too narrow a terminal gets a block per row.
    columns = [Column("", justify="left"),
               *(Column(LABELS.get(m["consistency"], m["consistency"])) for m in modes)]
    table_rows: list[list[str | Text]] = [
        [label, *(_style(label, m, cell) for m, cell in zip(modes, cells, strict=True))]
        for label, cells in rows(document)]
    out: list[Any] = [
        FitTable("MREC and MRSC, same regions, same workloads (p50 / p99)", columns,
                 table_rows),
        Text("tables: " + ", ".join(f"{LABELS.get(m['consistency'], m['consistency'])} "
                                    f"{m['table']}" for m in modes), style="dim")]
    for m in modes:
        if m["consistency"] == STRONG and m["stale_strong_reads"]:
            out.append(Text(f"VIOLATION: {m['stale_strong_reads']} strongly consistent reads "
                            "on the MRSC table returned the old value after the write's "
                            "acknowledgement", style="bold red"))
    out += [Text(line, style="bold") for line in answer(document)]
    out.extend(run_note(document))
    return out


def _style(label: str, mode: dict[str, Any], cell: str) -> Text:
    bad = ((label.startswith("stale strong") and mode["stale_strong_reads"]
            and mode["consistency"] == STRONG)
           or (label.startswith("updates lost") and mode["lost_updates"])
           or ("lost unseen" in label and mode["lost_unseen"]))
    return Text(cell, style="red" if bad else "")


def _costs(summary: dict[str, Any], operation: str) -> str:
    # Whole milliseconds, signed; never "-0" for a difference under half a millisecond.
    # A difference whose medians' intervals overlap is noise, and is called that.
    parts = [f"no difference beyond the noise in {c['region']}" if c.get("noise") else
             f"{round(c['extra_s'] * 1000):+d} ms in {c['region']}"
             for c in summary["costs"] if c["operation"] == operation]
    return ", ".join(parts) if parts else "not measured"


def answer(document: dict[str, Any]) -> list[str]:
    """Which mode, and what it costs: the sentences the comparison exists for. Every
    figure in them is measured; only the closing advice is general."""
    s = document["summary"]
    by = {m["consistency"]: m for m in s["modes"]}
    eventual, strong = by.get(EVENTUAL), by.get(STRONG)
    if eventual is None or strong is None:
        return ["only one kind of table was measured: nothing to compare"]
    lines = []
    if eventual["lost_updates"] is not None and strong["lost_updates"] is not None:
        lines.append(
            f"What MREC lost: {eventual['lost_updates']} of {eventual['updates']} updates, and "
            f"a write lost unseen in {eventual['lost_unseen']} of {eventual['conflicts']} "
            f"conflict trials. MRSC lost {strong['lost_updates']} updates and lost a write "
            f"unseen in {strong['lost_unseen']} trials, "
            f"and refused {strong['refused_writes']} conflicting writes: each an error its "
            "writer saw, and retried (increments) or reported.")
    lines.append(
        f"What MRSC cost: writes {_costs(s, 'write')}, strong reads "
        f"{_costs(s, 'strong read')} at the median (a round trip to the nearest other "
        f"region); eventual reads {_costs(s, 'eventual read')}.")
    lines.append(
        f"Strong reads sent after a write's acknowledgement were stale "
        f"{eventual['stale_strong_reads']} of {eventual['strong_reads_after_ack']} times on "
        f"MREC, {strong['stale_strong_reads']} of {strong['strong_reads_after_ack']} on MRSC; "
        f"eventual reads were stale {eventual['stale_eventual_reads']} and "
        f"{strong['stale_eventual_reads']} times: they promise nothing on either.")
    lines.append(
        "Choose MRSC when a lost or stale write costs more than a round trip on every write "
        "and strong read, and refused writes to retry; choose MREC for the fastest local "
        "writes and reads, and design for last-writer-wins: one writer region per item, or "
        "idempotent updates.")
    return lines


def runs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The race and conflict documents inside a compare document, mode by mode."""
    return [m[name] for m in document["modes"] for name in ("race", "conflict", "increment")
            if m.get(name) is not None]
