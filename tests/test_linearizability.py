"""The linearizability checker on hand-made histories, then on MRSC tables of the
emulator: quiet, beside a CPU hog, and with a region cut off part of the time."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gtbench import linearizability as lin
from gtbench import register
from gtbench.emulator.replication import Delivery, LagModel, Replicator
from gtbench.emulator.server import EmulatorServer
from gtbench.linearizability import Call
from tests.helpers import control, make_table, wait_until

E1, E2, W2 = "us-east-1", "us-east-2", "us-west-2"


def op(kind: lin.Kind, start: int, end: int, value: Any = None, result: lin.Result = "ok",
       expected: Any = None, condition_failed: bool = False, process: int = 0) -> Call:
    return Call("k", kind, start, end, result, value=value, expected=expected,
                condition_failed=condition_failed, process=process)


# -- the checker on hand-made histories ------------------------------------------------
def test_a_sequential_history_is_linearizable() -> None:
    verdict = lin.check([op("read", 0, 1, None), op("write", 2, 3, "a"),
                         op("read", 4, 5, "a"), op("cas", 6, 7, "b", expected="a"),
                         op("read", 8, 9, "b")])
    assert verdict.valid is True and verdict.calls == 5


def test_a_stale_read_after_the_write_returned_is_rejected() -> None:
    verdict = lin.check([op("write", 0, 10, "a"), op("write", 20, 30, "b", process=1),
                         op("read", 40, 50, None, process=2)])
    assert verdict.valid is False
    assert verdict.stuck is not None and verdict.stuck.kind == "read"
    assert "not linearizable" in verdict.describe()


def test_overlapping_calls_may_take_effect_in_either_order() -> None:
    # The read overlaps the write: it may see the old value or the new.
    for seen in (None, "a"):
        assert lin.check([op("write", 0, 100, "a"), op("read", 50, 60, seen, process=1)]
                         ).valid is True
    # Two reads of one overlapping write cannot see new then old.
    assert lin.check([op("write", 0, 100, "a"), op("read", 10, 20, "a", process=1),
                      op("read", 30, 40, None, process=2)]).valid is False


def test_a_write_of_unknown_outcome_may_land_later_or_never() -> None:
    unknown = op("write", 0, 10, "a", result="info")
    assert lin.check([unknown, op("read", 50, 60, "a", process=1)]).valid is True
    assert lin.check([unknown, op("read", 50, 60, None, process=1)]).valid is True
    # Seen, then unseen: once it took effect it stays.
    assert lin.check([unknown, op("read", 50, 60, "a", process=1),
                      op("read", 70, 80, None, process=1)]).valid is False
    # Never before its invocation.
    assert lin.check([op("read", 0, 5, "a", process=1),
                      op("write", 10, 20, "a", result="info")]).valid is False


def test_failed_writes_never_take_effect_and_failed_conditions_constrain() -> None:
    refused = op("write", 0, 10, "a", result="fail")
    assert lin.check([refused, op("read", 20, 30, "a", process=1)]).valid is False
    # A condition that failed said the register did not hold what was expected.
    written = op("write", 0, 10, "a")
    assert lin.check([written, op("cas", 20, 30, "b", expected="a", result="fail",
                                  condition_failed=True)]).valid is False
    assert lin.check([written, op("cas", 20, 30, "b", expected="z", result="fail",
                                  condition_failed=True)]).valid is True


def test_registers_are_checked_apart_and_the_failing_one_is_named() -> None:
    calls = [Call("x", "write", 0, 10, "ok", value="a"), Call("y", "read", 20, 30, "ok",
                                                                 value="a")]
    verdict = lin.check(calls)
    assert verdict.valid is False and verdict.key == "y"


def test_the_search_gives_up_as_unknown_not_as_a_verdict() -> None:
    # Many concurrent writes of unknown outcome and one read: a large search space.
    calls = [op("write", i, 10_000, f"v{i}", result="info", process=i) for i in range(30)]
    calls.append(op("read", 20_000, 20_001, "nope", process=99))
    assert lin.check(calls, budget=50).valid is None


# -- the emulator's catch-up: two readers of one delivery ------------------------------
def test_a_reader_waits_for_a_delivery_another_reader_is_applying() -> None:
    entered, release = threading.Event(), threading.Event()
    applied: list[int] = []

    def apply(delivery: Delivery) -> str:
        entered.set()
        assert release.wait(10)
        applied.append(delivery.seq)
        return "applied"

    replicator = Replicator(apply, LagModel(60_000, 0))  # never due by itself
    try:
        replicator.schedule(account="a", table="t", key={}, ident=(), source=W2,
                            targets=[E1], image={}, stamp_ns=1)
        first = threading.Thread(target=replicator.deliver_now, args=(lambda d: True,))
        first.start()
        assert entered.wait(10)
        second_done = threading.Event()

        def second() -> None:
            replicator.deliver_now(lambda d: True)
            second_done.set()

        threading.Thread(target=second).start()
        # The second reader finds nothing queued, but must not return (and read) before
        # the first has applied the write.
        assert not second_done.wait(0.3)
        release.set()
        assert second_done.wait(10) and applied == [1]
        first.join(10)
    finally:
        release.set()
        replicator.stop()


def test_a_claim_lasts_until_the_last_write_of_its_region_returns() -> None:
    """Two writes from us-east-1 hold an item; the first returns. us-east-2 must still
    be refused until the second has returned too (releasing the region's claim with the
    first let a third region's write overlap the second: a lost update)."""
    from gtbench.emulator.mrsc import InFlight

    claims = InFlight()
    first = claims.claim(["k"], E1, until=float("inf"))
    second = claims.claim(["k"], E1, until=float("inf"))
    assert first is not None and second is not None  # one region's writes don't conflict
    claims.release(["k"], first)
    assert claims.claim(["k"], E2, until=float("inf")) is None
    claims.release(["k"], second)
    assert claims.claim(["k"], E2, until=float("inf")) is not None


# -- on the emulator's MRSC tables -----------------------------------------------------
def test_a_write_cut_off_after_its_peer_has_it_is_seen_by_every_strong_read(
        emulator: EmulatorServer, ddb: Callable[[str], Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """us-east-1 writes; us-east-2 (its nearest) gets the write; then us-east-1 is cut
    off before the write returns. The caller gets a 500, but the write is at two of three
    participants: a strong read in us-west-2 must return it, as one in us-east-2 does."""
    strong_table(ddb)
    emulator.app.replicator.lag = LagModel(60_000, 0)  # nothing arrives by itself
    app = emulator.app
    original = app.strong.catch_up
    cut: list[int] = []

    def catch_up_then_cut(account: str, region: str, table: str,
                          idents: set[Any] | None = None) -> None:
        original(account, region, table, idents)
        if region == E2 and not cut:
            cut.append(app.faults.add({"kind": "isolate", "region": E1}).id)

    monkeypatch.setattr(app.strong, "catch_up", catch_up_then_cut)
    with pytest.raises(ClientError) as failed:
        no_retry(emulator)(E1).put_item(TableName="lin", Item={
            "PK": {"S": "lin"}, "SK": {"S": "000"}, "Value": {"S": "x"}})
    assert failed.value.response["Error"]["Code"] == "InternalServerError" and cut
    seen = {region: ddb(region).get_item(TableName="lin", ConsistentRead=True, Key={
        "PK": {"S": "lin"}, "SK": {"S": "000"}}).get("Item") for region in (E2, W2)}
    assert seen[E2] is not None and seen[W2] == seen[E2]


def strong_table(ddb: Callable[[str], Any], name: str = "lin") -> None:
    make_table(ddb(E1), name)
    ddb(E1).update_table(TableName=name, MultiRegionConsistency="STRONG",
                         ReplicaUpdates=[{"Create": {"RegionName": E2}},
                                         {"Create": {"RegionName": W2}}])
    for region in (E1, E2, W2):
        wait_until(lambda r=region: ddb(r).describe_table(  # type: ignore[misc]
            TableName=name)["Table"]["TableStatus"] == "ACTIVE", message=region)


def no_retry(emulator: EmulatorServer) -> Callable[[str], Any]:
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client(region: str) -> Any:
        with lock:
            if region not in clients:
                clients[region] = boto3.client(
                    "dynamodb", region_name=region, endpoint_url=emulator.url,
                    aws_access_key_id="testing", aws_secret_access_key="testing",
                    config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                                  read_timeout=10, max_pool_connections=16))
            return clients[region]

    return client


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """A busy process beside the suite's two workers: the 2-core machine loaded beyond
    its cores (the benchmark runs two)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def run_workload(emulator: EmulatorServer, ddb: Callable[[str], Any],
                 between: Callable[[int], None] | None = None) -> list[Call]:
    strong_table(ddb)
    emulator.app.replicator.lag = LagModel(300, 100)  # the third replica lags well behind
    plan = register.RegisterPlan("lin", (W2, E1, E2), clients_per_region=2, keys=2,
                                 ops_per_client=30)
    return register.run(plan, no_retry(emulator), between)


def assert_linearizable(history: list[Call]) -> lin.Verdict:
    verdict = lin.check(history)
    assert verdict.valid is True, (verdict.describe(), verdict.witness)
    reads = [c for c in history if c.kind == "read" and c.result == "ok"]
    assert len(reads) >= 20 and any(c.value is not None for c in reads)
    # The checker must reject this very history with one planted stale read: a read
    # after a completed write that returns the value the write replaced.
    planted = plant_stale_read(history)
    assert lin.check(planted).valid is False
    return verdict


def plant_stale_read(history: list[Call]) -> list[Call]:
    """The history plus a read, after everything, of a value that a later completed write
    replaced: the stale read MRSC promises never to return."""
    writes = sorted((c for c in history if c.kind != "read" and c.result == "ok"),
                    key=lambda c: c.returned_ns)
    for last in reversed(writes):
        older = [w for w in writes if w.key == last.key and w.returned_ns < last.invoked_ns]
        if older:
            end = max(c.returned_ns for c in history)
            return [*history, Call(last.key, "read", end + 1, end + 2, "ok",
                                   value=older[-1].value, process=999, index=len(history))]
    raise AssertionError("no two sequential writes to one item to plant a stale read on")


def test_strong_reads_and_writes_are_linearizable(emulator: EmulatorServer,
                                                  ddb: Callable[[str], Any]) -> None:
    history = run_workload(emulator, ddb)
    verdict = assert_linearizable(history)
    assert verdict.calls >= 100  # of 180 sent; refused ones (conflicts) constrain nothing
    assert register.summary(history).get("cas_ok", 0) > 0  # conditions were exercised


def test_linearizable_beside_a_cpu_hog(emulator: EmulatorServer, ddb: Callable[[str], Any],
                                       cpu_hog: None) -> None:
    assert_linearizable(run_workload(emulator, ddb))


def test_linearizable_with_a_region_cut_off_part_of_the_time(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    faults: list[int] = []

    def between(n: int) -> None:
        if n == 8:
            fault = control(emulator.url, "faults", "POST", {"kind": "isolate", "region": E1})
            faults.append(fault["fault"]["id"])
        if n == 20 and faults:
            control(emulator.url, f"faults/{faults.pop()}", "DELETE")

    history = run_workload(emulator, ddb, between)
    assert_linearizable(history)
    summary = register.summary(history)
    # The cut region's writes failed with an unknown outcome (500s), and the checker let
    # them land late or never.
    assert summary.get("write_info", 0) + summary.get("cas_info", 0) > 0
    assert not faults
