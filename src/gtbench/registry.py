"""Every experiment as one record: what its document holds, how it is read, rebuilt and
checked, and how it is shown in the terminal, in Markdown and as a figure.

``report``, ``report --check``, Markdown and figures dispatch through here, never on
an experiment's name. The records hold the functions themselves, and live in
``gtbench.report.records``, loaded at the first lookup: this module imports nothing,
so ``gtbench --help`` stays fast, and only a command that reads a result pays for
its renderers.

To add an experiment: write its plan and run, its checker in ``analysis``, its
document writer and reader, its renderers, and ``register`` one record in
``report/records.py`` (see ``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gtbench.errors import GtbenchError

FORMAT_VERSION = 2  # the result documents' format; document.py writes it
Document = dict[str, Any]
Part = Callable[..., Any]
RECORDS = "gtbench.report.records"  # the module that registers every experiment


@dataclass(frozen=True)
class Experiment:
    """One experiment's parts. Each ``Part`` takes the document (``rebuild`` also the
    run's context) unless said otherwise.

    - ``holds``: the document key with its operations (what makes a file a result).
    - ``rebuild``: (document, context) -> the document again, every verdict and summary
      recomputed from its histories with the code a live run uses.
    - ``check``: document -> the stated figures that differ from the rebuilt ones.
    - ``terminal``: document -> rich renderables, as the live run printed them.
    - ``markdown``: document -> a Markdown summary. ``figure``: document -> a figure.
    - ``runs``: document -> the race and conflict documents inside it.
    - ``holding``: document -> what its history holds, in words ("10 trials, 2018
      operations"), for ``report --check``.
    """

    name: str
    holds: str
    rebuild: Part
    check: Part
    terminal: Part
    markdown: Part
    figure: Part
    runs: Part = field(default=lambda document: [document])
    holding: Part = field(default=lambda document: trials_held(document))

    def call(self, part: str, *args: Any) -> Any:
        target: Part = getattr(self, part)
        return target(*args)


def nothing(document: Document) -> list[Document]:
    return []


def trials_held(document: Document) -> str:
    """Trials and their operations, over every run the document holds."""
    trials = [t for run in get(document["experiment"]).call("runs", document)
              for t in run["trials"]]
    return f"{len(trials)} trials, {sum(len(t.get('history', [])) for t in trials)} operations"


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    _REGISTRY[experiment.name] = experiment
    return experiment


def _load() -> None:
    importlib.import_module(RECORDS)  # registers every experiment, once


def names() -> tuple[str, ...]:
    _load()
    return tuple(_REGISTRY)


def get(name: object) -> Experiment:
    """The record of ``name``; one clear error for an experiment gtbench does not know."""
    _load()
    experiment = _REGISTRY.get(str(name)) if isinstance(name, str) else None
    if experiment is None:
        raise GtbenchError(f"unknown experiment {name!r} (this gtbench knows "
                           f"{', '.join(_REGISTRY)})", hint="upgrade gtbench, or check the "
                                                            "file's \"experiment\" field")
    return experiment
