"""Paths only real AWS takes: account id, the confirmation prompt, credential errors.

moto's in-process mock stands in for STS and DynamoDB; botocore's Stubber for
errors that moto does not produce.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from gtbench.awserrors import describe_aws_error
from gtbench.cli import cli
from gtbench.cli import provision as provision_cli
from gtbench.regions import AWS, Regions, Settings
from tests.helpers import make_table


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("AWS_PROFILE", "GTBENCH_ENDPOINT_URL", "GTBENCH_TARGET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    yield


def test_setup_on_aws_names_the_account_and_asks_first(aws_env: None) -> None:
    with mock_aws():
        result = CliRunner().invoke(cli, ["setup", "--target", "aws"], input="n\n")
        tables = boto3.client("dynamodb", region_name="us-west-2").list_tables()["TableNames"]
    assert result.exit_code != 0
    assert "AWS account 123456789012" in result.stderr
    assert "billable" in result.stderr and "eu-west-1" in result.stderr
    assert "aborted" in result.stderr.strip().splitlines()[-1]
    assert tables == []  # declining created nothing


def test_teardown_on_aws_asks_before_deleting(aws_env: None) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-west-2")
        client.create_table(
            TableName="global-serverless", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                       {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            Tags=[{"Key": "gtbench:created-by", "Value": "gtbench test"}])
        result = CliRunner().invoke(cli, ["teardown", "--target", "aws"], input="n\n")
        still_there = client.list_tables()["TableNames"]
    assert "Delete table global-serverless" in result.stderr
    assert "AWS account 123456789012" in result.stderr
    assert result.exit_code != 0 and still_there == ["global-serverless"]


@pytest.mark.parametrize(("command", "what"), [
    (["race", "--trials", "7"], "Write 7 new items under PK=gtbench-race in us-west-2"),
    (["conflict", "--trials", "3", "--offsets", "0,500"],
     "Make 12 writes to 6 new items under PK=gtbench-conflict"),
])
def test_experiments_on_aws_say_what_they_write_and_ask_first(
        aws_env: None, command: list[str], what: str) -> None:
    with mock_aws():
        # The table exists (a missing one is said before anything is asked).
        make_table(boto3.client("dynamodb", region_name="us-west-2"), "global-serverless")
        result = CliRunner().invoke(cli, [*command, "--target", "aws"], input="n\n")
        client = boto3.client("dynamodb", region_name="us-west-2")
        tables = client.list_tables()["TableNames"]
        items = client.scan(TableName="global-serverless")["Count"]
    assert result.exit_code != 0
    assert what in result.stderr and "AWS account 123456789012" in result.stderr
    assert "billable" in result.stderr
    assert "aborted" in result.stderr.strip().splitlines()[-1]
    assert tables == ["global-serverless"] and items == 0  # nothing made, nothing written


def test_no_credentials_is_one_line(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(cli, ["status", "--target", "aws"])
    assert result.exit_code != 0
    assert result.stderr.strip() == ("gtbench: error: no AWS credentials found (set AWS_PROFILE "
                                     "or pass --profile, or run `aws configure`)")


def test_unknown_profile_is_one_line(aws_env: None) -> None:
    result = CliRunner().invoke(cli, ["status", "--target", "aws", "--profile", "nope"])
    assert result.exit_code == 2
    assert "profile 'nope' is not configured" in result.stderr.strip()


def test_access_denied_is_one_line(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.Session(region_name="us-west-2")
    regions = Regions(Settings(target=AWS), None, session)
    sts = regions.any_client("sts")
    stubber = Stubber(sts)
    stubber.add_client_error("get_caller_identity", service_error_code="AccessDenied",
                             service_message="User is not authorized to perform "
                                             "sts:GetCallerIdentity", http_status_code=403)
    stubber.activate()

    def stubbed(settings: Settings, **_: Any) -> Regions:
        return regions

    monkeypatch.setattr(provision_cli, "open_regions", stubbed)
    result = CliRunner().invoke(cli, ["status", "--target", "aws"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gtbench: error: AWS denied GetCallerIdentity")
    stubber.assert_no_pending_responses()


def test_unrelated_exceptions_are_not_disguised() -> None:
    assert describe_aws_error(ValueError("a bug")) is None


# -- multi-Region strong consistency on AWS: the calls, checked against botocore's model --

def _stubbed_home(region: str = "us-east-1") -> tuple[Regions, Any]:
    session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x",
                            region_name=region)
    settings = Settings(AWS, None, (region, "us-east-2", "us-west-2"), "strong-table")
    regions = Regions(settings, None, session)
    return regions, regions.home


@pytest.mark.parametrize("witness", [None, "us-west-2"])
def test_make_strong_sends_the_one_update_aws_accepts(witness: str | None) -> None:
    from gtbench.tables import provision

    regions, home = _stubbed_home()
    settings = regions.settings if witness is None else Settings(
        AWS, None, ("us-east-1", "us-east-2"), "strong-table")
    expected: dict[str, Any] = {
        "TableName": "strong-table", "MultiRegionConsistency": "STRONG",
        "ReplicaUpdates": [{"Create": {"RegionName": r}} for r in settings.replicas]}
    if witness:
        expected["GlobalTableWitnessUpdates"] = [{"Create": {"RegionName": witness}}]
    with Stubber(home) as stub:
        stub.add_response("describe_table", {"Table": {"TableName": "strong-table",
                                                       "TableStatus": "ACTIVE"}},
                          {"TableName": "strong-table"})
        stub.add_response("scan", {"Count": 0, "ScannedCount": 0},
                          {"TableName": "strong-table", "Select": "COUNT"})
        stub.add_response("update_table", {"TableDescription": {"TableName": "strong-table"}},
                          expected)
        added = provision.make_strong(regions, settings, witness, provision.Reporter())
        stub.assert_no_pending_responses()
    assert added == list(settings.replicas)


def test_make_strong_refused_by_aws_is_one_line_and_stops() -> None:
    from gtbench.errors import GtbenchError
    from gtbench.tables import provision

    regions, home = _stubbed_home()
    with Stubber(home) as stub:
        stub.add_response("describe_table", {"Table": {"TableName": "strong-table"}})
        stub.add_response("scan", {"Count": 0, "ScannedCount": 0})
        stub.add_client_error("update_table", "ValidationException",
                              "MultiRegionConsistency STRONG is not supported in this Region")
        with pytest.raises(GtbenchError) as excinfo:
            provision.make_strong(regions, regions.settings, None, provision.Reporter())
    assert "AWS refused the strongly consistent table: MultiRegionConsistency STRONG is " \
           "not supported" in str(excinfo.value)


def test_a_table_with_items_or_replicas_is_never_converted() -> None:
    from gtbench.errors import GtbenchError
    from gtbench.tables import provision

    regions, home = _stubbed_home()
    with Stubber(home) as stub:
        stub.add_response("describe_table", {"Table": {"TableName": "strong-table"}})
        stub.add_response("scan", {"Count": 3, "ScannedCount": 3})
        with pytest.raises(GtbenchError, match="must be empty"):
            provision.make_strong(regions, regions.settings, None, provision.Reporter())
        stub.add_response("describe_table", {"Table": {
            "TableName": "strong-table", "Replicas": [{"RegionName": "us-east-2"}]}})
        with pytest.raises(GtbenchError, match="mode can never change"):
            provision.make_strong(regions, regions.settings, None, provision.Reporter())
        stub.assert_no_pending_responses()  # no UpdateTable was sent


def test_an_mrsc_table_is_dissolved_in_one_call_with_its_witness() -> None:
    from gtbench.tables import teardown

    _, home = _stubbed_home()
    plan = teardown.TeardownPlan("strong-table", "us-east-1", "arn", ["us-east-2"], True,
                                  False, False, strong=True, witness="us-west-2")
    params = teardown.strong_removal(plan)
    assert params == {"TableName": "strong-table",
                      "ReplicaUpdates": [{"Delete": {"RegionName": "us-east-2"}}],
                      "GlobalTableWitnessUpdates": [{"Delete": {"RegionName": "us-west-2"}}]}
    with Stubber(home) as stub:  # valid for the service model botocore ships today
        stub.add_response("update_table", {}, params)
        home.update_table(**params)


def test_a_refused_conflicting_write_is_a_failed_operation_not_an_error() -> None:
    from gtbench.experiments.race import write_op

    regions, _ = _stubbed_home()
    writer = regions.writer("us-east-1")
    with Stubber(writer) as stub:
        stub.add_client_error(
            "put_item", "ReplicatedWriteConflictException",
            "The request was rejected because one or more items in the request are being "
            "modified by a request in another Region.", http_status_code=400)
        op = write_op(writer, "strong-table", "us-east-1",
                      {"PK": {"S": "a"}, "SK": {"S": "b"}}, 1)
    assert (op.result, op.error) == ("fail", "ReplicatedWriteConflictException")


def test_compare_on_aws_names_both_tables_and_asks_first(aws_env: None) -> None:
    with mock_aws():
        result = CliRunner().invoke(cli, ["compare", "--target", "aws"], input="n\n")
        tables = boto3.client("dynamodb", region_name="us-west-2").list_tables()["TableNames"]
    flat = " ".join(result.stderr.split())
    assert result.exit_code != 0 and tables == []
    # The run's own tables: the prefix, a per-run part, the kind.
    assert re.search(r"gtbench-compare-([0-9a-f]{6})-mrec \(MREC\) and "
                     r"gtbench-compare-\1-mrsc \(MRSC\)", flat), flat
    assert "AWS account 123456789012" in flat and "billable" in flat


def test_sessions_share_one_model_loader_and_keep_their_own_settings(aws_env: None) -> None:
    """Every command's session reads botocore's models through one loader (parsing them
    again is 0.1 s of CPU a session: the demo and compare open several), and that
    sharing neither grows the loader's search path nor mixes the sessions' settings."""
    from gtbench.regions import new_session

    first = new_session(region_name="us-west-2", aws_access_key_id="a",
                        aws_secret_access_key="b")
    loader = first._session.get_component("data_loader")
    paths = list(loader.search_paths)
    second = new_session(region_name="eu-west-1")
    assert second._session.get_component("data_loader") is loader
    assert loader.search_paths == paths
    assert (first.region_name, second.region_name) == ("us-west-2", "eu-west-1")
    mine, theirs = first.get_credentials(), second.get_credentials()
    assert mine is not None and theirs is not None
    assert (mine.access_key, theirs.access_key) == ("a", "AKIAEXAMPLEEXAMPLE12")
