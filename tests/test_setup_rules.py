"""Set-up and teardown never leave a half-made table: partitions, opt-in regions, an MRSC
conversion AWS refuses, and deletion protection, which each replica has on its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from gtbench import awsrules
from gtbench.emulator.server import EmulatorServer
from gtbench.errors import GtbenchError, UsageError
from gtbench.regions import AWS, Regions, Settings, parse_regions
from gtbench.tables import provision, teardown
from tests.helpers import run_cli

A, B = "us-west-2", "eu-west-1"
Client = Callable[[str], Any]


def aws_regions(regions: tuple[str, ...], table: str = "gtb") -> Regions:
    session = boto3.Session(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x",
                            region_name=regions[0])
    return Regions(Settings(AWS, None, regions, table), None, session)


def test_regions_of_two_partitions_are_refused_before_anything() -> None:
    with pytest.raises(UsageError, match="different AWS partitions"):
        parse_regions("us-west-2,cn-north-1")
    with pytest.raises(UsageError, match=r"us-gov-west-1 \(aws-us-gov\)"):
        parse_regions("us-west-2,us-gov-west-1")
    assert parse_regions("cn-north-1,cn-northwest-1") == ("cn-north-1", "cn-northwest-1")


def test_setup_across_partitions_is_one_line(emulator: EmulatorServer) -> None:
    result = run_cli(emulator.url, "setup", regions="us-west-2,cn-north-1")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "different AWS partitions" in result.stderr


def test_a_region_not_enabled_for_the_account_is_named_with_how_to_enable_it() -> None:
    regions = aws_regions(("us-east-1", "ap-east-1"))
    with Stubber(regions.client("us-east-1")) as home, \
            Stubber(regions.client("ap-east-1")) as optin:
        home.add_response("list_tables", {"TableNames": []}, {"Limit": 1})
        optin.add_client_error("list_tables", "UnrecognizedClientException",
                               "The security token included in the request is invalid.",
                               400)
        with pytest.raises(GtbenchError) as excinfo:
            provision.setup(regions, regions.settings)
    text = str(excinfo.value)
    assert "ap-east-1 is not enabled for this AWS account" in text
    assert "aws account enable-region --region-name ap-east-1" in text
    # The other cause that answers alike: a version-1 token from STS's global endpoint.
    assert "--global-endpoint-token-version v2Token" in text


def test_an_mrsc_conversion_aws_refuses_removes_the_table_setup_just_made() -> None:
    regions = aws_regions(("us-east-1", "us-east-2", "us-west-2"))
    stubs = {r: Stubber(regions.client(r)) for r in regions.settings.regions}
    home = stubs["us-east-1"]
    for stub in stubs.values():
        stub.add_response("list_tables", {"TableNames": []})
    missing = ("ResourceNotFoundException", "Requested resource not found")
    home.add_client_error("describe_table", *missing)
    home.add_response("create_table", {"TableDescription": {"TableName": "gtb"}})
    home.add_response("describe_table", {"Table": {"TableName": "gtb", "TableStatus": "ACTIVE"}})
    # make_strong: the table is empty and single-Region, then AWS says no.
    home.add_response("describe_table", {"Table": {"TableName": "gtb", "TableStatus": "ACTIVE"}})
    home.add_response("scan", {"Count": 0, "ScannedCount": 0})
    home.add_client_error("update_table", "ValidationException",
                          "Multi-Region strong consistency is not supported for this set "
                          "of Regions")
    home.add_response("delete_table", {"TableDescription": {"TableName": "gtb"}},
                      {"TableName": "gtb"})
    home.add_client_error("describe_table", *missing)  # the waiter: gone
    for stub in stubs.values():
        stub.activate()
    try:
        with pytest.raises(GtbenchError) as excinfo:
            provision.setup(regions, regions.settings, strong=True,
                            timing=provision.Timing(poll_s=0.01, timeout_s=5))
        for stub in stubs.values():
            stub.assert_no_pending_responses()  # the DeleteTable was sent, and waited on
    finally:
        for stub in stubs.values():
            stub.deactivate()
    text = str(excinfo.value)
    assert "not supported for this set of Regions" in text  # AWS's reason
    assert "the empty table gtb that setup had just created in us-east-1 was removed" in text


def test_the_region_rule_is_data_with_its_source_and_date() -> None:
    dates = [r.since for r in awsrules.REGION_RULES]
    assert dates == sorted(dates)
    assert all(r.source for r in awsrules.REGION_RULES)
    # Only a rule with a source found is in force: the documented sets (US, EU, AP).
    rule = awsrules.RULE
    assert len(rule.sets) == 3 and len(rule.regions) == 10
    assert "ca-central-1" not in rule.regions and "ap-southeast-2" not in rule.regions
    within = awsrules.conversion_problem("us-east-1", ["us-east-2"], ["us-west-2"], False,
                                         False, False)
    mixed = awsrules.conversion_problem("us-east-1", ["eu-west-1"], ["ap-northeast-1"],
                                        False, False, False)
    assert within is None and mixed is not None and "one Region set" in mixed


# -- deletion protection, per replica, on the emulator --------------------------------------

def protection(ddb: Client, region: str) -> bool:
    return bool(ddb(region).describe_table(TableName="global-serverless")["Table"].get(
        "DeletionProtectionEnabled"))


def test_setup_protects_every_replica_and_teardown_lifts_only_its_own(
        emulator: EmulatorServer, ddb: Client) -> None:
    assert run_cli(emulator.url, "setup", "--deletion-protection").exit_code == 0
    assert protection(ddb, A) and protection(ddb, B)  # each replica's own setting
    refused = ddb(A).update_table  # AWS refuses to remove a protected replica
    with pytest.raises(Exception, match="deletion protection"):
        refused(TableName="global-serverless", ReplicaUpdates=[{"Delete": {"RegionName": B}}])
    result = run_cli(emulator.url, "teardown", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "turning off deletion protection in eu-west-1" in result.stderr
    assert "global-serverless" not in ddb(A).list_tables()["TableNames"]


def test_teardown_refuses_a_replica_protected_by_someone_else_and_removes_nothing(
        emulator: EmulatorServer, ddb: Client) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    ddb(B).update_table(TableName="global-serverless", DeletionProtectionEnabled=True)
    result = run_cli(emulator.url, "teardown", "--yes")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("gtbench: error: the replica of global-serverless in "
                                "eu-west-1 has deletion protection that gtbench did not set")
    described = ddb(A).describe_table(TableName="global-serverless")["Table"]
    assert [r["RegionName"] for r in described["Replicas"]] == [B]  # nothing removed
    assert protection(ddb, B) and not protection(ddb, A)


def test_an_mrsc_dissolution_refused_under_the_source_rule_is_one_line() -> None:
    """AWS documents the 24-hour source rule for MREC replicas only; if it refuses an
    MRSC table's dissolution the same way, teardown says so as it does for MREC."""
    regions = aws_regions(("us-east-1", "us-east-2", "us-west-2"))
    plan = teardown.TeardownPlan("gtb", "us-east-1", "arn", ["us-east-2", "us-west-2"],
                                  True, False, False, strong=True)
    active = {"TableName": "gtb", "TableStatus": "ACTIVE"}
    stubs = {r: Stubber(regions.client(r)) for r in regions.settings.regions}
    stubs["us-east-1"].add_response("describe_table", {"Table": {
        **active, "Replicas": [{"RegionName": "us-east-2", "ReplicaStatus": "ACTIVE"},
                               {"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE"}]}})
    for region in ("us-east-2", "us-west-2"):
        stubs[region].add_response("describe_table", {"Table": active})
    stubs["us-east-1"].add_client_error(
        "update_table", "ValidationException",
        "Replica cannot be deleted because it has acted as a source Region for new "
        "replica(s) being added to the table in the last 24 hours.")
    for stub in stubs.values():
        stub.activate()
    try:
        with pytest.raises(GtbenchError) as excinfo:
            teardown.run(regions, regions.settings, plan,
                               timing=provision.Timing(poll_s=0.01, timeout_s=5))
    finally:
        for stub in stubs.values():
            stub.deactivate()
    assert "AWS will not yet remove the replicas us-east-2, us-west-2" in str(excinfo.value)
    assert "24 hours" in str(excinfo.value)


def test_a_failed_mrsc_setup_leaves_only_what_was_there_and_status_lists_it(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    """A table of the same name already stands alone in a replica region: AWS refuses
    the conversion, setup removes the table it made, and the one that was there stays,
    listed by `local status`'s source (every table, per region)."""
    from tests.helpers import control, make_table

    make_table(ddb("us-east-2"), "same-name")
    result = run_cli(emulator.url, "setup", "--table", "same-name", "--consistency", "strong",
                     regions="us-east-1,us-east-2,us-west-2")
    assert result.exit_code == 1 and "was removed" in result.stderr, result.stderr
    assert ddb("us-east-1").list_tables()["TableNames"] == []
    assert ddb("us-east-2").list_tables()["TableNames"] == ["same-name"]
    tables = control(emulator.url, "status")["tables"]
    assert tables == {"123456789012": {"us-east-2": ["same-name"]}}


def test_finding_run_tables_reads_only_tables_named_as_runs_and_skips_unreadable_ones(
        ) -> None:
    """ListTables needs "*"; what follows must not describe every table of the account
    (each a call, and an AccessDenied in accounts gtbench may not read): only names that
    are run tables', and one of those it may not read is named, not fatal."""
    from gtbench.experiments import compare

    regions = aws_regions(("us-east-1", "us-east-2"))
    mine, theirs = "gtbench-compare-1a2b3c-mrec", "gtbench-compare-4d5e6f-mrsc"
    with Stubber(regions.home) as home:
        home.add_response("list_tables", {"TableNames": ["orders", mine, "payments",
                                                         theirs]})
        # Only the two run-shaped names are described: none for orders or payments.
        home.add_response("describe_table", {"Table": {
            "TableName": mine, "TableArn": f"arn:aws:dynamodb:us-east-1:1:table/{mine}",
            "TableStatus": "ACTIVE"}}, {"TableName": mine})
        home.add_response("list_tags_of_resource", {"Tags": [
            {"Key": "gtbench:created-by", "Value": "gtbench"},
            {"Key": "gtbench:run-until", "Value": "100"}]},
            {"ResourceArn": f"arn:aws:dynamodb:us-east-1:1:table/{mine}"})
        home.add_client_error("describe_table", "AccessDeniedException", "no", 400,
                              expected_params={"TableName": theirs})
        stale, skipped = compare.run_tables(regions, now=200.0)
        home.assert_no_pending_responses()
    assert stale == [(mine, 100.0)]
    assert skipped == [(theirs, "not readable with these credentials")]
