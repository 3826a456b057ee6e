"""setup, status and teardown end to end through the CLI, on the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner, Result

from gtbench.cli import cli
from gtbench.emulator.server import EmulatorServer
from gtbench.errors import GtbenchError
from gtbench.local.lifecycle import free_port
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision, teardown
from tests.helpers import control, key, make_table, run_cli, wait_until

A, B, C = "us-west-2", "eu-west-1", "ap-northeast-1"
Client = Callable[[str], Any]


def run(emulator: EmulatorServer, *args: str, regions: str = f"{A},{B}") -> Result:
    result: Result = run_cli(emulator.url, *args, regions=regions)
    return result


def one_error_line(result: Result) -> str:
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 1 and lines[-1].startswith("gtbench: error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def absent(client: Any, table: str = "global-serverless") -> bool:
    try:
        client.describe_table(TableName=table)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def test_setup_creates_replicates_and_seeds(emulator: EmulatorServer, ddb: Client) -> None:
    result = run(emulator, "setup", "--json", "--bookmarks", "60")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["created"] is True and document["owned"] is True
    assert document["replicas_added"] == [B]
    assert [(r["region"], r["table_status"], r["items"]) for r in document["regions"]] == \
        [(A, "ACTIVE", 73), (B, "ACTIVE", 73)]
    home = ddb(A).describe_table(TableName="global-serverless")["Table"]
    assert home["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in home["KeySchema"]] == ["PK", "SK"]
    bookmark = ddb(B).get_item(TableName="global-serverless", Key=key("user100", "AshlandValley"))
    assert bookmark["Item"]["Bookmark"] == {"N": "0"}
    catalog = ddb(B).query(TableName="global-serverless", KeyConditionExpression="PK = :p",
                           ExpressionAttributeValues={":p": {"S": "library"}})["Items"]
    assert [i["title"]["S"] for i in catalog][:2] == ["Sprite Fright", "Coffee Run"]
    assert len(catalog) == 12
    assert "local emulator at" in result.stderr  # the one line that says where it runs


def test_setup_again_completes_and_never_overwrites(emulator: EmulatorServer,
                                                    ddb: Client) -> None:
    assert run(emulator, "setup").exit_code == 0
    ddb(A).update_item(TableName="global-serverless", Key=key("user100", "AshlandValley"),
                       UpdateExpression="SET Bookmark = :v",
                       ExpressionAttributeValues={":v": {"N": "42"}})
    result = run(emulator, "setup", "--json", regions=f"{A},{B},{C}")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["created"] is False
    assert document["replicas_added"] == [C]
    assert document["items_written"] == 0
    for region in (A, B, C):
        got = ddb(region).get_item(TableName="global-serverless", ConsistentRead=True,
                                   Key=key("user100", "AshlandValley"))
        assert got["Item"]["Bookmark"] == {"N": "42"}, region


def test_setup_uses_a_foreign_table_but_teardown_refuses_it(emulator: EmulatorServer,
                                                            ddb: Client) -> None:
    make_table(ddb(A), "global-serverless")
    assert run(emulator, "setup").exit_code == 0
    refused = run(emulator, "teardown", "--yes")
    assert "not created by gtbench" in one_error_line(refused)
    assert not absent(ddb(A)) and not absent(ddb(B))
    forced = run(emulator, "teardown", "--yes", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert absent(ddb(A)) and absent(ddb(B))


def test_setup_refuses_a_table_with_other_keys(emulator: EmulatorServer, ddb: Client) -> None:
    ddb(A).create_table(TableName="global-serverless", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    line = one_error_line(run(emulator, "setup"))
    assert "other keys" in line
    assert absent(ddb(B))  # nothing was changed
    assert "Replicas" not in ddb(A).describe_table(TableName="global-serverless")["Table"]


def test_status_sees_disagreement_while_replication_is_paused(emulator: EmulatorServer,
                                                              ddb: Client) -> None:
    assert run(emulator, "setup").exit_code == 0
    control(emulator.url, "pause", "POST")
    ddb(A).put_item(TableName="global-serverless",
                    Item={**key("user100", "SpriteFright"), "Bookmark": {"N": "5"}})
    paused = json.loads(run(emulator, "status", "--json").stdout)
    assert paused["agreement"]["agree"] is False
    assert paused["agreement"]["differing"][0]["regions"] == {A: "same", B: "missing"}
    assert [r["items"] for r in paused["regions"]] == [14, 13]
    control(emulator.url, "resume", "POST")

    def agreed() -> bool:
        return bool(json.loads(run(emulator, "status", "--json").stdout)["agreement"]["agree"])

    wait_until(agreed, message="replicas agree after resume")


def test_teardown_removes_replicas_then_the_table(emulator: EmulatorServer,
                                                  ddb: Client) -> None:
    assert run(emulator, "setup", regions=f"{A},{B},{C}").exit_code == 0
    declined = CliRunner().invoke(cli, ["teardown", "--endpoint-url", emulator.url], input="n\n")
    assert declined.exit_code != 0 and not absent(ddb(A))
    result = run(emulator, "teardown", "--yes")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.index(f"removing replica {C}") < result.stderr.index(
        f"removing replica {B}") < result.stderr.index("deleting table")
    assert all(absent(ddb(r)) for r in (A, B, C))
    assert "does not exist" in one_error_line(run(emulator, "teardown", "--yes"))


def test_teardown_explains_the_24_hour_source_rule(emulator: EmulatorServer,
                                                   ddb: Client) -> None:
    assert run(emulator, "setup").exit_code == 0
    ddb(B).update_table(TableName="global-serverless",
                        ReplicaUpdates=[{"Create": {"RegionName": C}}])  # B is C's source
    settings = Settings(endpoint_url=emulator.url, regions=(A, B, C))
    regions = open_regions(settings)
    plan = teardown.plan(regions, settings, force=False)
    plan.replicas = [C, B]  # remove B while C, which B seeded, is still there
    with pytest.raises(GtbenchError, match="24 hours"):
        teardown.run(regions, settings, plan, timing=provision.Timing(10, 0.05))
    assert not absent(ddb(B))


@pytest.mark.parametrize(("args", "words"), [
    (["status", "--regions", "us-west-2,mars-1"], "unknown region 'mars-1'"),
    (["status", "--regions", "us-west-2,us-west-2"], "given twice"),
    (["status", "--regions", "us-west-2"], "at least two regions"),
    (["status"], "does not exist"),
    (["teardown", "--yes"], "does not exist"),
])
def test_bad_input_is_one_line(emulator: EmulatorServer, args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, [*args, "--endpoint-url", emulator.url])
    assert words in one_error_line(result)


def test_unreachable_emulator_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    result = CliRunner().invoke(cli, ["status", "--endpoint-url", url])
    assert "cannot reach" in one_error_line(result)
