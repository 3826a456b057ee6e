"""The conflict experiment's result document and its terminal rendering."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gtbench import __version__, analysis
from gtbench.report import FORMAT_VERSION
from gtbench.report.common import seconds

NS = analysis.NS


def _rel(ns: int, release_ns: int) -> float:
    return (ns - release_ns) / NS


def trial_json(trial: Any) -> dict[str, Any]:
    """One trial as documented in the README (times in seconds after the release)."""
    from gtbench.conflict import CONFLICT_PK, lost_updates

    v = trial.verdict
    release = trial.release_ns
    writes = []
    for w in trial.writes:
        spec = trial.write_spec(w.write_id)
        writes.append({
            "region": w.region, "write_id": w.write_id, "value": w.value,
            "increment": spec.value if trial.mode == "increment" and spec else None,
            "sent": _rel(w.sent_ns, release), "acked": _rel(w.received_ns, release),
            "result": w.result})
    timeline: list[dict[str, Any]] = []
    for region in sorted({r.region for r in trial.reads}):
        previous: object = object()
        for r in (r for r in trial.reads if r.region == region and r.result == "ok"):
            if r.write_id != previous:
                timeline.append({"region": region, "t": _rel(r.received_ns, release),
                                 "value": r.value, "write_id": r.write_id})
                previous = r.write_id
    timeline.sort(key=lambda e: e["t"])
    final_value = next((w["value"] for w in writes if w["write_id"] == v.final_write), None)
    if trial.mode == "increment" and trial.final_image is not None:
        final_value = int(trial.final_image["Bookmark"]["N"])
    loser = next((w for w in trial.writes if w.write_id == v.loser_write), None)
    lag = (None if v.winner_lag_low_s is None or v.winner_lag_high_s is None
           else (v.winner_lag_low_s + v.winner_lag_high_s) / 2)
    return {
        "index": trial.index, "offset_ms": trial.offset_ms,
        "key": {"PK": CONFLICT_PK, "SK": trial.sk},
        "writes": writes, "timeline": timeline, "reads": len(trial.reads),
        "failed_reads": sum(r.result != "ok" for r in trial.reads),
        "converged": v.converged, "final_value": final_value, "final_write": v.final_write,
        "winner_region": v.winner_region, "later_write_won": v.later_write_won,
        "order_from": "ground truth" if trial.stamps else "send-ack windows",
        "converge_s": v.converge_s, "converge_low_s": v.converge_low_s,
        "converge_high_s": v.converge_high_s, "disagreed_s": v.disagreed_s,
        "loser_region": loser.region if loser else None, "loser_write": v.loser_write,
        "loser_seen_remotely": v.loser_seen_remotely,
        "loser_delivered": trial.loser_delivered, "loser_visible_s": v.loser_visible_s,
        "winner_lag_s": lag, "winner_lag_low_s": v.winner_lag_low_s,
        "winner_lag_high_s": v.winner_lag_high_s,
        "winner_true_lag_s": trial.winner_true_lag_s,
        "increment": lost_updates(trial) if trial.mode == "increment" else None,
    }


def _earlier_discarded_unseen(t: dict[str, Any]) -> bool:
    """The earlier write lost and was never seen outside its own region.

    Earlier by the known order (ground truth or windows); by send order where the
    order is too close to call.
    """
    if not t["converged"] or t["loser_seen_remotely"] is not False:
        return False
    if t["later_write_won"] is not None:
        return bool(t["later_write_won"])
    first = min(t["writes"], key=lambda w: w["sent"])
    return bool(first["region"] == t["loser_region"])


def _counts(trials: list[dict[str, Any]]) -> dict[str, Any]:
    lags = [t["winner_lag_s"] for t in trials if t["winner_lag_s"] is not None]
    disagreed = [t["disagreed_s"] for t in trials if t["disagreed_s"] is not None]
    return {
        "trials": len(trials),
        "converged": sum(t["converged"] for t in trials),
        "lww_held": sum(t["later_write_won"] is True for t in trials),
        "lww_violated": sum(t["later_write_won"] is False for t in trials),
        "too_close": sum(t["converged"] and t["later_write_won"] is None for t in trials),
        "earlier_discarded_unseen": sum(_earlier_discarded_unseen(t) for t in trials),
        "loser_seen_remotely": sum(t["loser_seen_remotely"] is True for t in trials),
        "median_disagreed_s": analysis.percentile(disagreed, 50) if disagreed else None,
        "median_winner_lag_s": analysis.percentile(lags, 50) if lags else None,
    }


def conflict_document(result: Any, settings: Any, endpoint_url: str | None) -> dict[str, Any]:
    plan = result.plan
    trials = [trial_json(t) for t in result.trials]
    summary: dict[str, Any] = _counts(trials)
    summary["offsets"] = [{"offset_ms": o, **_counts([t for t in trials if t["offset_ms"] == o])}
                          for o in plan.offsets_ms]
    if plan.mode == "increment":
        increments = [t["increment"] for t in trials if t["increment"] is not None]
        summary.update({
            "updates": sum(i["updates"] for i in increments),
            "expected": sum(i["expected"] for i in increments),
            "final": sum(i["final"] for i in increments),
            "lost_updates": sum(i["lost_updates"] for i in increments)})
    return {
        "experiment": "conflict", "format": FORMAT_VERSION, "gtbench": __version__,
        "mode": plan.mode, "target": settings.target, "endpoint_url": endpoint_url,
        "table": settings.table, "regions": list(settings.regions),
        "writers": list(plan.regions),
        "settings": {"trials": plan.trials, "offsets_ms": list(plan.offsets_ms),
                     "pollers": plan.pollers, "interval_ms": plan.interval_s * 1000,
                     "timeout_s": plan.timeout_s, "increments": plan.increments,
                     "pace_ms": plan.pace_ms, "same_sign": plan.same_sign},
        "started_at": result.started_at, "ended_at": result.ended_at,
        "ground_truth": result.ground_truth,
        "trials": trials, "summary": summary,
    }


# -- rendering ---------------------------------------------------------------------


def _style(t: dict[str, Any], write_id: str | None) -> str:
    if write_id is None or not t["converged"]:
        return ""
    return "green" if write_id == t["final_write"] else (
        "red" if write_id == t["loser_write"] else "dim")


def timeline_table(t: dict[str, Any], writers: list[str]) -> Table:
    """What each region showed over time, side by side, with the writes marked."""
    title = (f"trial {t['index'] + 1} · {writers[1]} sends {t['offset_ms']:g} ms after "
             f"{writers[0]}")
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("t (ms)", justify="right", no_wrap=True)
    for region in writers:
        table.add_column(region, no_wrap=True, min_width=22)
    rows: list[tuple[float, str, Text]] = []
    for w in t["writes"]:
        what = (f"{w['increment']:+d}" if w["increment"] is not None else str(w["value"]))
        text = Text(f"✎ write {what}", style="bold " + _style(t, w["write_id"]))
        if w["result"] == "ok":
            text.append(f" (ack {(w['acked'] - w['sent']) * 1000:.1f} ms)", style="dim")
        else:
            text.append(f" ({w['result']})", style="yellow")
        rows.append((w["sent"], w["region"], text))
    for e in t["timeline"]:
        shown = "absent" if e["value"] is None else str(e["value"])
        rows.append((e["t"], e["region"], Text(f"  {shown}", style=_style(t, e["write_id"]))))
    rows.sort(key=lambda r: r[0])
    for at, region, text in rows:
        cells = [Text("") for _ in writers]
        cells[writers.index(region)] = text
        table.add_row(f"{at * 1000:.1f}", *cells)
    return table


def trial_sentence(t: dict[str, Any]) -> str:
    writes = {w["write_id"]: w for w in t["writes"]}
    if not t["converged"] or t["final_write"] not in writes:
        return (f"the regions had not agreed when the trial timed out "
                f"({len(t['writes'])} writes, {t['reads']} reads).")
    winner = writes[t["final_write"]]
    loser = writes.get(t["loser_write"] or "")
    if loser is None:
        return f"the write in {winner['region']} is the item's final state in both regions."
    gap = (winner["sent"] - loser["sent"]) * 1000
    when = f"{abs(gap):.{1 if abs(gap) < 10 else 0}f} ms {'after' if gap >= 0 else 'before'}"
    what = "last update" if t["increment"] is not None else "write"
    sentence = (f"the {what} in {winner['region']}, sent {when} {loser['region']}'s, won in "
                "both regions")
    if gap < 0 and t["later_write_won"]:
        sentence += " (it was applied later)"
    sentence += "; "
    visible = t["loser_visible_s"]
    shown = f", for {visible:.2f} s" if visible is not None else ""
    if t["loser_seen_remotely"]:
        sentence += (f"{loser['region']}'s {what} was seen in {winner['region']} too, then "
                     f"overwritten everywhere")
    else:
        sentence += f"{loser['region']}'s {what} was visible only in {loser['region']}{shown}"
    if t["later_write_won"] is False:
        sentence += " — yet it was the later write: last-writer-wins did not hold"
    elif t["later_write_won"] is None:
        sentence += " (too close to call which write was later)"
    if t["increment"] is not None:
        i = t["increment"]
        sentence += (f"; expected {i['expected']}, final {i['final']}: "
                     f"{i['lost_updates']} of {i['updates']} updates lost")
    return sentence + "."


def trial_view(t: dict[str, Any], writers: list[str]) -> Group:
    return Group(timeline_table(t, writers), Text(trial_sentence(t)), Text(""))


def conflict_tables(document: dict[str, Any]) -> list[Any]:
    """The summary per offset, increments if any, and a closing sentence."""
    s = document["summary"]
    out: list[Any] = []
    table = Table(title="last-writer-wins per offset", title_justify="left")
    for column in ("offset ms", "trials", "agreed", "later won", "earlier won", "too close",
                   "lost unseen", "disagreed", "lag"):
        table.add_column(column, justify="right", no_wrap=True)
    for o in s["offsets"]:
        table.add_row(f"{o['offset_ms']:g}", str(o["trials"]), str(o["converged"]),
                      str(o["lww_held"]), str(o["lww_violated"]), str(o["too_close"]),
                      f"{o['earlier_discarded_unseen']}/{o['trials']}",
                      seconds(o["median_disagreed_s"]), seconds(o["median_winner_lag_s"]))
    out.append(table)
    source = ("the emulator's ground truth" if document["ground_truth"]
              else "non-overlapping send-to-acknowledge windows")
    out.append(Text(
        f"agreed: the regions converged · later/earlier won: which write survived, ordered "
        f"by {source} · lost unseen: the earlier write was never seen outside its own region "
        "· disagreed, lag: medians of how long the regions differed, and of the winning "
        "write's replication lag", style="dim"))
    if document["mode"] == "increment":
        inc = Table(title="read-modify-write: SET Bookmark = Bookmark + :inc",
                    title_justify="left")
        for column in ("trial", "updates", "expected", "final", "lost", "kept per region"):
            inc.add_column(column, justify="right", no_wrap=True)
        for t in document["trials"]:
            i = t["increment"]
            if i is None:
                inc.add_row(str(t["index"] + 1), "-", "-", "-", "-", "did not converge")
                continue
            kept = ", ".join(f"{r} {n}" for r, n in sorted(i["kept"].items()))
            inc.add_row(str(t["index"] + 1), str(i["updates"]), str(i["expected"]),
                        str(i["final"]), str(i["lost_updates"]), kept)
        out.append(inc)
    out.append(Text(summary_sentence(document), style="bold"))
    return out


def summary_sentence(document: dict[str, Any]) -> str:
    s = document["summary"]
    if document["mode"] == "increment":
        if not s.get("updates"):
            return "no update converged: nothing to count."
        return (f"{s['lost_updates']} of {s['updates']} updates were lost: the regions "
                f"agree on {s['final']} where {s['expected']} was expected. A single-region "
                "table would have lost none. Replicas exchange whole items, so ADD loses "
                "them too: send an item's writes to one region, or keep one item per region "
                "and sum them when reading.")
    parts = [f"in {s['lww_held']} of {s['trials']} trials the later write won in every region"]
    if s["lww_violated"]:
        parts.append(f"in {s['lww_violated']} the earlier one did")
    if s["too_close"]:
        parts.append(f"{s['too_close']} were too close to call")
    sentence = "; ".join(parts) + "."
    lag = s["median_winner_lag_s"]
    if len(s["offsets"]) > 1 and lag is not None:
        sentence += (f" The conflict window tracks the replication lag (median {lag:.2f} s): "
                     "an earlier write vanished unseen whenever its rival was sent less than "
                     "that after it.")
    elif s["earlier_discarded_unseen"]:
        sentence += (f" The earlier write vanished unseen outside its own region in "
                     f"{s['earlier_discarded_unseen']} of {s['trials']}, as if it never "
                     "happened.")
    return sentence
