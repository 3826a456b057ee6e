"""Multi-Region strong consistency (MRSC) as the emulator serves it: a write claims its
items, sees the latest version, is committed at its local apply and returns once the
nearest participant has it; a strong read fetches the latest committed write; a region
that can reach no other participant fails both. ``mrsc`` holds the bookkeeping types."""

from __future__ import annotations

import time
from typing import Any

from gtbench.emulator import mrsc, store
from gtbench.emulator.backend import Backend
from gtbench.emulator.replication import item_key
from gtbench.emulator.requests import Call, Touched, consistent_reads
from gtbench.emulator.wire import Environ, Reply, error_reply

CLAIM_GUARD_S = 60.0  # an MRSC write's claim on its items outlives any real request


class StrongConsistency:
    """The MRSC requests of one emulator; what they remember (claims, commits, the
    strong-write log) is the backend's ``strong``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.state = backend.strong

    def tables(self, call: Call, names: set[str] | list[str]) -> dict[str, list[str]]:
        """The MRSC tables among ``names``, each with its participants."""
        return {n: parts for n in names
                if (parts := self.backend.replicas.strong(call.account, n)) is not None}

    def read_targets(self, call: Call
                     ) -> tuple[dict[str, list[str]], dict[str, list[Any]] | None]:
        """The MRSC tables a strongly consistent read touches, and its keys if named."""
        tables, keys = consistent_reads(call)
        return self.tables(call, tables), keys

    # -- pieces ----------------------------------------------------------------------
    def _idents(self, call: Call, touched: Touched) -> list[tuple[str, str, Any]]:
        out = []
        for name, key in touched:
            table = store.find_table(call.account, call.region, name)
            if table is not None:
                out.append((call.account, name, item_key(key, store.key_names(table))))
        return out

    def catch_up(self, account: str, region: str, table: str,
                 idents: set[Any] | None = None) -> None:
        """Apply at once what ``region`` still lacks of ``table`` (of these items): an
        MRSC region answers with the latest acknowledged write. Called without the
        region's lock: a lane may be applying one of them right now."""
        # A committed write is held by a participant this region can reach even when its
        # own region is cut off: it comes from there, past the fault.
        self.backend.replicator.deliver_now(
            lambda d: d.account == account and d.target_region == region and d.table == table
            and (idents is None or d.ident in idents),
            despite_holds=lambda d: (d.account, d.table, d.ident, d.stamp_ns)
            in self.state.committed)

    def _reachable(self, participants: list[str]) -> list[str]:
        """The participants an MRSC request can still reach: not the isolated ones."""
        return [p for p in participants if not self.backend.faults.isolated(p)]

    def _cut_off(self, call: Call, tables: dict[str, list[str]]) -> Reply | None:
        """An MRSC region that can reach no other participant serves only eventually
        consistent reads: its writes and strong reads fail as AWS FIS makes them fail."""
        if self.backend.faults.isolated(call.region) or any(
                len(self._reachable(parts)) < 2 for parts in tables.values()):
            return error_reply("InternalServerError", "Internal server error", status=500)
        return None

    def _nearest(self, call: Call, tables: dict[str, list[str]]) -> tuple[str, float]:
        # The farthest of the tables' nearest peers: the request waits for all of them.
        return max((mrsc.nearest(call.region, self._reachable(parts),
                                 self.backend.config.pair_rtt_ms) for parts in tables.values()),
                   key=lambda peer_ms: peer_ms[1])

    # -- requests --------------------------------------------------------------------
    def write(self, call: Call, forwarded: Environ, touched: Touched,
              strong: dict[str, list[str]]) -> Reply:
        """An MRSC write: refused while another region writes the same item; conditions
        see the latest version; it returns once the nearest participant has it, one
        round trip later; the third replica catches up with the usual lag."""
        backend = self.backend
        if call.op == "TransactWriteItems":
            return error_reply("ValidationException", "Transactions are not supported on "
                               "multi-Region strongly consistent tables")
        cut = self._cut_off(call, strong)
        if cut is not None:
            return cut
        peer, ms = self._nearest(call, strong)
        items = self._idents(call, [(n, k) for n, k in touched if n in strong])
        # The claim lasts until the write returns (released below); the bound only
        # guards against a request thread that never comes back.
        token = self.state.inflight.claim(items, call.region, time.monotonic() + CLAIM_GUARD_S)
        if token is None:
            self._log(call, touched, "conflict", peer)
            backend.clock.sleep(ms / 1000)  # the conflict is learnt from the other participants
            return error_reply("ReplicatedWriteConflictException", mrsc.CONFLICT_MESSAGE)
        try:
            # Conditions are evaluated against the latest version, not the local one.
            # This bookkeeping stands for work AWS does within the round trip, so its
            # time is taken off the trip below.
            began = time.monotonic()
            for name in strong:
                self.catch_up(call.account, call.region, name,
                              {i for _, n, i in items if n == name})
            bookkeeping = time.monotonic() - began
            with backend.locks.hold(call.account, call.region):
                reply = backend.forward(call, forwarded, touched)
                if reply.status == 200:
                    # Committed from here on, before the peer has it: every strong read
                    # from now on must return it, wherever it is sent, even if a cut
                    # begins before the write returns (a write the peer held but a strong
                    # read elsewhere could not fetch was a stale read: found by the
                    # linearizability checker with a region cut off).
                    for account, name, ident in items:
                        stamp = backend.stamps.get(account, call.region, name, ident)
                        if stamp is not None:
                            self.state.committed.add((account, name, ident, stamp))
            if reply.status == 200:
                began = time.monotonic()
                # Outside the lock (another region's lock follows): the nearest replica
                # has it before the write returns; a witness stores nothing.
                for name, parts in strong.items():
                    for region in parts:
                        if region == peer and backend.replicas.is_replica(call.account, name,
                                                                      region):
                            self.catch_up(call.account, region, name,
                                          {i for _, n, i in items if n == name})
                bookkeeping += time.monotonic() - began
                if backend.faults.isolated(call.region) or backend.faults.isolated(peer):
                    # Cut off mid-write: the caller cannot know whether it took effect,
                    # as a 500 says. It did: it reaches the others past the cut.
                    return error_reply("InternalServerError", "Internal server error",
                                       status=500)
                self._log(call, touched, "commit", peer)
            # The round trip comes on top of the local work, as a strong read's does: an
            # MRSC write costs what an MREC write costs, plus one trip to the peer.
            backend.clock.sleep(max(0.0, ms / 1000 - bookkeeping))
            return reply
        finally:
            # Only this write's claim: another from the same region may still hold it
            # (releasing theirs let a third region write mid-flight: a lost update the
            # linearizability checker found under load).
            self.state.inflight.release(items, token)

    def read(self, call: Call, forwarded: Environ, tables: dict[str, list[str]],
             keys: dict[str, list[dict[str, Any]]] | None) -> Reply:
        """A strongly consistent read of an MRSC table: one round trip to the nearest
        participant, then the latest acknowledged write."""
        cut = self._cut_off(call, tables)
        if cut is not None:
            return cut
        _, ms = self._nearest(call, tables)
        self.backend.clock.sleep(ms / 1000)
        for name in tables:
            wanted = None
            if keys is not None and name in keys:
                wanted = {i for _, _, i in self._idents(call, [(name, k) for k in keys[name]])}
            self.catch_up(call.account, call.region, name, wanted)
        return self.backend.forward(call, forwarded)

    def _log(self, call: Call, touched: Touched, kind: str, peer: str) -> None:
        now = self.backend.clock.time()
        keyed = []
        for name, attrs in touched:
            table = store.find_table(call.account, call.region, name)
            keyed.append((name, store.key_of(table, attrs) if table is not None else attrs))
        self.state.record({"table": name, "key": key, "region": call.region,
                           "kind": kind, "peer": peer, "at": now} for name, key in keyed)
