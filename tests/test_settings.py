"""The emulator's settings table: one row a setting drives the CLI's options, the
control API, the status and the config a child process is started with."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import click
import pytest

from gtbench.cli import cli
from gtbench.emulator.config import SERVED, SETTINGS, EmulatorConfig, ReplicaSettings
from gtbench.emulator.distance import Distance
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer


def _command(name: str) -> click.Command:
    group = cli.get_command(click.Context(cli), "local")  # commands load when asked
    assert isinstance(group, click.Group)
    return group.commands[name]


@pytest.mark.parametrize("command", ["serve", "start"])
@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.flag], ids=lambda s: s.name)
def test_each_flagged_setting_is_an_option_with_the_tables_range_and_default(
        command: str, setting: Any) -> None:
    options = {o: p for p in _command(command).params for o in p.opts}
    option = options[setting.flag]
    assert isinstance(option.type, click.FloatRange)
    assert (option.type.min, option.type.max) == (setting.low, setting.high)
    assert option.default == setting.read(SERVED)
    assert setting.help in (option.help or "")


def test_a_config_crosses_to_a_child_whole() -> None:
    config = EmulatorConfig(
        lag=LagModel(70, 9, {("us-west-2", "eu-west-1"): (300.0, 20.0)}, network=True),
        replicas=ReplicaSettings(1.5, 0.5, 60.0), distance=Distance("us-west-2",
                                                                    {"eu-west-1": 90.0}),
        seed=11, log_limit=500, ttl_sweep_s=0.5, pair_rtt_ms={("us-east-1", "us-east-2"): 15.0},
        metric_period_s=60, metric_delay_s=5, fis_delay_s=2, probe_skew_ms={"eu-west-1": -3},
        table_wcu=20.0)
    assert EmulatorConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="not an emulator config"):
        EmulatorConfig.from_json('{"lag": 1}')


def _post_config(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/_gtbench/config", json.dumps(body).encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_changes_through_the_control_api_and_shows_in_the_status(
        emulator: EmulatorServer, setting: Any) -> None:
    value = setting.high if setting.read(emulator.backend.config) != setting.high \
        else setting.low
    status = _post_config(emulator.url, {setting.name: value})
    assert status[setting.name] == value
    assert setting.read(emulator.backend.config) == value


def test_a_change_reaches_the_part_that_uses_it(emulator: EmulatorServer) -> None:
    """The config is the one truth: a setting changed through it is what the parts use."""
    _post_config(emulator.url, {"lag_ms": 1234, "ttl_sweep_s": 7, "fis_delay_s": 3,
                                "replica_create_delay_s": 4, "metric_period_s": 60})
    backend = emulator.backend
    assert backend.replicator.lag.lag_ms == 1234
    assert backend.ttl_sweeper.period_s == 7
    assert backend.faults.fis_delay_s == 3
    assert backend.replicas.settings.create_delay_s == 4
    assert backend.latency.period_s == 60
