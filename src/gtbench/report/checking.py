"""``report --check``: a stored run's verdicts and summaries recomputed from its
histories with the code a live run uses, and every difference named by its path.
Each experiment's record in ``registry`` names which of these checks it takes."""

from __future__ import annotations

import math
from typing import Any

from gtbench.document import RUNS, Document, check, compare_summary, read_compare, rebuild, record
from gtbench.errors import GtbenchError


def _rebuilt(document: Document) -> Document:
    try:
        return rebuild(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise GtbenchError(f"the history cannot be read: {exc}") from None


def check_summary(document: Document) -> list[str]:
    """A document whose summary alone follows from its history (outage)."""
    found: list[str] = []
    _diff(document.get("summary"), _rebuilt(document).get("summary"), "summary", found)
    return found


def check_trials(document: Document) -> list[str]:
    """A document of trials (race, conflict): each trial's verdict, the summary, and the
    ground truth."""
    if document.get("format", 1) < 2 or any("history" not in t for t in document["trials"]):
        raise GtbenchError("this result has no history to check (it was saved by gtbench "
                           "0.1 in format 1); it still renders without --check")
    again = _rebuilt(document)
    differences: list[str] = []
    for key in ("trials", "summary", "ground_truth"):
        if key in document or key in again:
            _diff(document.get(key), again.get(key), key, differences)
    return differences


def check_compare(document: Document) -> list[str]:
    """Each mode's runs checked as the documents they are, then the summary over both."""
    differences: list[str] = []
    for i, mode in enumerate(document.get("modes") or []):
        for name in RUNS:
            if mode.get(name) is not None:
                differences += [f"modes[{i}].{name}.{line}" for line in check(mode[name])]
    try:
        again = compare_summary(read_compare(document))
    except (KeyError, TypeError, ValueError) as exc:
        raise GtbenchError(f"the history cannot be read: {exc}") from None
    _diff(document.get("summary"), record(again), "summary", differences)
    return differences


def _diff(stated: Any, computed: Any, path: str, out: list[str]) -> None:
    if isinstance(stated, dict) and isinstance(computed, dict):
        # Only what the document states: a figure added after it was written is absent
        # from it, and states nothing false, so older documents still check clean.
        for key in sorted(stated):
            if key not in computed:
                out.append(f"{path}.{key}: stated but not computed")
            else:
                _diff(stated[key], computed[key], f"{path}.{key}", out)
    elif isinstance(stated, list) and isinstance(computed, list):
        if len(stated) != len(computed):
            out.append(f"{path}: {len(stated)} entries stated, {len(computed)} computed")
        for i, (a, b) in enumerate(zip(stated, computed, strict=False)):
            _diff(a, b, f"{path}[{i}]", out)
    elif not _same(stated, computed):
        out.append(f"{path}: stated {stated!r}, computed {computed!r}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)
