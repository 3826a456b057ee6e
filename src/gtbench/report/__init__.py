"""Turn result documents (the JSON contract) into terminal output, Markdown and figures.

Rendering works from the document, not the live objects, so a saved result
renders exactly as the live run did (``gtbench report``).
"""

from __future__ import annotations

import json
from typing import Any

from gtbench import registry
from gtbench.errors import GtbenchError
from gtbench.registry import FORMAT_VERSION


def load(path: str) -> dict[str, Any]:
    """A result document from ``path``, or one clear error saying why not."""
    try:
        text = _read_regular_file(path)
    except OSError as exc:
        raise GtbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GtbenchError(f"{path} is not a gtbench result: it is not text") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise GtbenchError(f"{path} is not a gtbench result: it is not JSON") from None
    except RecursionError:  # json's decoder recurses per level of nesting
        raise GtbenchError(f"{path} is not a gtbench result: its JSON is nested deeper "
                           "than any result is") from None
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


# The largest result read: a run of 10,000 trials at 100 reads each is about 300 MB of
# history. Past this, a file is refused rather than read until memory runs out.
MAX_RESULT_BYTES = 512 * 1024 * 1024


def _read_regular_file(path: str) -> str:
    """The text of ``path``, which must be a regular file of at most MAX_RESULT_BYTES (a
    FIFO would block for ever, /dev/zero never ends)."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without a writer
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GtbenchError(f"{path} is not a regular file (a device, a pipe or a "
                               "directory): a result is a file written by --json")
        if info.st_size > MAX_RESULT_BYTES:
            raise GtbenchError(f"{path} is {info.st_size / 2**20:,.0f} MiB; a gtbench result "
                               f"is read up to {MAX_RESULT_BYTES // 2**20} MiB")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_RESULT_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_RESULT_BYTES:  # it grew while being read
        raise GtbenchError(f"{path} is over {MAX_RESULT_BYTES // 2**20} MiB; a gtbench "
                           "result is read up to that size")
    return data.decode()


def terminal_view(document: dict[str, Any]) -> list[Any]:
    """What the live run printed: trial lines or timelines, then the summary."""
    return list(registry.get(document["experiment"]).call("terminal", document))
