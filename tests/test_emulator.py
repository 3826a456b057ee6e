"""The emulator behaves like a DynamoDB global table: replicas, lag, last writer wins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from tests.helpers import add_replica, control, global_table, item, key, make_table, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]




def get(ddb: Client, region: str, pk: str, sk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = ddb(region).get_item(
        TableName="tbl", Key=key(pk, sk), ConsistentRead=True).get("Item")
    return found


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# -- replica lifecycle --------------------------------------------------------------------

def test_replica_is_described_from_both_regions_then_deleted(ddb: Client) -> None:
    global_table(ddb, B)
    home = ddb(A).describe_table(TableName="tbl")["Table"]
    replica = ddb(B).describe_table(TableName="tbl")["Table"]
    assert home["GlobalTableVersion"] == replica["GlobalTableVersion"] == "2019.11.21"
    assert home["Replicas"] == [{"RegionName": B, "ReplicaStatus": "ACTIVE"}]
    assert replica["Replicas"] == [{"RegionName": A, "ReplicaStatus": "ACTIVE"}]
    assert replica["KeySchema"] == home["KeySchema"]
    assert replica["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    ddb(A).update_table(TableName="tbl", ReplicaUpdates=[{"Delete": {"RegionName": B}}])
    with pytest.raises(ClientError) as excinfo:
        ddb(B).describe_table(TableName="tbl")
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert "Replicas" not in ddb(A).describe_table(TableName="tbl")["Table"]


def test_replica_reports_creating_with_progress_then_active(ddb: Client,
                                                            emulator: EmulatorServer) -> None:
    # Long enough that a loaded machine still describes the replica while it is CREATING.
    emulator.backend.configure({"replica_create_delay_s": 3.0})
    make_table(ddb(A))
    started = time.monotonic()
    ddb(A).update_table(TableName="tbl", ReplicaUpdates=[{"Create": {"RegionName": B}}])
    home = ddb(A).describe_table(TableName="tbl")["Table"]
    assert home["TableStatus"] == "UPDATING"
    (replica,) = home["Replicas"]
    assert replica["ReplicaStatus"] == "CREATING"
    assert 0 <= int(replica["ReplicaStatusPercentProgress"]) < 100
    assert ddb(B).describe_table(TableName="tbl")["Table"]["TableStatus"] == "CREATING"

    with pytest.raises(ClientError) as excinfo:  # AWS refuses a second update while UPDATING
        ddb(A).update_table(TableName="tbl", ReplicaUpdates=[{"Create": {"RegionName": C}}])
    assert error_code(excinfo) == "ResourceInUseException"

    wait_until(lambda: ddb(A).describe_table(TableName="tbl")["Table"]["TableStatus"] == "ACTIVE",
               message="table ACTIVE")
    assert time.monotonic() - started >= 3.0
    assert ddb(A).describe_table(TableName="tbl")["Table"]["Replicas"][0]["ReplicaStatus"] \
        == "ACTIVE"


@pytest.mark.parametrize(("setup", "update", "code", "words"), [
    ("on-demand", {"Create": {"RegionName": A}}, "ValidationException", "local region"),
    ("provisioned", {"Create": {"RegionName": B}}, "ValidationException", "Pay-Per-Request"),
    ("on-demand", {"Delete": {"RegionName": B}}, "ValidationException", "not part of"),
    ("on-demand", {"Create": {"RegionName": "mars-north-1"}}, "ValidationException", "region"),
])
def test_replica_updates_that_aws_refuses_are_refused(ddb: Client, setup: str,
                                                      update: dict[str, Any], code: str,
                                                      words: str) -> None:
    make_table(ddb(A), billing="PROVISIONED" if setup == "provisioned" else "PAY_PER_REQUEST")
    with pytest.raises(ClientError) as excinfo:
        ddb(A).update_table(TableName="tbl", ReplicaUpdates=[update])
    assert error_code(excinfo) == code
    assert words in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        ddb(B).describe_table(TableName="tbl")  # nothing was created


def test_source_region_cannot_be_removed_within_24_hours(ddb: Client) -> None:
    global_table(ddb, B, C)
    with pytest.raises(ClientError) as excinfo:
        ddb(B).update_table(TableName="tbl", ReplicaUpdates=[{"Delete": {"RegionName": A}}])
    assert "acted as a source" in excinfo.value.response["Error"]["Message"]


# -- replication -------------------------------------------------------------------------

def test_write_is_absent_before_its_lag_and_present_after(ddb: Client,
                                                          emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    emulator.backend.set(lag=LagModel(300, 0))
    ddb(A).put_item(TableName="tbl", Item=item("u1", "v1", Bookmark=7))
    assert get(ddb, A, "u1", "v1") is not None
    assert get(ddb, B, "u1", "v1") is None
    seen = wait_until(lambda: get(ddb, B, "u1", "v1"), message="replicated item")
    assert seen["Bookmark"] == {"N": "7"}
    (row,) = control(emulator.url, "replications")["replications"]
    assert row["outcome"] == "applied"
    assert (row["source_region"], row["target_region"]) == (A, B)
    assert row["key"] == key("u1", "v1")
    assert row["applied_at"] - row["written_at"] >= 0.3


def test_every_write_api_replicates(ddb: Client) -> None:
    global_table(ddb, B)
    ddb(A).put_item(TableName="tbl", Item=item("u", "put"))
    ddb(A).put_item(TableName="tbl", Item=item("u", "upd", n=1))
    ddb(A).update_item(TableName="tbl", Key=key("u", "upd"), UpdateExpression="SET n = n + :one",
                       ExpressionAttributeValues={":one": {"N": "1"}})
    ddb(A).batch_write_item(RequestItems={"tbl": [{"PutRequest": {"Item": item("u", f"b{i}")}}
                                                for i in range(3)]})
    ddb(A).transact_write_items(TransactItems=[
        {"Put": {"TableName": "tbl", "Item": item("u", "tx1")}},
        {"Put": {"TableName": "tbl", "Item": item("u", "tx2")}},
    ])
    expected = {"put", "upd", "b0", "b1", "b2", "tx1", "tx2"}

    def replicated() -> bool:
        items = ddb(B).scan(TableName="tbl", ConsistentRead=True)["Items"]
        return {i["SK"]["S"] for i in items} == expected

    wait_until(replicated, message="all writes in the replica")
    assert get(ddb, B, "u", "upd")["n"] == {"N": "2"}  # type: ignore[index]
    ddb(A).delete_item(TableName="tbl", Key=key("u", "put"))
    wait_until(lambda: get(ddb, B, "u", "put") is None, message="deletion replicated")


def test_backfill_copies_items_written_before_the_replica(ddb: Client) -> None:
    make_table(ddb(A))
    for i in range(30):
        ddb(A).put_item(TableName="tbl", Item=item("user", f"c{i:02}", Bookmark=i))
    add_replica(ddb, B)
    items = ddb(B).scan(TableName="tbl", ConsistentRead=True)["Items"]
    assert len(items) == 30
    assert get(ddb, B, "user", "c17")["Bookmark"] == {"N": "17"}  # type: ignore[index]


def test_a_replica_added_later_receives_later_writes(ddb: Client) -> None:
    global_table(ddb, B)
    add_replica(ddb, C)
    ddb(B).put_item(TableName="tbl", Item=item("late", "x", v=1))
    wait_until(lambda: get(ddb, C, "late", "x"), message="write from B in C")
    wait_until(lambda: get(ddb, A, "late", "x"), message="write from B in A")


# -- last writer wins --------------------------------------------------------------------

def converged(ddb: Client, regions: tuple[str, ...], pk: str, sk: str) -> list[Any]:
    return [get(ddb, r, pk, sk) for r in regions]


def test_later_write_wins_everywhere_even_when_it_arrives_first(
        ddb: Client, emulator: EmulatorServer) -> None:
    global_table(ddb, B, C)
    # A's write crawls to C; B's later write races ahead, so C sees the later write first.
    emulator.backend.set(lag=LagModel(40, 0, {(A, C): (400, 0), (A, B): (400, 0)}))
    ddb(A).put_item(TableName="tbl", Item=item("k", "1", v=1))
    ddb(B).put_item(TableName="tbl", Item=item("k", "1", v=2))
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="all delivered")
    assert [i["v"]["N"] for i in converged(ddb, (A, B, C), "k", "1")] == ["2", "2", "2"]
    outcomes = {(r["source_region"], r["target_region"]): r["outcome"]
                for r in control(emulator.url, "replications")["replications"]}
    assert outcomes[(A, C)] == outcomes[(A, B)] == "superseded"
    assert outcomes[(B, A)] == outcomes[(B, C)] == "applied"


def test_delete_against_put_follows_the_later_write(ddb: Client,
                                                    emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    emulator.backend.set(lag=LagModel(200, 0))
    # later delete wins: the tombstone stops the older put from bringing the item back
    ddb(A).put_item(TableName="tbl", Item=item("d", "1", v=1))
    ddb(B).delete_item(TableName="tbl", Key=key("d", "1"))
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="all delivered")
    assert converged(ddb, (A, B), "d", "1") == [None, None]
    # later put wins over an earlier delete
    ddb(A).put_item(TableName="tbl", Item=item("d", "2", v=1))
    wait_until(lambda: get(ddb, B, "d", "2"), message="put replicated")
    ddb(B).delete_item(TableName="tbl", Key=key("d", "2"))
    ddb(A).put_item(TableName="tbl", Item=item("d", "2", v=3))
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="all delivered")
    assert [i["v"]["N"] for i in converged(ddb, (A, B), "d", "2")] == ["3", "3"]


def test_number_keys_are_one_item_whatever_their_spelling(ddb: Client,
                                                          emulator: EmulatorServer) -> None:
    ddb(A).create_table(TableName="nums", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    add_replica(ddb, B, table="nums")
    emulator.backend.set(lag=LagModel(200, 0))
    ddb(A).put_item(TableName="nums", Item={"id": {"N": "1.0"}, "v": {"S": "first"}})
    ddb(B).put_item(TableName="nums", Item={"id": {"N": "1"}, "v": {"S": "second"}})
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="all delivered")
    for region in (A, B):
        got = ddb(region).get_item(TableName="nums", Key={"id": {"N": "1"}}, ConsistentRead=True)
        assert got["Item"]["v"] == {"S": "second"}, region


def test_conditions_are_evaluated_only_in_the_receiving_region(ddb: Client,
                                                               emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    emulator.backend.set(lag=LagModel(300, 0))
    create_once = {"ConditionExpression": "attribute_not_exists(PK)"}
    ddb(A).put_item(TableName="tbl", Item=item("c", "1", v=1), **create_once)
    ddb(B).put_item(TableName="tbl", Item=item("c", "1", v=2), **create_once)  # B can't see A's
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="all delivered")
    assert [i["v"]["N"] for i in converged(ddb, (A, B), "c", "1")] == ["2", "2"]


# -- ground truth and control -------------------------------------------------------------

def test_pause_and_resume_lose_nothing(ddb: Client, emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    control(emulator.url, "pause", "POST")
    for i in range(20):
        ddb(A).put_item(TableName="tbl", Item=item("p", f"{i:02}"))
    # Every delivery is past due (a condition, not a sleep): none may have arrived.
    wait_until(lambda: all(r["due_at"] < time.time() for r in control(
        emulator.url, "replications")["replications"]), message="every delivery overdue")
    assert ddb(B).scan(TableName="tbl", ConsistentRead=True)["Count"] == 0
    rows = control(emulator.url, "replications")["replications"]
    assert len(rows) == 20
    assert all(r["applied_at"] is None for r in rows)
    assert control(emulator.url, "status")["pending"] == 20
    control(emulator.url, "resume", "POST")
    wait_until(lambda: ddb(B).scan(TableName="tbl", ConsistentRead=True)["Count"] == 20,
               message="all 20 delivered after resume")
    rows = control(emulator.url, "replications")["replications"]
    assert {r["outcome"] for r in rows} == {"applied"}


def test_ground_truth_log_can_be_filtered_and_cleared(ddb: Client,
                                                      emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    ddb(A).put_item(TableName="tbl", Item=item("g", "1"))
    wait_until(lambda: emulator.backend.replicator.pending_count() == 0, message="delivered")
    assert len(control(emulator.url, "replications?table=tbl")["replications"]) == 1
    assert control(emulator.url, "replications?table=other")["replications"] == []
    assert control(emulator.url, "replications", "DELETE") == {"cleared": 1}
    assert control(emulator.url, "replications")["replications"] == []


def test_unsigned_dynamodb_request_is_refused_not_misrouted(emulator: EmulatorServer) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        emulator.url, data=b"{}", method="POST",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                 "Content-Type": "application/x-amz-json-1.0"})
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert "MissingAuthenticationToken" in excinfo.value.read().decode()


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_sees_the_global_table(ddb: Client, emulator: EmulatorServer) -> None:
    global_table(ddb, B)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": B}
    env.pop("AWS_PROFILE", None)

    def aws(*args: str) -> Any:
        done = subprocess.run(["aws", "dynamodb", *args, "--endpoint-url", emulator.url,
                               "--output", "json"], env=env, capture_output=True, text=True,
                              timeout=60, check=True)
        return json.loads(done.stdout) if done.stdout.strip() else None

    described = aws("describe-table", "--table-name", "tbl")["Table"]
    assert described["Replicas"] == [{"RegionName": A, "ReplicaStatus": "ACTIVE"}]
    aws("put-item", "--table-name", "tbl", "--item", json.dumps(item("cli", "1", v=5)))
    wait_until(lambda: get(ddb, A, "cli", "1"), message="CLI write replicated to A")


def test_a_replica_still_creating_serves_no_reads_or_writes_until_active(
        ddb: Client, emulator: EmulatorServer) -> None:
    """AWS answers ResourceNotFoundException in a region whose replica is not ACTIVE
    yet; writes in the home region meanwhile reach it once it is."""
    emulator.backend.configure({"replica_create_delay_s": 3600.0})  # held in CREATING
    make_table(ddb(A))
    ddb(A).update_table(TableName="tbl", ReplicaUpdates=[{"Create": {"RegionName": B}}])
    assert ddb(B).describe_table(TableName="tbl")["Table"]["TableStatus"] == "CREATING"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_item", {"TableName": "tbl", "Item": item("early", "s", V=1)}),
        ("get_item", {"TableName": "tbl", "Key": key("early", "s")}),
        ("transact_write_items", {"TransactItems": [
            {"Put": {"TableName": "tbl", "Item": item("t", "s", V=1)}}]})]
    for name, params in calls:
        with pytest.raises(ClientError) as excinfo:
            getattr(ddb(B), name)(**params)
        assert error_code(excinfo) == "ResourceNotFoundException", name
    ddb(A).put_item(TableName="tbl", Item=item("home", "s", V=2))  # the home region serves
    assert emulator.backend.replicas.complete_creations() == 1
    wait_until(lambda: ddb(B).get_item(TableName="tbl", Key=key("home", "s"),
                                       ConsistentRead=True).get("Item"),
               message="the home region's write in the new replica")
    assert "Item" not in ddb(B).get_item(TableName="tbl", Key=key("early", "s"))


def test_a_transaction_token_applies_once_and_refuses_a_changed_request(
        ddb: Client, emulator: EmulatorServer) -> None:
    """ClientRequestToken: the same TransactWriteItems twice adds 1 (and replicates
    once); a changed request with the same token is IdempotentParameterMismatch."""
    global_table(ddb, B)
    request = {"TransactItems": [{"Update": {
        "TableName": "tbl", "Key": key("n", "s"), "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}}}}],
        "ClientRequestToken": "token-1"}
    first = ddb(A).transact_write_items(**request)
    second = ddb(A).transact_write_items(**request)
    assert first.keys() == second.keys()
    assert ddb(A).get_item(TableName="tbl", Key=key("n", "s"))["Item"]["n"] == {"N": "1"}
    changed = {**request, "TransactItems": [{"Update": {
        **request["TransactItems"][0]["Update"],  # type: ignore[index]
        "ExpressionAttributeValues": {":one": {"N": "5"}}}}]}
    with pytest.raises(ClientError) as excinfo:
        ddb(A).transact_write_items(**changed)
    assert error_code(excinfo) == "IdempotentParameterMismatchException"
    # Per region: the same token in another region is another request.
    ddb(B).transact_write_items(**request)
    control(emulator.url, "settle", "POST", {"timeout_s": 10})
    rows = [r for r in control(emulator.url, "replications")["replications"]
            if r["key"] == key("n", "s")]
    assert sorted(r["source_region"] for r in rows) == sorted([A, B])  # one from each


def test_delete_table_answers_deleting(ddb: Client) -> None:
    make_table(ddb(A))
    answer = ddb(A).delete_table(TableName="tbl")["TableDescription"]
    assert answer["TableStatus"] == "DELETING"


def test_a_transaction_token_lasts_ten_minutes_from_the_first_answer() -> None:
    """The window is counted from the first request's completion; after it, the same
    token is a new request (the Tokens clock held by the test)."""
    from gtbench.emulator.idempotency import WINDOW_S, Tokens

    now = [1000.0]
    tokens: Tokens[str] = Tokens(now=lambda: now[0])
    applied: list[int] = []

    def apply() -> tuple[str, bool]:
        applied.append(1)
        now[0] += 5.0  # the transaction took 5 s to complete
        return f"answer {len(applied)}", True

    def refuse(code: str, message: str) -> str:
        return code

    payload = {"TransactItems": [], "ClientRequestToken": "t"}
    assert tokens.run("acct", A, "t", payload, apply, refuse) == "answer 1"
    now[0] += WINDOW_S - 1  # inside the window counted from the completion
    assert tokens.run("acct", A, "t", payload, apply, refuse) == "answer 1"
    assert tokens.run("acct", A, "t", {**payload, "X": 1}, apply, refuse) \
        == "IdempotentParameterMismatchException"
    now[0] += 2  # past it: a new request
    assert tokens.run("acct", A, "t", payload, apply, refuse) == "answer 2"
    assert len(applied) == 2


def test_reset_with_a_config_restores_every_setting(emulator: EmulatorServer) -> None:
    """A test's changes (lag, delays, distance, capacity, FIS delay) are gone after a
    reset with a config: tests reset through it, not field by field."""
    from gtbench.emulator.distance import Distance
    from gtbench.emulator.server import EmulatorConfig

    emulator.backend.configure({"lag_ms": 900, "replica_create_delay_s": 5, "fis_delay_s": 3})
    emulator.backend.set(distance=Distance("us-west-2"))
    control(emulator.url, "capacity", "POST", {"wcu": 4})
    control(emulator.url, "pause", "POST")
    emulator.backend.reset(EmulatorConfig(lag=LagModel(40, 10)))
    status = control(emulator.url, "status")
    assert (status["lag"]["lag_ms"], status["lag"]["jitter_ms"]) == (40, 10)
    assert status["replica_create_delay_s"] == EmulatorConfig().replicas.create_delay_s
    assert status["fis_delay_s"] == 0 and status["paused"] is False
    assert status["capacity"]["wcu"] == {} and not status["distance"].get("client_region")
