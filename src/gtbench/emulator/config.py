"""The emulator's settings: one ``EmulatorConfig`` (what a start sets, what a reset
returns to) and one table of its numeric settings.

The table (``SETTINGS``) is the single description of each number: its name (the
key in the control API, the status and the config's JSON), its range, unit, the
``gtbench local serve|start`` option and its help. The CLI builds its options from
it, ``POST /_gtbench/config`` checks against it, and the status reports from it, so
a new setting is one row here and one field on ``EmulatorConfig``.

A config crosses to a child process whole, as one JSON argument (``to_json`` and
``from_json``), not re-spelled as a dozen flags.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gtbench.emulator import metrics
from gtbench.emulator.capacity import PARTITION_WCU
from gtbench.emulator.distance import Distance
from gtbench.emulator.replication import LagModel
from gtbench.emulator.values import number

HOUR_S = 3600.0
# AWS refuses to remove a replica that was the source of a new one in the last day.
SOURCE_HOLD_S = 24 * HOUR_S


@dataclass
class ReplicaSettings:
    create_delay_s: float = 3.0  # how long a new replica stays CREATING
    delete_delay_s: float = 2.0  # how long a removed one stays DELETING
    source_hold_s: float = SOURCE_HOLD_S


@dataclass
class EmulatorConfig:
    lag: LagModel = field(default_factory=LagModel)
    replicas: ReplicaSettings = field(default_factory=ReplicaSettings)
    distance: Distance = field(default_factory=Distance)
    seed: int | None = None
    log_limit: int = 100_000
    ttl_sweep_s: float = 5.0  # how often expired items are deleted
    # MRSC round trips between two regions, over the measured table (either order)
    pair_rtt_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    # CloudWatch ReplicationLatency: DynamoDB's period and how late a period is published
    metric_period_s: float = metrics.DEFAULT_PERIOD_S
    metric_delay_s: float = metrics.DEFAULT_DELAY_S
    fis_delay_s: float = 0.0  # an isolate fault takes hold up to this late (rehearsing FIS)
    # Local probes' simulated clock errors, ms per region (served in the status: the
    # probes run in the client's process and read it from there).
    probe_skew_ms: dict[str, float] = field(default_factory=dict)
    # A provisioned global table: write units a second, the same in every replica as
    # AWS requires (None: on-demand). Writes beyond it are refused or queue (``capacity``).
    table_wcu: float | None = None
    # What one partition key value takes, write units a second (AWS's partition: 1,000).
    partition_wcu: float = PARTITION_WCU

    def replaced(self, **changes: Any) -> EmulatorConfig:
        """This config with ``changes`` (field names), the rest shared."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps({
            "lag": {"lag_ms": self.lag.lag_ms, "jitter_ms": self.lag.jitter_ms,
                    "network": self.lag.network,
                    "pairs": [[s, t, lag, jitter]
                              for (s, t), (lag, jitter) in self.lag.pairs.items()]},
            "replicas": dataclasses.asdict(self.replicas),
            "distance": {"client_region": self.distance.client_region,
                         "overrides_ms": dict(self.distance.overrides_ms)},
            "pair_rtt_ms": [[a, b, ms] for (a, b), ms in self.pair_rtt_ms.items()],
            **{name: getattr(self, name) for name in _PLAIN},
        })

    @classmethod
    def from_json(cls, text: str) -> EmulatorConfig:
        """The config ``to_json`` wrote (ValueError, one sentence, for anything else)."""
        try:
            data = json.loads(text)
            lag = data["lag"]
            return cls(
                lag=LagModel(lag["lag_ms"], lag["jitter_ms"],
                             {(s, t): (ms, jitter) for s, t, ms, jitter in lag["pairs"]},
                             bool(lag["network"])),
                replicas=ReplicaSettings(**data["replicas"]),
                distance=Distance(data["distance"]["client_region"],
                                  data["distance"]["overrides_ms"]),
                pair_rtt_ms={(a, b): ms for a, b, ms in data["pair_rtt_ms"]},
                **{name: data[name] for name in _PLAIN})
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not an emulator config: {exc}") from None


# Fields that are JSON as they are.
_PLAIN = ("seed", "log_limit", "ttl_sweep_s", "metric_period_s", "metric_delay_s",
          "fis_delay_s", "probe_skew_ms", "table_wcu", "partition_wcu")


@dataclass(frozen=True)
class Setting:
    """One number the emulator can be started with and changed to while it runs."""

    name: str  # in the control API, the status and the config's JSON
    low: float
    high: float
    unit: str
    help: str
    read: Callable[[EmulatorConfig], float]
    write: Callable[[EmulatorConfig, float], EmulatorConfig]
    flag: str | None = None  # its `local serve|start` option; None: the control API only

    def check(self, value: Any) -> float:
        """``value`` if it is a finite number in range (ValueError naming it otherwise)."""
        return number(value, self.name, low=self.low, high=self.high)


def _replicas(name: str) -> Callable[[EmulatorConfig, float], EmulatorConfig]:
    return lambda c, v: c.replaced(replicas=dataclasses.replace(c.replicas, **{name: v}))


def _plain(name: str) -> Callable[[EmulatorConfig, float], EmulatorConfig]:
    return lambda c, v: c.replaced(**{name: v})


SETTINGS: tuple[Setting, ...] = (
    Setting("lag_ms", 0.0, LagModel.MAX_MS, "ms", "Median replication lag.",
            lambda c: c.lag.lag_ms,
            lambda c, v: c.replaced(lag=dataclasses.replace(c.lag, lag_ms=v)), "--lag-ms"),
    Setting("jitter_ms", 0.0, LagModel.MAX_MS, "ms",
            "Spread of the lag (standard deviation of a normal, cut at 0).",
            lambda c: c.lag.jitter_ms,
            lambda c, v: c.replaced(lag=dataclasses.replace(c.lag, jitter_ms=v)),
            "--jitter-ms"),
    Setting("replica_create_delay_s", 0.0, HOUR_S, "s",
            "How long a new replica stays CREATING.",
            lambda c: c.replicas.create_delay_s, _replicas("create_delay_s")),
    Setting("replica_delete_delay_s", 0.0, HOUR_S, "s",
            "How long a removed replica stays DELETING.",
            lambda c: c.replicas.delete_delay_s, _replicas("delete_delay_s")),
    Setting("ttl_sweep_s", 0.05, HOUR_S, "s",
            "How often items whose TTL has passed are deleted (and the deletions "
            "replicated).", lambda c: c.ttl_sweep_s, _plain("ttl_sweep_s"), "--ttl-sweep-s"),
    Setting("metric_period_s", 1.0, HOUR_S, "s",
            "The period of the CloudWatch ReplicationLatency the emulator publishes "
            "(DynamoDB's: 300).", lambda c: c.metric_period_s, _plain("metric_period_s"),
            "--metric-period-s"),
    Setting("metric_delay_s", 0.0, HOUR_S, "s",
            "How late each ReplicationLatency period is published (AWS: minutes).",
            lambda c: c.metric_delay_s, _plain("metric_delay_s"), "--metric-delay-s"),
    Setting("partition_wcu", 1.0, PARTITION_WCU, "WCU",
            "Write units a second one partition key value takes, on-demand or provisioned "
            "(AWS's partition: 1,000); beyond it writes are refused with "
            "ProvisionedThroughputExceededException. Lower it to rehearse a hot key.",
            lambda c: c.partition_wcu, _plain("partition_wcu"), "--partition-wcu"),
    Setting("fis_delay_s", 0.0, HOUR_S, "s",
            "Rehearse AWS FIS: an isolate fault (what `outage` uses) takes hold after a "
            "random delay of up to this many seconds, and lingers a little after it is "
            "removed. FIS may take up to 300.",
            lambda c: c.fis_delay_s, _plain("fis_delay_s"), "--fis-delay-s"),
)
BY_NAME: Mapping[str, Setting] = {s.name: s for s in SETTINGS}

# What `gtbench local serve|start` runs with when given no options: a lag like AWS's
# within a continent, the network's floor counted, replicas ready in seconds.
SERVED = EmulatorConfig(lag=LagModel(1000.0, 250.0, network=True),
                        replicas=ReplicaSettings(3.0, 3.0))


def changed(config: EmulatorConfig, changes: Any) -> EmulatorConfig:
    """``config`` with ``changes`` ({setting: value}); an unknown setting, or a value
    that is not a finite number in its range, changes nothing (ValueError)."""
    if not isinstance(changes, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(changes) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (settings: {', '.join(BY_NAME)})")
    values = {name: BY_NAME[name].check(value) for name, value in changes.items()}
    for name, value in values.items():
        config = BY_NAME[name].write(config, value)
    return config


def described(config: EmulatorConfig) -> dict[str, float]:
    """Every setting's value, by name (for the status)."""
    return {s.name: s.read(config) for s in SETTINGS}
