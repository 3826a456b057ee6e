"""The emulator's state, apart from its dispatch (as moto splits a service's backend
from its responses): the clock, the regions' locks and write stamps, the replicator
and its ground-truth log, the replica groups, the faults, MRSC's claims, the metrics
and the sweepers, with the rules that change them (stamp and schedule a write; last
writer wins on delivery; expire TTL items) and its ``status``, ``configure`` and
``reset``.

The request handlers (``app``, ``strong``, ``partiql``, ``control``) receive the
backend; it calls none of them back.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from gtbench.emulator import config as settings
from gtbench.emulator import metrics, mrsc, store
from gtbench.emulator.capacity import Capacity, KeyRanges
from gtbench.emulator.clock import Clock
from gtbench.emulator.config import EmulatorConfig, ReplicaSettings
from gtbench.emulator.faults import Faults
from gtbench.emulator.health import Health
from gtbench.emulator.idempotency import Tokens
from gtbench.emulator.replicas import ReplicaManager
from gtbench.emulator.replication import (
    APPLIED,
    DROPPED,
    SUPERSEDED,
    Delivery,
    Replicator,
    item_key,
)
from gtbench.emulator.requests import Call, Touched
from gtbench.emulator.shared import TtlSweeper
from gtbench.emulator.stamps import RegionLocks, StampClock, Stamps
from gtbench.emulator.wire import Environ, Reply, call_app

log = logging.getLogger(__name__)


class Backend:
    """Everything the emulator knows, and the rules that change it."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        # Every part reads the time through this one clock: a test can hold it.
        self.clock = Clock()
        self.started_at = self.clock.time()
        self.health = Health()
        self.moto = store.server_app()  # the items themselves, in moto's backend
        self.locks = RegionLocks()
        self.stamps = Stamps()
        self.stamp_clock = StampClock(self.clock)
        self.faults = Faults(on_change=lambda: self.replicator.wake(), seed=self.config.seed,
                             clock=self.clock)
        self.faults.fis_delay_s = self.config.fis_delay_s
        self.replicator = Replicator(self._apply, self.config.lag, seed=self.config.seed,
                                     log_limit=self.config.log_limit, holds=self.faults.holds,
                                     on_settled=self._published, health=self.health,
                                     capacity=Capacity(self.config.table_wcu),
                                     clock=self.clock)
        self.key_ranges = KeyRanges(self.config.partition_wcu)
        self.ttl_tables: set[tuple[str, str, str]] = set()  # (account, region, table)
        self.strong = mrsc.StrongState(self.config.log_limit)
        self.ttl_sweeper = TtlSweeper(self.sweep_ttl, self.config.ttl_sweep_s, self.clock,
                                      health=self.health)
        self.latency = metrics.ReplicationLatency(self._publish_latency,
                                                  self.config.metric_period_s,
                                                  self.config.metric_delay_s)
        self.metric_publisher = TtlSweeper(self._publish_due, 0.25, self.clock,
                                           name="gtbench-metrics", health=self.health)
        self.replicas = ReplicaManager(self.locks, self.stamps, self.replicator,
                                       ReplicaSettings(**vars(self.config.replicas)))
        # TransactWriteItems' ClientRequestToken
        self.tokens: Tokens[Reply] = Tokens(self.clock.time)

    # -- the store ------------------------------------------------------------------
    def forward(self, call: Call, forwarded: Environ, changed: Touched | None = None
                ) -> Reply:
        """Run a request in moto under its region's lock; with ``changed``, replicate
        those items if it succeeded (in the same lock: no delivery slips between)."""
        with self.locks.hold(call.account, call.region):
            reply = call_app(self.moto, forwarded)
            if changed is not None and reply.status == 200:
                self.replicate(call, changed)
        return reply

    # -- replication ------------------------------------------------------------------
    def replicate(self, call: Call, changed: Touched) -> None:
        """Stamp each changed item and schedule its deliveries (caller holds the lock)."""
        if not changed:
            return
        stamp = self.stamp_clock.now_ns()
        for table_name, key in changed:
            targets = self.replicas.targets(call.account, table_name, call.region)
            table = store.find_table(call.account, call.region, table_name)
            if not targets or table is None:
                continue
            names = store.key_names(table)
            key = {n: key[n] for n in names}
            ident = item_key(key, names)
            parent = self.stamps.get(call.account, call.region, table.name, ident)
            self.stamps.set(call.account, call.region, table.name, ident, stamp)
            self.replicator.schedule(
                account=call.account, table=table.name, key=key, ident=ident,
                source=call.region, targets=targets, image=store.image(table, key),
                stamp_ns=stamp, parent_ns=parent)

    def _apply(self, delivery: Delivery) -> str:
        """Last writer wins: apply ``delivery`` unless the target holds a later write."""
        d = delivery
        with self.locks.hold(d.account, d.target_region):
            table = store.find_table(d.account, d.target_region, d.table)
            if table is None or not self.replicas.is_replica(d.account, d.table, d.target_region):
                return DROPPED
            current = self.stamps.get(d.account, d.target_region, d.table, d.ident)
            if current is not None and current >= d.stamp_ns:
                return SUPERSEDED
            if d.image is None:
                store.delete_key(table, d.key)
            else:
                store.put_image(table, d.image)
            self.stamps.set(d.account, d.target_region, d.table, d.ident, d.stamp_ns)
            return APPLIED

    def sweep_ttl(self) -> None:
        """Delete expired items (TTL) once: in a global table's first region, from where
        the deletion replicates like any write; in place elsewhere."""
        now = self.clock.time()
        for account, region, name in sorted(self.ttl_tables):
            members = self.replicas.members(account, name)
            if members and members[0] != region:
                continue  # a replica: the deletion reaches it from the first region
            with self.locks.hold(account, region):
                table = store.find_table(account, region, name)
                if table is None:
                    self.ttl_tables.discard((account, region, name))
                    continue
                keys = store.expired_keys(table, now)
                for key in keys:
                    store.delete_key(table, key)
                self.replicate(Call("TimeToLive", account, region, {}),
                               [(name, key) for key in keys])

    # -- CloudWatch -------------------------------------------------------------------
    def _published(self, delivery: Delivery) -> None:
        """An applied delivery's latency, for CloudWatch ReplicationLatency (published per
        period, late, as AWS does: see ``metrics``)."""
        if delivery.outcome != APPLIED or delivery.applied_at is None:
            return
        self.latency.record(
            metrics.Series(delivery.account, delivery.source_region, delivery.table,
                           delivery.target_region),
            max(0.0, (delivery.applied_at - delivery.written_at) * 1000),
            delivery.written_at)  # in the period of the write: where its run touched

    def _publish_due(self) -> None:
        self.latency.flush(self.clock.time())

    def _publish_latency(self, series: metrics.Series, start: float,
                         aggregate: metrics.Aggregate) -> None:
        try:
            store.publish_metric(series.account, series.source_region, "AWS/DynamoDB",
                                 "ReplicationLatency",
                                 {"TableName": series.table,
                                  "ReceivingRegion": series.target_region},
                                 start, "Milliseconds", count=aggregate.count,
                                 total=aggregate.total, minimum=aggregate.minimum,
                                 maximum=aggregate.maximum)
        except Exception:  # a metric must never cost a delivery
            log.exception("publishing ReplicationLatency failed")

    # -- settings and lifecycle -------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from gtbench import __version__

        groups = self.replicas.snapshot()
        regions = _replica_regions(groups)
        broken = self.broken_threads()
        config = self.config
        return {
            "emulator": "gtbench",
            "version": __version__,
            "pid": os.getpid(),
            "started_at": self.started_at,
            # A background thread that died (its error in the log) stops replication for
            # good: callers must fail at once, naming it, not wait out their timeouts.
            "healthy": not broken,
            "broken": broken,
            "paused": self.replicator.paused,
            "clock": self.clock.describe(),
            "pending": self.replicator.pending_count(),
            "held": self.replicator.held_count(),
            "faults": self.faults.describe(),
            "lag": config.lag.describe(regions),
            "distance": config.distance.describe(regions),
            **settings.described(config),
            "probes": {"skew_ms": dict(config.probe_skew_ms)},
            "capacity": self.replicator.capacity.describe(self.clock.time(), regions),
            "mrsc": {"pair_rtt_ms": {f"{a}:{b}": ms for (a, b), ms in
                                     config.pair_rtt_ms.items()},
                     "default_rtt_ms": mrsc.DEFAULT_RTT_MS},
            "global_tables": groups,
            "tables": store.tables_by_region(),  # every table, replicated or not
        }

    def capacity(self) -> dict[str, Any]:
        """The write capacity and each region's backlog, as the status shows them."""
        return self.replicator.capacity.describe(
            self.clock.time(), _replica_regions(self.replicas.snapshot()))

    def configure(self, changes: Any) -> None:
        """Change settings of a running emulator ({setting: value}, ``config.SETTINGS``);
        anything unknown or out of range changes nothing (ValueError, one sentence)."""
        self.apply(settings.changed(self.config, changes))

    def set(self, **changes: Any) -> None:
        """Change fields of the config (``lag=LagModel(300, 0)``), as a start with them
        would have set them: the one way tests and handlers change a running emulator."""
        self.apply(self.config.replaced(**changes))

    def apply(self, config: EmulatorConfig) -> None:
        """Take every setting of ``config`` (what a start with it would have set)."""
        self.config = config
        self.replicator.lag = config.lag
        self.replicator.capacity.set(config.table_wcu)  # writes queued keep their turn
        self.key_ranges.wcu = config.partition_wcu
        self.replicas.settings = ReplicaSettings(**vars(config.replicas))
        self.latency.period_s = config.metric_period_s
        self.latency.delay_s = config.metric_delay_s
        self.faults.fis_delay_s = config.fis_delay_s
        if config.ttl_sweep_s != self.ttl_sweeper.period_s:
            self.ttl_sweeper.set_period(config.ttl_sweep_s)

    def broken_threads(self) -> list[dict[str, str]]:
        """The background threads that died (any: replication has stopped for good)."""
        return self.health.broken()

    def reset(self, config: EmulatorConfig | None = None) -> None:
        """Empty every table in every region and forget all replication state; with
        ``config``, every setting becomes that config's too, so a test starts from one
        known emulator without reaching into its parts."""
        self.clock.reset()
        self.stamp_clock.reset()
        self.metric_publisher.set_period(self.metric_publisher.period_s)
        self.ttl_sweeper.set_period(self.ttl_sweeper.period_s)
        self.faults.reset()
        self.replicator.resume()
        self.ttl_tables.clear()
        self.strong.clear()
        self.replicator.reset()
        self.replicas.reset()
        self.stamps.clear()
        self.latency.clear()
        self.tokens.clear()
        self.key_ranges.clear()
        store.reset()
        if config is not None:
            self.apply(config)
            self.replicator.capacity = Capacity(config.table_wcu)

    def close(self) -> None:
        self.metric_publisher.stop()
        self.ttl_sweeper.stop()
        self.replicator.stop()
        self.clock.stop()


def _replica_regions(groups: list[dict[str, Any]]) -> list[str]:
    return sorted({r["RegionName"] for g in groups for r in g["replicas"]})
