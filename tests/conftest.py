"""An in-process emulator on an ephemeral port, shared by the session and reset per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gtbench.emulator.config import ReplicaSettings
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorConfig, EmulatorServer
from gtbench.local import lifecycle
from tests.helpers import gtbench

# Each test process (an xdist worker) looks for and starts emulators on a port of its
# own, not 8000: runs side by side must not find, or stop, each other's emulators. Set,
# not defaulted: workers inherit the environment of the process that started them.
os.environ[lifecycle.PORT_ENV] = str(lifecycle.free_port(lifecycle.DEFAULT_HOST))

# pytester: runs a test suite of an application's, as it would use gtbench.testing.
pytest_plugins = ["pytester"]

# The longest files start first, longest first: pytest-xdist hands out whole files in
# collection order (pyproject.toml: --no-loadscope-reorder), and a long file started
# last keeps the run going alone at the end while the other workers idle. Seconds
# each took in one quiet four-worker run (2026-12-02); the rest are each under 20 s and
# follow in collection order, filling the gaps at the end. The order, not the figures,
# is what matters: re-measure when a file grows (docs/development.md).
LONG_FILES = {"test_stops.py": 58, "test_docs_walk_tour.py": 46, "test_chaos.py": 45,
              "test_docs_walk_conflict.py": 38, "test_compare.py": 37,
              "test_rehearsal.py": 35, "test_faults.py": 33, "test_newcomer.py": 31,
              "test_outage.py": 30, "test_readme_walk.py": 29, "test_cli_local.py": 27,
              "test_mrsc.py": 26, "test_docs_walk.py": 24, "test_conflict.py": 23,
              "test_probes.py": 23}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -LONG_FILES.get(item.path.name, 0))  # stable otherwise


TEST_LAG_MS = 40.0
TEST_JITTER_MS = 10.0


def emulator_config() -> EmulatorConfig:
    """The tests' emulator: the test lag, instant replica changes, every region on
    loopback, every replica on-demand. A new one each time: tests change settings."""
    return EmulatorConfig(lag=LagModel(TEST_LAG_MS, TEST_JITTER_MS),
                          replicas=ReplicaSettings(0.0, 0.0), seed=7,
                          metric_period_s=300, metric_delay_s=120, fis_delay_s=0)


@pytest.fixture(scope="session")
def _server() -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config()) as server:
        yield server


@pytest.fixture
def emulator(_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator, empty and as ``emulator_config`` sets it, through its public reset."""
    _server.backend.reset(emulator_config())
    yield _server
    _server.backend.replicator.resume()


@pytest.fixture
def ddb(emulator: EmulatorServer) -> Callable[[str], Any]:
    """A DynamoDB client for a region, on the emulator."""
    cache: dict[str, Any] = {}

    def client(region: str) -> Any:
        if region not in cache:
            cache[region] = boto3.client(
                "dynamodb", region_name=region, endpoint_url=emulator.url,
                aws_access_key_id="testing", aws_secret_access_key="testing")
        return cache[region]

    return client


@pytest.fixture
def state(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment for `python -m gtbench` with a state folder of its own; no emulator
    is left behind."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("GTBENCH_") or k == lifecycle.PORT_ENV}
    environment["GTBENCH_STATE_DIR"] = str(tmp_path / "state")
    yield environment
    gtbench("local", "stop", env=environment)


@pytest.fixture
def doomed(_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """An emulator of the test's own, to be killed or stopped mid-run (moto's state is
    the process's: it is emptied again after, for the shared emulator's next test)."""
    _server.backend.reset()
    server = EmulatorServer(emulator_config())
    server.start()
    try:
        yield server
    finally:
        server.backend.close()
        _server.backend.reset()
