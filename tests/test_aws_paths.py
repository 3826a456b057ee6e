"""Paths only real AWS takes: account id, the confirmation prompt, credential errors.

moto's in-process mock stands in for STS and DynamoDB; botocore's Stubber for
errors that moto does not produce.
"""

from __future__ import annotations

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
        result = CliRunner().invoke(cli, [*command, "--target", "aws"], input="n\n")
        tables = boto3.client("dynamodb", region_name="us-west-2").list_tables()["TableNames"]
    assert result.exit_code != 0
    assert what in result.stderr and "AWS account 123456789012" in result.stderr
    assert "billable" in result.stderr
    assert "aborted" in result.stderr.strip().splitlines()[-1]
    assert tables == []


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
