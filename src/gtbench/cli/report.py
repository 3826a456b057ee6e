"""``gtbench report``: show a saved result again, as Markdown, or as a figure."""

from __future__ import annotations

from typing import Any

import click

from gtbench.cli.app import current_app
from gtbench.cli.options import png_option


@click.command("report")
@click.argument("path", metavar="RESULTS.json")
@png_option("Also draw a figure to PATH, a *.png file (needs the plot extra: pip install "
            "'gtbench[plot]').")
@click.option("--markdown", is_flag=True,
              help="Print a summary table in Markdown instead, to paste into a document.")
@click.option("--check", is_flag=True,
              help="Recompute every verdict and summary from the file's history alone and "
                   "compare them with what it states; exit 1 on any difference.")
def report_command(path: str, png_path: str | None, markdown: bool, check: bool) -> None:
    """Re-render a result saved with --json: the same summary as the live run.

    \b
    race:     trial lines, the lag table, a histogram per pair.
              --png: histogram and CDF per pair with p50 and p99, and each
              trial's bound as an error bar.
    conflict: each trial's timeline side by side, the table per offset.
              --png: timelines with the writes marked; for a sweep, the share of
              earlier writes lost unseen against the offset, beside the lag.
    compare:  MREC and MRSC side by side, and what the choice costs.
              --png: a latency CDF per operation, both kinds on one axis.
    outage:   each region's writes during the cut, the divergence second by
              second, recovery point, convergence and lost writes.
              --png: divergence over time with the cut shaded, and writes per
              second per region.

    --check re-judges a stored run: every operation is in the file, with its
    times on one monotonic clock, so the verdicts can be computed again by
    anyone, with this or a later gtbench.

    \b
    Examples:
      gtbench report race.json --check
      gtbench report examples/conflict-sweep.json --png sweep.png
      gtbench report race.json --markdown >> design.md
    """
    from gtbench import report

    document = report.load(path)
    try:
        _show(path, document, png_path, markdown, check)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # A file with the right header and a broken body: one line, not a traceback.
        # (The renderers trust the document's figures; --check is what judges them.)
        from gtbench.errors import GtbenchError

        raise GtbenchError(f"{path} is a damaged gtbench result ({type(exc).__name__}: "
                           f"{exc})", hint="was it edited by hand? `gtbench report --check` "
                                           "says where it differs") from None


def _show(path: str, document: dict[str, Any], png_path: str | None, markdown: bool,
          check: bool) -> None:
    from gtbench import report

    terminal = current_app().terminal()
    if check:
        from gtbench import document as documents
        from gtbench.errors import GtbenchError

        differences = documents.check(document)
        for line in differences[:20]:
            terminal.err.print(f"[yellow]differs:[/] {line}", highlight=False, soft_wrap=True)
        if differences:
            more = " (the first 20 are shown)" if len(differences) > 20 else ""
            raise GtbenchError(f"{path}: {len(differences)} stated figures differ from what "
                               f"its history gives{more}")
        from gtbench import registry

        what = registry.get(document["experiment"]).call("holding", document)
        terminal.note(f"{path}: every verdict and summary follows from its history ({what})")
        return
    if png_path:
        from gtbench.report.plot import save_png

        save_png(document, png_path)
        terminal.note(f"wrote {png_path}")  # that is all: the figure was asked for
    if markdown:
        from gtbench.report.markdown import markdown as render_markdown

        terminal.write_data(render_markdown(document) + "\n")
    elif not png_path:
        for renderable in report.terminal_view(document):
            terminal.print(renderable)

