"""The pytest plugin (entry point ``pytest11``): the ``global_tables`` fixture.

Loaded by every pytest run where gtbench is installed, so it imports nothing heavy
until a test asks for the fixture; the emulator starts with the first such test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gtbench.testing import EmulatorProcess, GlobalTables


@pytest.fixture(scope="session")
def gtbench_emulator() -> Iterator[EmulatorProcess]:
    """One emulator process per test session (per worker under pytest-xdist)."""
    from gtbench.testing import EmulatorProcess

    with EmulatorProcess() as process:
        yield process


MARKER = "global_tables"
KINDS = ("eventual", "strong")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(consistency=[...]): run the test once per kind of global "
                   "table ('eventual', 'strong'), each with that kind's global_tables")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.global_tables(consistency=["eventual", "strong"])``: the test runs
    once per kind, its ``global_tables`` making that kind of table by default."""
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or "global_tables" not in metafunc.fixturenames:
        return
    kinds = marker.kwargs.get("consistency", ["eventual"])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}(consistency=...) takes "
                                f"{' and/or '.join(map(repr, KINDS))}, not {unknown or kinds}")
    metafunc.parametrize("global_tables", kinds, indirect=True, ids=kinds)


@pytest.fixture
def global_tables(gtbench_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> GlobalTables:
    """Global tables on gtbench's emulator, empty for this test: no tables, no faults, lag
    0, replication running. boto3 reaches the emulator for the test's duration
    (``AWS_ENDPOINT_URL_DYNAMODB``, dummy credentials, region us-west-2); the
    environment is restored after. A DynamoDB client that escaped it (made before the
    fixture, at import time, with its own endpoint) fails the call it makes, saying
    so, instead of reaching AWS."""
    from gtbench.testing import GlobalTables

    tables = GlobalTables(gtbench_emulator.url, getattr(request, "param", "eventual"))
    tables.reset()
    aim_boto3(tables.endpoint_url, monkeypatch)
    guard_escapes(tables.endpoint_url, monkeypatch)
    return tables


class EscapedClientError(RuntimeError):
    """A DynamoDB client made outside the ``global_tables`` fixture reached elsewhere."""


def guard_escapes(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Until ``monkeypatch`` undoes it, a DynamoDB request bound anywhere but the
    emulator raises ``EscapedClientError``: a client made at import time keeps the
    endpoint and credentials of then (with real ones, AWS itself)."""
    from botocore.endpoint import Endpoint

    send = Endpoint.make_request
    emulator = endpoint_url.rstrip("/")

    def make_request(self: Endpoint, operation_model: Any, request_dict: Any) -> Any:
        if (operation_model.service_model.endpoint_prefix == "dynamodb"
                and self.host.rstrip("/") != emulator):
            raise EscapedClientError(
                f"a DynamoDB client for {self.host} escaped the global_tables fixture (made "
                "before it, at import time?): make clients inside the test or in a fixture "
                "that uses global_tables, or pass endpoint_url=global_tables.endpoint_url")
        return send(self, operation_model, request_dict)

    monkeypatch.setattr(Endpoint, "make_request", make_request)


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
