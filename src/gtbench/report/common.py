"""Small renderers shared by every experiment's report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from gtbench import analysis


def plural(count: int, word: str) -> str:
    """``1 poller``, ``2 pollers``: a count with its noun agreeing."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def seconds(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def plain(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def lag_figure(row: Mapping[str, Any], name: str, scale: float = 1.0, digits: int = 3,
               unit: str = "") -> str:
    """A summary's ``{name}_s`` as printed: "> 10.000" when trials not seen within their
    timeout make it a lower bound (``{name}_censored``), never a bare figure then."""
    value = row.get(f"{name}_s")
    if value is None:
        return "-"
    text = f"{value * scale:.{digits}f}{unit}"
    return f"> {text}" if row.get(f"{name}_censored") else text


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
    done = (f"after {plural(len(document['trials']), 'completed trial')}" if "trials" in document
            else "part-way")  # compare and outage: their figures say how far they got
    out = []
    if document.get("interrupted"):
        # The document says a stop signal came, not which (Ctrl-C, SIGTERM or SIGHUP):
        # the exit status and the run's last line name it.
        out.append(Text(f"interrupted: the run was stopped by Ctrl-C or a stop signal {done}; "
                        "these figures are from what it measured before", style="bold yellow"))
    elif document.get("stopped"):
        out.append(Text(f"{document['stopped']}; what it measured before is kept",
                        style="bold yellow"))
    others = document.get("concurrent_runs") or []
    if others:
        names = ", ".join(f"{o['experiment']} {o['run']}" for o in others)
        out.append(Text(f"shared table: {plural(len(others), 'other gtbench run')} wrote to "
                        f"{document.get('table')} during this one ({names}); their traffic "
                        "is in these figures", style="bold yellow"))
    return out


@dataclass(frozen=True)
class Column:
    """One column of a ``FitTable``: an essential one is always shown."""

    header: str
    essential: bool = True
    justify: Literal["left", "right"] = "right"
    rank: int = 0  # optional columns join in this order (then by position)


class FitTable:
    """A table that never cuts a figure short: at render time it keeps the essential
    columns and adds the others, in order, while they fit the width; when even the
    essential ones do not fit, each row becomes a stacked block of ``header: value``
    lines (as kubectl and gh do). No cell is ever ellipsized."""

    def __init__(self, title: str, columns: Sequence[Column],
                 rows: Sequence[Sequence[str | Text]], note: str | None = None) -> None:
        self.title, self.columns, self.rows, self.note = title, list(columns), rows, note

    def _width(self, indexes: Sequence[int]) -> int:
        # rich's heavy-head box: one border per column and one more, a space each side.
        widths = [max([cell_len(self.columns[i].header.split("\n")[0]),
                       *(cell_len(str(row[i])) for row in self.rows)]) for i in indexes]
        return sum(widths) + 3 * len(widths) + 1

    def chosen(self, width: int) -> list[int] | None:
        """The columns shown at ``width``, or None for the stacked layout."""
        shown = [i for i, c in enumerate(self.columns) if c.essential]
        if self._width(shown) > width:
            return None
        optional = sorted((c.rank, i) for i, c in enumerate(self.columns) if not c.essential)
        for _, i in optional:
            if self._width(sorted([*shown, i])) <= width:
                shown = sorted([*shown, i])
        return shown

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        shown = self.chosen(options.max_width)
        if shown is None:
            yield Text(self.title, style="italic")
            for row in self.rows:
                block = Table.grid(padding=(0, 1))
                block.add_column(no_wrap=True, style="dim")
                block.add_column(overflow="fold")
                for column, cell in zip(self.columns, row, strict=True):
                    block.add_row(column.header.replace("\n", " "), cell)
                yield block
                yield Text("")
            return
        table = Table(title=self.title, title_justify="left")
        for i in shown:
            c = self.columns[i]
            table.add_column(c.header, justify=c.justify, no_wrap=True)
        for row in self.rows:
            table.add_row(*(row[i] for i in shown))
        yield table
        hidden = [self.columns[i].header.replace("\n", " ")
                  for i in range(len(self.columns)) if i not in shown]
        if hidden:
            # The one way that shows them on every command: a terminal wide enough (the
            # Markdown tables leave columns out too, and race has no --markdown).
            needed = self._width(range(len(self.columns)))
            yield Text(f"(hidden here: {', '.join(hidden)}; COLUMNS={needed} or a wider "
                       "terminal shows every column)", style="dim")
