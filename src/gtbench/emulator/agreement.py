"""What the ground truth says about a table's replicas: where they differ now, and which
writes last-writer-wins threw away.

``differences`` reads every replica under its region lock; ``lost_writes`` is a pure
function of the replication log (with images), so a stored log can be judged again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gtbench.emulator import store

if TYPE_CHECKING:
    from gtbench.emulator.backend import Backend


def _key_text(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def differences(backend: Backend, account: str, table: str) -> list[dict[str, Any]]:
    """The items on which ``table``'s replicas differ now, each as ``{"key", "regions":
    {region: image or None}}``; [] when they agree (or the table is not replicated)."""
    regions = backend.replicas.members(account, table)
    images: dict[str, dict[str, dict[str, Any]]] = {}
    keys: dict[str, dict[str, Any]] = {}
    for region in regions:
        with backend.locks.hold(account, region):
            found = store.find_table(account, region, table)
            rows = store.all_images(found) if found is not None else []
            names = store.key_names(found) if found is not None else []
        images[region] = {}
        for row in rows:
            key = {n: row[n] for n in names}
            images[region][_key_text(key)] = row
            keys[_key_text(key)] = key
    out = []
    for text, key in sorted(keys.items()):
        seen = {r: images[r].get(text) for r in regions}
        if len({json.dumps(v, sort_keys=True) for v in seen.values()}) > 1:
            out.append({"key": key, "regions": seen})
    return out


def lost_writes(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The writes no replica will ever show, from the replication log (``images=1``).

    Each item ends as its last write (the highest stamp, which every replica takes).
    That write descends from the versions it replaced (``parent_stamp_ns``, in its own
    region); a write outside that line was overwritten by one that never saw it: lost,
    as if it never happened. Each comes with the write that won."""
    writes: dict[int, Mapping[str, Any]] = {}
    for row in records:  # one row per target: one write per stamp
        writes.setdefault(int(row["stamp_ns"]), row)
    by_item: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in writes.values():
        by_item.setdefault((str(row["table"]), _key_text(row["key"])), []).append(row)
    out = []
    for rows in by_item.values():
        final = max(rows, key=lambda r: int(r["stamp_ns"]))
        line = _lineage(int(final["stamp_ns"]), writes)
        out += [_lost(row, final) for row in rows if int(row["stamp_ns"]) not in line]
    return sorted(out, key=lambda w: w["stamp_ns"])


def _lineage(stamp: int | None, writes: Mapping[int, Mapping[str, Any]]) -> set[int]:
    line: set[int] = set()
    while stamp is not None and stamp not in line:
        line.add(stamp)
        parent = writes.get(stamp, {}).get("parent_stamp_ns")
        stamp = int(parent) if parent is not None else None
    return line


def _lost(row: Mapping[str, Any], final: Mapping[str, Any]) -> dict[str, Any]:
    return {"table": row["table"], "key": row["key"], "region": row["source_region"],
            "kind": row["kind"], "image": row.get("image"), "written_at": row["written_at"],
            "stamp_ns": int(row["stamp_ns"]),
            "lost_to": {"region": final["source_region"], "image": final.get("image"),
                        "written_at": final["written_at"]}}


def summary(backend: Backend, account: str, tables: Sequence[str] | None = None
            ) -> dict[str, list[dict[str, Any]]]:
    """``differences`` for each named table, or for every replicated table of ``account``."""
    names = tables if tables is not None else sorted(
        {g["table"] for g in backend.replicas.snapshot() if g["account"] == account})
    return {name: differences(backend, account, name) for name in names}
