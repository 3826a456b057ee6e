"""gtbench.testing: the ``global_tables`` fixture and its controller, as an application's
test suite uses them (the fixture comes from gtbench's own pytest11 entry point here
too: this suite has no conftest for it)."""

from __future__ import annotations

import os
import re
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import gtbench.testing
from gtbench.emulator.agreement import lost_writes
from gtbench.testing import GlobalTables
from tests.helpers import item, key

A, B, C = "us-west-2", "eu-west-1", "us-east-1"
STRONG_SET = ("us-west-2", "us-east-1", "us-east-2")
ONCE = Config(retries={"total_max_attempts": 1})  # see each fault, not botocore's retries


def get(region: str, pk: str, sk: str = "s", **kwargs: Any) -> dict[str, Any] | None:
    found: dict[str, Any] | None = boto3.client("dynamodb", region_name=region).get_item(
        TableName="t-app", Key=key(pk, sk), **kwargs).get("Item")
    return found


def put(region: str, pk: str, value: int, sk: str = "s") -> None:
    boto3.client("dynamodb", region_name=region).put_item(TableName="t-app",
                                                          Item=item(pk, sk, V=value))


def test_the_fixture_points_boto3_at_the_emulator(global_tables: GlobalTables) -> None:
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == global_tables.endpoint_url
    assert global_tables.endpoint_url.startswith("http://127.0.0.1:")
    global_tables.create_table("t-app")
    # The application's own client, with no endpoint and no credentials of its own.
    assert "t-app" in boto3.client("dynamodb", region_name=B).list_tables()["TableNames"]
    table = boto3.resource("dynamodb", region_name=A).Table("t-app")
    table.put_item(Item={"PK": "p", "SK": "s", "Position": 5})
    global_tables.settle()
    assert get(B, "p") == item("p", "s", Position=5)


def test_hold_deliver_and_release_apply_replications_in_order(
        global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app")
    global_tables.hold()
    put(A, "k", 1)
    put(A, "k", 2)
    put(B, "other", 7)
    assert global_tables.pending() == 3 and get(B, "k") is None and get(A, "other") is None
    assert global_tables.deliver(1) == 1
    assert get(B, "k") == item("k", "s", V=1)  # the first write first
    assert global_tables.deliver(1) == 1
    assert get(B, "k") == item("k", "s", V=2)
    assert get(A, "other") is None  # written last, due last
    assert global_tables.deliver() == 1 and global_tables.pending() == 0
    assert get(A, "other") == item("other", "s", V=7)
    # Held writes to one item from both regions: last writer wins, as when running free.
    put(A, "both", 1)
    put(B, "both", 2)
    assert not global_tables.replicas_agree("t-app")
    global_tables.release()
    global_tables.settle()
    assert get(A, "both") == get(B, "both") == item("both", "s", V=2)
    (lost,) = global_tables.lost_writes("t-app")
    assert (lost.region, lost.item, lost.lost_to_region) == (A, {"PK": "both", "SK": "s",
                                                                "V": 1}, B)


def test_settle_says_why_the_replicas_cannot_agree(global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app")
    global_tables.hold()
    put(A, "k", 1)
    with pytest.raises(AssertionError, match=r"replication is held \(hold\(\)\): 1 "
                                             r"replication waiting"):
        global_tables.settle(timeout=30)  # at once: held replication cannot settle
    global_tables.release()
    global_tables.settle()
    global_tables.pause(A, B)  # one direction only
    put(A, "k", 2)
    put(B, "back", 3)
    with pytest.raises(AssertionError) as failure:
        global_tables.settle(timeout=0.3)
    said = str(failure.value)
    assert "1 replication still waiting after 0.3 s (faults in force: pause us-west-2 to " \
           "eu-west-1)" in said
    assert 'the replicas of t-app differ on 1 item: key {"PK": {"S": "k"}, "SK": {"S": ' \
           '"s"}}' in said
    assert get(A, "back") is not None  # the other direction went on
    global_tables.restore()
    global_tables.settle()
    assert get(B, "k") == item("k", "s", V=2)


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0, True])
def test_settle_refuses_a_timeout_that_is_not_seconds(global_tables: GlobalTables,
                                                      timeout: float) -> None:
    """settle(inf) once raised OverflowError and settle(nan) blamed the connection."""
    with pytest.raises(ValueError, match="settle"):
        global_tables.settle(timeout)


def test_lag_per_direction(global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app")
    global_tables.lag(250, source=A, destination=B)
    put(A, "ab", 1)
    put(B, "ba", 1)
    global_tables.settle()
    delays = {(r["source_region"], r["target_region"]): r["due_at"] - r["written_at"]
              for r in global_tables.history("t-app")}
    assert delays[(A, B)] == pytest.approx(0.25, abs=1e-3)
    assert delays[(B, A)] == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(gtbench.testing.EmulatorError, match="names both source"):
        global_tables.lag(5, source=A)


def test_each_test_starts_empty(global_tables: GlobalTables) -> None:
    # Whatever the tests before left (tables, faults, a hold, a lag), this one sees none.
    for region in (A, B, C):
        assert global_tables.client(region).list_tables()["TableNames"] == []
    status = global_tables._call("GET", "status")
    assert status["faults"] == [] and not status["paused"]
    assert (status["lag"]["lag_ms"], status["lag"]["jitter_ms"], status["lag"]["pairs"],
            status["lag"]["network"]) == (0, 0, {}, False)
    assert global_tables.history() == []
    assert status["capacity"]["wcu"] == {}  # every replica on-demand
    global_tables.create_table("t-app")
    global_tables.hold()
    global_tables.lag(100)
    global_tables.isolate(B)
    global_tables.capacity(5)


def test_a_provisioned_table_queues_replicated_writes_and_refuses_writes_beyond_it(
        global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app")
    global_tables.capacity(4)  # 4 write units a second in every replica, as AWS sets it
    global_tables.clock("virtual")  # the capacity's queues judged in virtual seconds
    once = Config(retries={"total_max_attempts": 1})
    client = {r: boto3.client("dynamodb", region_name=r, config=once) for r in (A, B)}
    # Four writes in one request: Oregon takes a second's worth, and they reach Ireland
    # together.
    client[A].batch_write_item(RequestItems={"t-app": [
        {"PutRequest": {"Item": item(f"a{n}", "s", V=n)}} for n in range(4)]})
    # Replicated writes use Ireland's capacity as its own do: one more write of its own
    # fits in its second of burst, the next is refused, as AWS refuses writes beyond
    # capacity. Oregon, which counts Ireland's write too, refuses its next as well.
    client[B].put_item(TableName="t-app", Item=item("b", "s", V=0))
    for region in (B, A):
        with pytest.raises(ClientError) as refused:
            client[region].put_item(TableName="t-app", Item=item("late", "s", V=0))
        assert refused.value.response["Error"]["Code"] == \
            "ProvisionedThroughputExceededException", region
    global_tables.settle()
    to_b = sorted((r for r in global_tables.history("t-app") if r["target_region"] == B),
                  key=lambda r: r["due_at"])
    # Each of Oregon's writes is applied in Ireland a quarter second after the one
    # before it (the lag is 0): replication falls behind at the capacity.
    waits = [r["due_at"] - r["written_at"] for r in to_b]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75], abs=1e-3)


def test_a_strong_table_reads_the_latest_write_while_replication_is_held(
        global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app", STRONG_SET, consistency="strong")
    described = global_tables.client(A).describe_table(TableName="t-app")["Table"]
    assert described["MultiRegionConsistency"] == "STRONG"
    assert {r["ReplicaStatus"] for r in described["Replicas"]} == {"ACTIVE"}
    global_tables.hold()
    put(A, "k", 1)
    for region in STRONG_SET[1:]:
        assert get(region, "k", ConsistentRead=True) == item("k", "s", V=1), region
    # Cut off, an MRSC region fails its writes (500), as AWS FIS makes it.
    global_tables.isolate(A)
    with pytest.raises(ClientError) as refused:
        boto3.client("dynamodb", region_name=A, config=ONCE).put_item(
            TableName="t-app", Item=item("k", "s", V=2))
    assert refused.value.response["Error"]["Code"] == "InternalServerError"
    global_tables.restore()
    global_tables.release()
    global_tables.settle()
    assert global_tables.lost_writes("t-app") == []
    global_tables.create_table("t-witness", ("us-east-1", "us-east-2"), consistency="strong",
                               witness="us-west-2")
    with pytest.raises(ValueError, match="exactly three regions"):
        global_tables.create_table("t-two", ("us-east-1", "us-east-2"), consistency="strong")


def test_faults_fail_requests_and_hold_replication_until_restored(
        global_tables: GlobalTables) -> None:
    global_tables.create_table("t-app")
    global_tables.outage(B)
    with pytest.raises(ClientError) as down:
        boto3.client("dynamodb", region_name=B, config=ONCE).get_item(
            TableName="t-app", Key=key("k", "s"))
    assert down.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    put(A, "k", 1)  # on its way to Ireland, held while Ireland is down
    global_tables.restore()
    global_tables.throttle(A, 1.0, operations=["PutItem"])
    with pytest.raises(ClientError) as throttled:
        boto3.client("dynamodb", region_name=A, config=ONCE).put_item(
            TableName="t-app", Item=item("k", "s", V=2))
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    global_tables.restore()
    global_tables.isolate(B, seconds=60)
    put(B, "cut", 1)  # an MREC region cut off goes on serving
    assert get(B, "cut") is not None and get(A, "cut") is None
    global_tables.restore()
    global_tables.settle()
    assert get(B, "k") == item("k", "s", V=1) and get(A, "cut") is not None


def test_next_to_moto_mock_aws_the_tables_stay_and_dynamodb_reaches_the_emulator(
        global_tables: GlobalTables) -> None:
    from moto import mock_aws

    global_tables.create_table("t-app")
    put(A, "before", 1)
    passthrough = {"core": {"passthrough": {"urls": [rf"{global_tables.endpoint_url}/.*"]}}}
    with mock_aws(config=passthrough):  # type: ignore[call-overload]
        s3 = boto3.client("s3", region_name=A)
        s3.create_bucket(Bucket="app-assets", CreateBucketConfiguration={
            "LocationConstraint": A})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["app-assets"]
        put(B, "during", 2)  # DynamoDB goes to the emulator, not to moto
        assert get(B, "before") is not None  # moto's reset did not touch the emulator
    global_tables.settle()
    assert get(A, "during") == item("during", "s", V=2)


def test_lost_writes_follow_each_items_line_of_descent() -> None:
    def row(stamp: int, region: str, pk: str, parent: int | None, kind: str = "put"
            ) -> dict[str, Any]:
        return {"table": "t", "key": key(pk, "s"), "source_region": region, "kind": kind,
                "image": None if kind == "delete" else item(pk, "s", V=stamp),
                "written_at": stamp / 1e9, "stamp_ns": stamp, "parent_stamp_ns": parent}

    rows = [row(1, A, "seq", None), row(2, B, "seq", 1),  # B saw A's write: replaced
            row(3, A, "race", None), row(4, B, "race", None),  # concurrent: 3 lost
            row(5, A, "del", None), row(6, B, "del", None, kind="delete"),  # lost to delete
            row(7, A, "three", None), row(8, B, "three", None), row(9, A, "three", 7)]
    rows += [dict(r, target_region="x") for r in rows]  # one row per target: one write
    lost = lost_writes(rows)
    assert [(w["stamp_ns"], w["lost_to"]["region"]) for w in lost] == [(3, B), (5, B), (8, A)]


def test_the_plugin_comes_from_the_entry_point_and_restores_the_environment(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [e.value for e in entry_points(group="pytest11") if e.name == "gtbench"] == [
        "gtbench.testing.plugin"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "outer-key")
    monkeypatch.setenv("AWS_PROFILE", "outer-profile")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    pytester.makepyfile(test_app=textwrap.dedent("""
        import os

        def test_uses_the_fixture(global_tables):
            assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
            assert "AWS_PROFILE" not in os.environ
            global_tables.create_table("made-here")

        def test_after_it_the_environment_is_as_before():
            assert os.environ["AWS_ACCESS_KEY_ID"] == "outer-key"
            assert os.environ["AWS_PROFILE"] == "outer-profile"
            assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ

        def test_and_the_next_test_starts_empty(global_tables):
            assert global_tables.client("us-west-2").list_tables()["TableNames"] == []
        """))
    # The first example of docs/testing.md, as printed.
    docs = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    pytester.makepyfile(test_docs=re.findall(r"```python\n(.*?)```", docs, re.S)[0])
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    # Without plugin autoloading there is no such fixture: it came from the entry point.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    bare = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "fixture 'global_tables' not found" in bare.stdout.str()


def test_under_xdist_each_worker_has_an_emulator_of_its_own(pytester: pytest.Pytester
                                                             ) -> None:
    pytester.makepyfile(test_many=textwrap.dedent("""
        import os, pathlib, pytest

        @pytest.mark.parametrize("n", range(4))
        def test_same_table_name(global_tables, n):
            global_tables.create_table("shared")  # in each worker's emulator, once a test
            pathlib.Path(f"url-{n}").write_text(
                global_tables.endpoint_url + " " + os.environ["PYTEST_XDIST_WORKER"])
        """))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "load", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    seen = {p.read_text() for p in pytester.path.glob("url-*")}
    assert len({s.split()[0] for s in seen}) == len({s.split()[1] for s in seen}) == 2


def test_the_context_manager_outside_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with gtbench.testing.global_tables(lag_ms=250) as gt:
        assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == gt.endpoint_url
        gt.create_table("t-app")
        put(A, "k", 1)
        gt.settle()
        (row,) = gt.history("t-app")
        assert row["due_at"] - row["written_at"] == pytest.approx(0.25, abs=1e-3)
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ


def test_a_lost_write_prints_plain_values() -> None:
    """What a failing assertion shows: 600, not {"N": "600"}; a delete said as one."""
    from gtbench.testing import LostWrite

    lost = LostWrite("bookmarks", A, {"PK": {"S": "u"}}, {"PK": {"S": "u"}, "s": {"N": "600"}},
                     1.5, B, None)
    shown = repr(lost)
    assert "'s': 600" in shown and '"N"' not in shown and "{'N'" not in shown
    assert "lost_to_item=None (deleted)" in shown
    assert lost.item == {"PK": "u", "s": 600} and lost.lost_to_item is None


def test_one_test_runs_on_both_kinds_and_an_escaped_client_is_caught(
        pytester: pytest.Pytester) -> None:
    """docs/testing.md's cart example, as printed, runs once per kind and shows the bug
    on MREC only; a client made at import time fails its call instead of leaving."""
    docs = (Path(__file__).parent.parent / "docs" / "testing.md").read_text()
    section = docs[docs.index("## Both kinds of table"):]
    pytester.makepyfile(test_cart=re.findall(r"```python\n(.*?)```", section, re.S)[0])
    pytester.makepyfile(test_escape=textwrap.dedent("""
        import boto3, pytest
        from gtbench.testing.plugin import EscapedClientError

        EARLY = boto3.client("dynamodb", region_name="us-west-2",
                             endpoint_url="http://127.0.0.1:9",
                             aws_access_key_id="real", aws_secret_access_key="real")

        def test_a_client_made_at_import_time(global_tables):
            with pytest.raises(EscapedClientError, match="escaped the global_tables"):
                EARLY.list_tables()

        """))
    pytester.makepyfile(test_weak=textwrap.dedent("""
        import pytest

        @pytest.mark.global_tables(consistency=["weak"])
        def test_a_kind_that_does_not_exist(global_tables):
            pass
        """))
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider",
                                           "-v", "--continue-on-collection-errors")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*takes 'eventual' and/or 'strong', not ?'weak'?*"])
    result.stdout.fnmatch_lines(["*test_a_cart_keeps_what_two_regions_add?eventual? PASSED*",
                                 "*test_a_cart_keeps_what_two_regions_add?strong? PASSED*"])
