"""The experiments: each turns a plan and DynamoDB clients into a history of timed
operations (``race``, ``conflict``, ``compare``, ``outage`` with ``fis`` and ``beats``,
``matrix``, ``load`` and ``sweep``, ``register_workload``), on a shared skeleton:
``trials`` (how a run ends, a timed write, the loop of trials), ``preflight`` (the
regions checked before a run), ``polling`` (the instrument), ``runs`` (run markers),
``settling`` and ``cloudwatch``. Their verdicts are computed in ``gtbench.analysis``,
their documents written by ``gtbench.document``, shown by ``gtbench.report``."""
