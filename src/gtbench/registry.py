"""Every experiment as one record: what its document holds, how it is read, rebuilt and
checked, and how it is shown in the terminal, in Markdown and as a figure.

``report``, ``report --check``, Markdown and figures dispatch through here, never on
an experiment's name. A record names its parts as ``"module:function"`` so that this
module imports nothing heavy (``gtbench --help`` and ``report`` stay fast, and
rendering never needs boto3); a test may also hand it the functions themselves.

To add an experiment: write its plan and run, its checker in ``analysis``, its
document writer and reader, its renderers, and ``register`` one record (see
``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gtbench.errors import GtbenchError

FORMAT_VERSION = 2  # the result documents' format; document.py writes it
Document = dict[str, Any]
Part = str | Callable[..., Any]  # "module:function", or the function itself


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
    runs: Part = "gtbench.registry:itself"
    holding: Part = "gtbench.registry:trials_held"

    def call(self, part: str, *args: Any) -> Any:
        target = getattr(self, part)
        if isinstance(target, str):
            module, _, function = target.partition(":")
            target = getattr(importlib.import_module(module), function)
        return target(*args)


def itself(document: Document) -> list[Document]:
    return [document]


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


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: object) -> Experiment:
    """The record of ``name``; one clear error for an experiment gtbench does not know."""
    experiment = _REGISTRY.get(str(name)) if isinstance(name, str) else None
    if experiment is None:
        raise GtbenchError(f"unknown experiment {name!r} (this gtbench knows "
                           f"{', '.join(_REGISTRY)})", hint="upgrade gtbench, or check the "
                                                            "file's \"experiment\" field")
    return experiment


_DOC = "gtbench.document"
_CHECK = "gtbench.report.checking"
register(Experiment(
    "race", holds="trials", rebuild=f"{_DOC}:rebuild_race", check=f"{_CHECK}:check_trials",
    terminal="gtbench.report.race:terminal_view",
    markdown="gtbench.report.markdown:race_markdown",
    figure="gtbench.report.plot:race_figure"))
register(Experiment(
    "matrix", holds="trials", rebuild=f"{_DOC}:rebuild_matrix",
    check=f"{_CHECK}:check_trials", terminal="gtbench.report.matrix:matrix_tables",
    markdown="gtbench.report.matrix:matrix_markdown",
    figure="gtbench.report.matrix:matrix_figure"))
register(Experiment(
    "conflict", holds="trials", rebuild=f"{_DOC}:rebuild_conflict",
    check=f"{_CHECK}:check_trials", terminal="gtbench.report.conflict:terminal_view",
    markdown="gtbench.report.markdown:conflict_markdown",
    figure="gtbench.report.plot:conflict_figure"))
register(Experiment(
    "compare", holds="modes", rebuild=f"{_DOC}:rebuild_compare",
    check=f"{_CHECK}:check_compare", terminal="gtbench.report.compare:compare_tables",
    markdown="gtbench.report.markdown:compare_markdown",
    figure="gtbench.report.plot:compare_figure", runs="gtbench.report.compare:runs"))
register(Experiment(
    "outage", holds="history", rebuild=f"{_DOC}:rebuild_outage",
    check=f"{_CHECK}:check_summary", terminal="gtbench.report.outage:outage_tables",
    markdown="gtbench.report.outage:outage_markdown",
    figure="gtbench.report.outage:outage_figure", runs="gtbench.registry:nothing",
    holding="gtbench.report.outage:holding"))
