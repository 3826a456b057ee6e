"""Turn result documents (the JSON contract) into terminal output, Markdown and figures.

Rendering works from the document, not the live objects, so a saved result
renders exactly as the live run did (``gtbench report``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gtbench import registry
from gtbench.errors import GtbenchError
from gtbench.registry import FORMAT_VERSION


def load(path: str) -> dict[str, Any]:
    """A result document from ``path``, or one clear error saying why not."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GtbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GtbenchError(f"{path} is not a gtbench result: it is not text") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise GtbenchError(f"{path} is not a gtbench result: it is not JSON") from None
    if not isinstance(document, dict) or "experiment" not in document:
        raise GtbenchError(f"{path} is not a gtbench result: it has no experiment, format "
                           "and trials", hint="write one with `gtbench race --json PATH`")
    try:
        experiment = registry.get(document["experiment"])
    except GtbenchError as exc:
        raise GtbenchError(f"{path}: {exc}") from None
    if (not isinstance(document.get("format"), int)
            or not isinstance(document.get(experiment.holds), list | dict)):
        raise GtbenchError(f"{path} is not a gtbench result: it has no experiment, format "
                           f"and {experiment.holds}",
                           hint="write one with `gtbench race --json PATH`")
    if document["format"] > FORMAT_VERSION:
        raise GtbenchError(
            f"{path} is result format {document['format']}, newer than this gtbench reads "
            f"({FORMAT_VERSION})", hint="upgrade gtbench: pip install -U gtbench")
    return document


def terminal_view(document: dict[str, Any]) -> list[Any]:
    """What the live run printed: trial lines or timelines, then the summary."""
    return list(registry.get(document["experiment"]).call("terminal", document))
