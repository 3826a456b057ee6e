"""An in-process emulator on an ephemeral port, shared by the session and reset per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from gtbench.emulator.capacity import Capacity
from gtbench.emulator.distance import Distance
from gtbench.emulator.replicas import ReplicaSettings
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorConfig, EmulatorServer

# pytester: runs a test suite of an application's, as it would use gtbench.testing.
pytest_plugins = ["pytester"]

TEST_LAG_MS = 40.0
TEST_JITTER_MS = 10.0


@pytest.fixture(scope="session")
def _server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(lag=LagModel(TEST_LAG_MS, TEST_JITTER_MS),
                            replicas=ReplicaSettings(0.0, 0.0), seed=7)
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def emulator(_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator, empty, with the test lag and instant replica changes."""
    _server.app.reset()
    _server.app.configure({"replica_create_delay_s": 0, "replica_delete_delay_s": 0,
                           "metric_period_s": 300, "metric_delay_s": 120, "fis_delay_s": 0})
    _server.app.replicator.lag = LagModel(TEST_LAG_MS, TEST_JITTER_MS)
    _server.app.config.distance = Distance()  # every region on loopback
    _server.app.config.pair_rtt_ms = {}
    _server.app.config.probe_skew_ms = {}
    _server.app.replicator.capacity = Capacity()  # every replica on-demand
    yield _server
    _server.app.replicator.resume()


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
