"""The conflict experiment's terminal rendering, from its result document."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gtbench.report.common import Column, FitTable, run_note, seconds


def _style(t: dict[str, Any], write_id: str | None) -> str:
    if write_id is None or not t["converged"]:
        return ""
    return "green" if write_id == t["final_write"] else (
        "red" if write_id == t["loser_write"] else "dim")


def timeline_table(t: dict[str, Any], writers: list[str]) -> Table:
    """What each region showed over time, side by side, with the writes marked."""
    title = f"trial {t['index'] + 1} · {_requested(t, writers)} · {_actual(t)}"
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


def _requested(t: dict[str, Any], writers: list[str]) -> str:
    offset = t["offset_ms"]
    if offset < 0:
        return f"asked: {writers[0]} {-offset:g} ms after {writers[1]}"
    return f"asked: {writers[1]} {offset:g} ms after {writers[0]}"


def _actual(t: dict[str, Any]) -> str:
    """Which region's first write left first, and by how much: the order that happened."""
    firsts: dict[str, float] = {}
    for w in t["writes"]:
        firsts[w["region"]] = min(firsts.get(w["region"], w["sent"]), w["sent"])
    if len(firsts) < 2:
        return "one region wrote"
    (a, at), (b, bt) = sorted(firsts.items(), key=lambda kv: kv[1])[:2]
    return f"sent: {a} first, {b} {(bt - at) * 1000:.1f} ms later"


def _reads_said(t: dict[str, Any]) -> str:
    """How the reads went: a trial that never agreed may have had reads that failed, or
    that waited seconds for an answer (an endpoint that stalled), not a late replica."""
    reads = [o for o in t.get("history", []) if o["kind"] == "read"]
    said = f"{t['reads']} reads"
    failed = Counter(o.get("error") or "no answer" for o in reads if o["result"] != "ok")
    if failed:
        said += f", {sum(failed.values())} failed: " + ", ".join(
            f"{code} x{n}" for code, n in failed.most_common())
    slowest = max((o["received_ns"] - o["sent_ns"] for o in reads), default=0) / 1e9
    if slowest >= 1.0:
        said += f"; the slowest read waited {slowest:.1f} s for its answer"
    return said


def trial_sentence(t: dict[str, Any]) -> str:
    writes = {w["write_id"]: w for w in t["writes"]}
    status = t.get("status", "converged" if t["converged"] else "timed_out")
    refused = [w for w in t["writes"] if w["result"] == "fail"]
    if status == "incomplete":
        unsent = t.get("unsent") or []
        return (f"incomplete: {len(unsent)} of its writes were never sent (the run stopped "
                "first), so it shows nothing and counts in no verdict.")
    if status == "failed":
        return f"every write was refused ({len(refused)} writes): there was nothing to resolve."
    if status == "indeterminate":
        return (f"indeterminate: reads were failing when the trial ended "
                f"({t.get('failed_reads', 0)} of {t['reads']} reads failed).")
    if not t["converged"] or t["final_write"] not in writes:
        return (f"the regions had not agreed when the trial timed out "
                f"({len(t['writes'])} writes, {_reads_said(t)}).")
    if t.get("contested") is False:
        sides = ", ".join(sorted({w["region"] for w in refused}))
        stands = writes[t["final_write"]]["region"]
        if t.get("refused_writes"):
            took = t.get("refused_after_s")
            after = f", after {took * 1000:.0f} ms" if took is not None else ""
            return (f"no conflict: {sides}'s write was refused (ReplicatedWriteConflictException"
                    f"{after}) while {stands} was writing the item, so {stands}'s write stands "
                    "in both regions: nothing vanished, the refusal said so.")
        return (f"no conflict: every write from {sides} was refused, so {stands}'s write "
                "stands in both regions.")
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


def trial_line(t: dict[str, Any]) -> str:
    """One trial in one short line (most fit 80 columns): who won, how far apart the
    writes were sent, and what became of the other; the full sentence otherwise."""
    winner, loser = _winner_and_loser(t)
    if (not t["converged"] or winner is None or loser is None
            or t.get("contested") is False or t.get("status") in ("failed", "indeterminate")):
        return f"trial {t['index'] + 1}: {trial_sentence(t)}"
    gap = (winner["sent"] - loser["sent"]) * 1000
    when = f"{abs(gap):.{1 if abs(gap) < 10 else 0}f} ms {'later' if gap >= 0 else 'earlier'}"
    if gap < 0 and t["later_write_won"]:
        when += ", applied later"
    visible = t["loser_visible_s"]
    fate = ("the other was seen there too" if t["loser_seen_remotely"]
            else "other lost unseen" + (f" after {visible:.2f} s" if visible is not None
                                        else ""))
    line = f"trial {t['index'] + 1}: {winner['region']} won, sent {when}; {fate}"
    if t["later_write_won"] is False:
        line += "; LWW did not hold"
    if t["increment"] is not None:
        i = t["increment"]
        line += f"; {i['lost_updates']} of {i['updates']} updates lost"
    return line


def trial_view(t: dict[str, Any], writers: list[str]) -> Group:
    return Group(timeline_table(t, writers), Text(trial_sentence(t)), Text(""))


def disagreed_within(o: dict[str, Any], *, in_ms: bool = False) -> str:
    """Surely to possibly disagreeing (absent from documents older than the bound)."""
    low, high = o.get("median_disagreed_low_s"), o.get("median_disagreed_high_s")
    if low is None or high is None:
        return "-"
    return f"{low * 1000:.0f} to {high * 1000:.0f} ms" if in_ms else \
        f"{low:.3f} to {high:.3f} s"


def conflict_tables(document: dict[str, Any]) -> list[Any]:
    """The summary per offset, increments if any, and a closing sentence."""
    s = document["summary"]
    out: list[Any] = []
    if document["mode"] != "increment":  # last-writer-wins per write: not for increments
        # Trials that did not end in agreement get columns only when there are some.
        unsettled = [(k, label) for k, label in (("timed_out", "timed out"),
                                                  ("indeterminate", "unknown"),
                                                  ("failed", "failed"),
                                                  ("incomplete", "incomplete"),
                                                  ("refused_writes", "refused"))
                     if any(o.get(k) for o in s["offsets"])]
        # The disagreement's bound, unless the document predates it.
        bounded = any(o.get("median_disagreed_low_s") is not None for o in s["offsets"])
        columns = [Column("offset ms"), Column("trials"), Column("agreed", False, rank=3),
                   *(Column(label, False, rank=2) for _, label in unsettled),
                   Column("later applied won", False, rank=4),
               Column("earlier applied won", False, rank=4),
                   Column("too close", False, rank=5), Column("lost unseen"),
                   *([Column("95%", False, rank=2)] if any(
                       o.get("lost_unseen_low") is not None for o in s["offsets"]) else []),
                   Column("disagreed"),
                   *([Column("within", False, rank=2)] if bounded else []),
                   Column("earlier's lag", False, rank=1)]
        rows = [[f"{o['offset_ms']:g}", str(o["trials"]), str(o["converged"]),
                 *(str(o[k]) for k, _ in unsettled),
                 str(o["lww_held"]), str(o["lww_violated"]), str(o["too_close"]),
                 f"{o['earlier_discarded_unseen']}/{o['trials'] - o.get('incomplete', 0)}",
                 *([_share(o)] if any(o.get("lost_unseen_low") is not None
                                      for o in s["offsets"]) else []),
                 seconds(o["median_disagreed_s"]), *([disagreed_within(o)] if bounded else []),
                 seconds(o.get("median_earlier_lag_s"))]
                for o in s["offsets"]]
        out.append(FitTable("last-writer-wins per offset", columns, rows))
        source = ("the emulator's ground truth" if document["ground_truth"]
                  else "non-overlapping send-to-acknowledge windows")
        out.append(Text(
            f"agreed: converged · later/earlier applied won: the survivor in applying "
            f"order ({source}) · lost unseen: the earlier write never left its region · "
            "disagreed: in all" + (", within: surely to possibly" if bounded else "")
            + " (past the lag: each write's own replication) · earlier's lag: medians "
            f"({_lag_source(document)})",
            style="dim"))
    if document["settings"].get("align") == "arrival":
        trips = ", ".join(f"{r} {v * 1000:.1f} ms" for r, v in
                          (document.get("round_trips_s") or {}).items())
        out.append(Text(f"offsets are between the writes' arrivals: each writer left half its "
                        f"measured round trip early ({trips})", style="dim"))
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
    out.extend(run_note(document))
    return out


def _share(o: dict[str, Any]) -> str:
    """The lost-unseen share's 95% interval, in whole percent."""
    if o.get("lost_unseen_low") is None:
        return "-"
    return f"{o['lost_unseen_low'] * 100:.0f} to {o['lost_unseen_high'] * 100:.0f}%"


def _lag_source(document: dict[str, Any]) -> str:
    if document["ground_truth"]:
        return "from the emulator's log"
    return "measured only where the earlier write was seen in the other region"


def summary_sentence(document: dict[str, Any]) -> str:
    s = document["summary"]
    if document["mode"] == "increment":
        if not s.get("updates"):
            return "no update converged: nothing to count."
        counted = [t for t in document["trials"] if t["increment"] is not None]
        where = ("the regions agree on" if len(counted) == 1 else
                 f"summed over the {len(counted)} trials' separate items, the regions agree "
                 "on")
        if s.get("refused_writes") or (not s["lost_updates"] and not s["contested"]):
            return (f"{s['lost_updates']} of {s['updates']} updates were lost: {where} "
                    f"{s['final']} where {s['expected']} was expected. "
                    f"{s.get('refused_writes', 0)} attempts were refused with "
                    "ReplicatedWriteConflictException and sent again: strong consistency "
                    "costs retries, not updates.")
        return (f"{s['lost_updates']} of {s['updates']} updates were lost: {where} "
                f"{s['final']} where {s['expected']} was expected. A single-region "
                "table would have lost none. Replicas exchange whole items, so ADD loses "
                "them too: send an item's writes to one region, or keep one item per region "
                "and sum them when reading.")
    refused = ""
    if s.get("refused_writes"):
        refused = (f"{s['refused_writes']} writes were refused with "
                   f"ReplicatedWriteConflictException in {s['trials']} trials: on a strongly "
                   "consistent table concurrent writes are refused, not silently lost.")
        if not s["contested"]:
            return refused
        # Some trials' writes did not overlap (a loaded client sent one a trip late):
        # both were applied there, and the order they were applied in says the rest.
        refused += " Where both were applied, "
    # "Later" is in applying order, which last-writer-wins makes the winner by
    # definition: the figure that informs is how often that was also the later send.
    sent_last = sum(1 for t in document["trials"] if t.get("later_write_won")
                    and _winner_sent_last(t))
    parts = [f"in {s['lww_held']} of {s['trials']} trials the write applied last won "
             f"everywhere (in {sent_last} also sent last)"]
    if s["lww_violated"]:
        parts.append(f"in {s['lww_violated']} the earlier one did")
    if s["too_close"]:
        parts.append(f"{s['too_close']} were too close to call")
    sentence = refused + "; ".join(parts) + "."
    lag = s.get("median_earlier_lag_s")
    if len(s["offsets"]) > 1 and lag is not None:
        sentence += (f" The conflict window is the earlier write's replication lag "
                     f"(median {lag:.2f} s): an earlier write vanished unseen when its "
                     "rival was sent before it arrived.")
    elif s["earlier_discarded_unseen"]:
        sentence += (f" The earlier write vanished unseen outside its own region in "
                     f"{s['earlier_discarded_unseen']} of {s['trials']}, as if it never "
                     "happened.")
    return sentence


def _winner_and_loser(t: dict[str, Any]) -> tuple[dict[str, Any] | None,
                                                   dict[str, Any] | None]:
    """The trial's surviving write and the one it replaced, as its ``writes`` list them."""
    writes = {w["write_id"]: w for w in t["writes"]}
    return writes.get(t.get("final_write") or ""), writes.get(t.get("loser_write") or "")


def _winner_sent_last(t: dict[str, Any]) -> bool:
    winner, loser = _winner_and_loser(t)
    return winner is not None and loser is not None and winner["sent"] >= loser["sent"]


def terminal_view(document: dict[str, Any]) -> list[Any]:
    """What the live run printed by default: the first trial's timeline as an example,
    a line for each other trial, then the summary."""
    writers = document["writers"]
    return ([trial_view(t, writers) if t["index"] == 0 else trial_line(t)
             for t in document["trials"]] + conflict_tables(document))
