"""The pytest plugin (entry point ``pytest11``): the ``global_tables`` fixture.

Loaded by every pytest run where gtbench is installed, so it imports nothing heavy
until a test asks for the fixture; the emulator starts with the first such test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gtbench.testing import EmulatorProcess, GlobalTables


@pytest.fixture(scope="session")
def gtbench_emulator() -> Iterator[EmulatorProcess]:
    """One emulator process per test session (per worker under pytest-xdist)."""
    from gtbench.testing import EmulatorProcess

    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def global_tables(gtbench_emulator: EmulatorProcess,
                  monkeypatch: pytest.MonkeyPatch) -> GlobalTables:
    """Global tables on gtbench's emulator, empty for this test: no tables, no faults, lag
    0, replication running. boto3 reaches the emulator for the test's duration
    (``AWS_ENDPOINT_URL_DYNAMODB``, dummy credentials, region us-west-2); the
    environment is restored after."""
    from gtbench.testing import GlobalTables

    tables = GlobalTables(gtbench_emulator.url)
    tables.reset()
    aim_boto3(tables.endpoint_url, monkeypatch)
    return tables


def aim_boto3(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 reaches the emulator at ``endpoint_url`` until ``monkeypatch`` undoes it."""
    import boto3

    from gtbench.testing.controller import environment

    for name, value in environment(endpoint_url).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    # boto3's default session caches credentials: a fresh one sees the dummy ones.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
