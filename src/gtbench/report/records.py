"""Every experiment's record: the functions that read, rebuild, check and show its
result documents (``gtbench.registry``, which loads this module at its first lookup).
A new experiment is one ``register`` call here, naming its own functions."""

from __future__ import annotations

from gtbench import document
from gtbench.registry import Experiment, nothing, register
from gtbench.report import checking, markdown, plot
from gtbench.report import compare as compare_views
from gtbench.report import conflict as conflict_views
from gtbench.report import matrix as matrix_views
from gtbench.report import outage as outage_views
from gtbench.report import race as race_views

register(Experiment(
    "race", holds="trials", rebuild=document.rebuild_race, check=checking.check_trials,
    terminal=race_views.terminal_view, markdown=markdown.race_markdown,
    figure=plot.race_figure))
register(Experiment(
    "matrix", holds="trials", rebuild=document.rebuild_matrix, check=checking.check_trials,
    terminal=matrix_views.matrix_tables, markdown=matrix_views.matrix_markdown,
    figure=matrix_views.matrix_figure))
register(Experiment(
    "conflict", holds="trials", rebuild=document.rebuild_conflict,
    check=checking.check_trials, terminal=conflict_views.terminal_view,
    markdown=markdown.conflict_markdown, figure=plot.conflict_figure))
register(Experiment(
    "compare", holds="modes", rebuild=document.rebuild_compare,
    check=checking.check_compare, terminal=compare_views.compare_tables,
    markdown=markdown.compare_markdown, figure=plot.compare_figure,
    runs=compare_views.runs))
register(Experiment(
    "outage", holds="history", rebuild=document.rebuild_outage,
    check=checking.check_summary, terminal=outage_views.outage_tables,
    markdown=outage_views.outage_markdown, figure=outage_views.outage_figure,
    runs=nothing, holding=outage_views.holding))
