"""gtbench's emulator as a test double: global tables with replication lag, conflicts
and outages under a test's control.

In pytest, installing gtbench is enough: the ``global_tables`` fixture (registered
through the ``pytest11`` entry point) gives a ``GlobalTables`` and points boto3 at the
emulator for the test. Elsewhere (unittest, scripts)::

    with gtbench.testing.global_tables(lag_ms=0) as gt:
        gt.create_table("bookmarks")
        ...

The API and its guarantees: docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from gtbench.testing.controller import EmulatorError, GlobalTables, LostWrite
from gtbench.testing.process import EmulatorProcess

__all__ = ["EmulatorError", "EmulatorProcess", "GlobalTables", "LostWrite", "global_tables"]


@contextmanager
def global_tables(lag_ms: float = 0.0, jitter_ms: float = 0.0, *,
                  clock: str = "real", environ: bool = True) -> Iterator[GlobalTables]:
    """An emulator of its own for the ``with`` block, empty, replication lagging
    ``lag_ms``; ``clock="virtual"`` holds its time still for ``advance()`` to move.
    With ``environ`` (the default) boto3 reaches it unchanged inside the block, as under
    the pytest fixture; the environment is restored after."""
    from gtbench.testing.controller import patched_environment

    if clock not in ("real", "virtual"):
        raise ValueError(f"clock is 'virtual' or 'real', not {clock!r}")
    with EmulatorProcess() as process:
        tables = GlobalTables(process.url)
        tables.lag(lag_ms, jitter_ms)
        if clock == "virtual":
            tables.clock("virtual")
        with patched_environment(tables.endpoint_url) if environ else nullcontext():
            yield tables
