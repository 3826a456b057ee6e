"""Turn result documents (the JSON contract) into terminal output, Markdown and figures.

Rendering works from the document, not the live objects, so a saved result
renders exactly as the live run did (``gtbench report``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gtbench.errors import GtbenchError

# The document module owns the format; rendering must not need boto3, so the numbers
# are repeated here and a test keeps them equal.
FORMAT_VERSION = 2
EXPERIMENTS = ("race", "conflict", "compare", "outage")
# Where each experiment keeps its operations: what makes a file a result.
HOLDS = {"compare": "modes", "outage": "history"}


def load(path: str) -> dict[str, Any]:
    """A result document from ``path``, or one clear error saying why not."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GtbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise GtbenchError(f"{path} is not a gtbench result: it is not JSON") from None
    if (not isinstance(document, dict) or document.get("experiment") not in EXPERIMENTS
            or not isinstance(document.get("format"), int)
            or not isinstance(document.get(HOLDS.get(str(document.get("experiment")), "trials")),
                              list | dict)):
        raise GtbenchError(f"{path} is not a gtbench result: it has no experiment, format "
                           "and trials", hint="write one with `gtbench race --json PATH`")
    if document["format"] > FORMAT_VERSION:
        raise GtbenchError(
            f"{path} is result format {document['format']}, newer than this gtbench reads "
            f"({FORMAT_VERSION})", hint="upgrade gtbench: pip install -U gtbench")
    return document


def runs(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The race and conflict documents in a result: itself, or a compare's per mode."""
    if document["experiment"] == "outage":
        return []
    if document["experiment"] != "compare":
        return [document]
    return [m[name] for m in document["modes"] for name in ("race", "conflict", "increment")
            if m.get(name) is not None]


def terminal_view(document: dict[str, Any]) -> list[Any]:
    """What the live run printed: trial lines or timelines, then the summary."""
    if document["experiment"] == "race":
        from gtbench.report import race

        return [race.trial_line(t) for t in document["trials"]] + race.race_tables(document)
    if document["experiment"] == "compare":
        from gtbench.report import compare

        return compare.compare_tables(document)
    if document["experiment"] == "outage":
        from gtbench.report import outage

        return outage.outage_tables(document)
    from gtbench.report import conflict

    writers = document["writers"]
    return ([conflict.trial_view(t, writers) for t in document["trials"]]
            + conflict.conflict_tables(document))
