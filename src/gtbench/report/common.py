"""Small renderers shared by every experiment's report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text

from gtbench import analysis


def seconds(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def plain(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def histogram_text(values: Sequence[float], title: str, width: int = 40,
                   what: str = "lag") -> Text:
    text = Text(f"{title}: {what} histogram\n")
    bins = analysis.histogram(values)
    top = max((c for _, _, c in bins), default=0)
    for low, high, count in bins:
        bar = "█" * (round(width * count / top) if top else 0)
        text.append(f"  {low:7.3f} to {high:7.3f} s │ ")
        text.append(bar, style="cyan")
        text.append(f" {count}\n")
    return text


def run_note(document: dict[str, Any]) -> list[Text]:
    """Lines saying that the run ended early, and why, and that other gtbench runs
    wrote to the same table meanwhile, if they did."""
    done = (f"after {len(document['trials'])} completed trials" if "trials" in document
            else "part-way")  # compare and outage: their figures say how far they got
    out = []
    if document.get("interrupted"):
        out.append(Text(f"interrupted: the run was stopped with Ctrl-C {done}; these figures "
                        "are from what it measured before", style="bold yellow"))
    elif document.get("stopped"):
        out.append(Text(f"{document['stopped']}; what it measured before is kept",
                        style="bold yellow"))
    others = document.get("concurrent_runs") or []
    if others:
        names = ", ".join(f"{o['experiment']} {o['run']}" for o in others)
        out.append(Text(f"shared table: {len(others)} other gtbench run(s) wrote to "
                        f"{document.get('table')} during this one ({names}); their traffic "
                        "is in these figures", style="bold yellow"))
    return out
