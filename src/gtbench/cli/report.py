"""``gtbench report``: show a saved result again, as Markdown, or as a figure."""

from __future__ import annotations

import click

from gtbench.terminal import Terminal


@click.command("report")
@click.argument("path", metavar="RESULTS.json")
@click.option("--png", "png_path", metavar="FILE",
              help="Also draw a figure to FILE (needs the plot extra: pip install "
                   "'gtbench[plot]').")
@click.option("--markdown", is_flag=True,
              help="Print a summary table in Markdown instead, to paste into a document.")
def report_command(path: str, png_path: str | None, markdown: bool) -> None:
    """Re-render a result saved with --json: the same summary as the live run.

    \b
    race:     trial lines, the lag table, a histogram per pair.
              --png: histogram and CDF per pair with p50 and p99, and each
              trial's bound as an error bar.
    conflict: each trial's timeline side by side, the table per offset.
              --png: timelines with the writes marked; for a sweep, the share of
              earlier writes lost unseen against the offset, beside the lag.

    \b
    Examples:
      gtbench report race.json
      gtbench report examples/conflict-sweep.json --png sweep.png
      gtbench report race.json --markdown >> design.md
    """
    from gtbench import report

    document = report.load(path)
    terminal = Terminal()
    if png_path:
        from gtbench.report.plot import save_png

        save_png(document, png_path)
    if markdown:
        from gtbench.report.markdown import markdown as render_markdown

        terminal.write_data(render_markdown(document) + "\n")
    else:
        for renderable in report.terminal_view(document):
            terminal.print(renderable)
    if png_path:
        terminal.note(f"wrote {png_path}")


def register(cli: click.Group) -> None:
    cli.add_command(report_command)
