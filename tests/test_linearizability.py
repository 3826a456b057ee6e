"""The linearizability checker on hand-made histories, then on MRSC tables of the
emulator: quiet, beside a CPU hog, and with a region cut off part of the time."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from gtbench.analysis import linearizability as lin
from gtbench.analysis.linearizability import Call
from gtbench.emulator.replication import Delivery, LagModel, Replicator
from gtbench.emulator.server import EmulatorServer
from gtbench.experiments import register_workload as register
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
    # Many concurrent writes, each read by a read of its own, and one read of a value
    # never written: every order of the writes is a state of the search.
    calls = [op("write", i, 10_000, f"v{i}", process=i) for i in range(30)]
    calls += [op("read", i, 10_000, f"v{i}", process=100 + i) for i in range(30)]
    calls.append(op("read", 20_000, 20_001, "nope", process=99))
    assert lin.check(calls, budget=5_000).valid is None


def test_many_writes_of_unknown_outcome_are_checked_not_given_up_on() -> None:
    # A region cut off: 24 writes and conditional writes that never returned, two of
    # them seen; then six times a write, a read of it, and a condition that says it was
    # overwritten by then, which only an unknown write landing in between explains. The
    # plain search tries every subset of the unknown writes in every gap (3.8 million
    # steps to reject the stale read at the end); the checker must answer at once.
    calls = [op("write", 0, 10, "a"), op("write", 20, 30, "b", process=1)]
    calls += [op("write", 40 + i, 10**9, f"lost{i}", result="info", process=10 + i)
              for i in range(16)]
    calls += [op("cas", 60 + i, 10**9, f"maybe{i}", expected="b", result="info",
                 process=30 + i) for i in range(8)]
    calls += [op("read", 100, 110, "maybe3", process=2),
              op("read", 120, 130, "lost5", process=2)]
    for k in range(6):
        t = 200 + 100 * k
        calls += [op("write", t, t + 10, f"p{k}", process=50 + k),
                  op("read", t + 20, t + 30, f"p{k}", process=60 + k),
                  op("cas", t + 40, t + 50, f"x{k}", expected=f"p{k}", result="fail",
                     condition_failed=True, process=70 + k)]
    assert lin.check(calls, budget=20_000).valid is True
    verdict = lin.check([*calls, op("read", 2000, 2010, "a", process=3)], budget=20_000)
    assert verdict.valid is False and verdict.stuck is not None
    assert verdict.stuck.value == "a"  # named as it was, not as the search saw it


def test_an_unknown_write_is_not_passed_over_for_one_under_another_condition() -> None:
    # Only the unknown write landing explains the failed condition; the unknown
    # conditional write invoked after it expects a value the register never held.
    calls = [op("write", 0, 10, "e"), op("write", 20, 10**9, "lost", result="info", process=1),
             op("cas", 30, 10**9, "c", expected="zzz", result="info", process=2),
             op("cas", 40, 50, "x", expected="e", result="fail", condition_failed=True,
                process=3)]
    assert lin.check(calls).valid is True
    assert lin.check([c for c in calls if c.value != "lost"]).valid is False


def _brute_force(calls: Sequence[Call]) -> bool:
    """The definition itself: some order of the calls that respects real time, in which
    the ok calls all happened, unknown ones happened or not, and every call's answer
    follows from the register's state."""
    known = [c for c in calls if c.result != "info"]
    unknown = [c for c in calls if c.result == "info"]
    for n in range(len(unknown) + 1):
        for landed in itertools.combinations(unknown, n):
            for order in itertools.permutations([*known, *landed]):
                if any(a.returned_ns < b.invoked_ns and a.result != "info"
                       for i, b in enumerate(order) for a in order[i + 1:]):
                    continue  # a call placed before one that returned before it began
                state: Hashable = lin.ABSENT
                for call in order:
                    possible, state = lin._step(state, call)  # the checker's own model
                    if not possible:
                        break
                else:
                    return True
    return False


@st.composite
def small_histories(draw: st.DrawFn) -> list[Call]:
    """Up to six calls on one register: overlapping, some of unknown outcome, values
    drawn from a small set so that reads and conditions see some of them."""
    calls = []
    for i in range(draw(st.integers(1, 6))):
        kinds: list[lin.Kind] = ["read", "write", "cas"]
        kind = draw(st.sampled_from(kinds))
        results: list[lin.Result] = ["ok", "ok", "info"] if kind != "read" else ["ok"]
        result = draw(st.sampled_from(results))
        start = draw(st.integers(0, 40))
        end = 10**6 if result == "info" else start + draw(st.integers(1, 30))
        value = draw(st.sampled_from([None, "a", "b"])) if kind == "read" else f"w{i}"
        expected = draw(st.sampled_from([None, "w0", "w1", "w2"])) if kind == "cas" else None
        condition_failed = kind == "cas" and result == "ok" and draw(st.booleans())
        outcome: lin.Result = "fail" if condition_failed else result
        calls.append(Call("k", kind, start, end, outcome,
                          value=value if kind != "read" or value is None
                          else f"w{draw(st.integers(0, 5))}",
                          expected=expected, condition_failed=condition_failed,
                          process=i, index=i))
    return calls


@settings(max_examples=300, deadline=None)
@given(small_histories())
def test_the_checker_agrees_with_the_definition(calls: list[Call]) -> None:
    relevant = [c for c in calls if lin._relevant(c)]
    assert lin.check(calls).valid is _brute_force(relevant), calls


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
    emulator.backend.set(lag=LagModel(60_000, 0))  # nothing arrives by itself
    app = emulator.app
    original = app.strong.catch_up
    cut: list[int] = []

    def catch_up_then_cut(account: str, region: str, table: str,
                          idents: set[Any] | None = None) -> None:
        original(account, region, table, idents)
        if region == E2 and not cut:
            cut.append(emulator.backend.faults.add({"kind": "isolate", "region": E1}).id)

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
    from benchmarks.common import cpu_hogs

    with cpu_hogs(1):
        yield


def run_workload(emulator: EmulatorServer, ddb: Callable[[str], Any],
                 between: Callable[[int], None] | None = None) -> list[Call]:
    strong_table(ddb)
    emulator.backend.set(lag=LagModel(300, 100))  # the third replica lags well behind
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
