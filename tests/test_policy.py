"""The IAM policy docs/aws.md shows is the one the commands need: every AWS call a
command makes, recorded as it is sent, is an action that policy allows. A call the
policy lacks is an AccessDenied on AWS that no emulator run would show."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from gtbench.emulator.server import EmulatorServer
from tests.helpers import ROOT, run_cli

# Needs no permission (STS documents GetCallerIdentity as allowed to every caller).
FREE = {"sts:GetCallerIdentity"}
# Where IAM's action is not the operation's name (Service Authorization Reference).
ACTIONS = {"lambda:Invoke": "lambda:InvokeFunction"}


def documented_actions() -> set[str]:
    """Every action of the JSON policies in docs/aws.md's Permissions section."""
    text = (ROOT / "docs" / "aws.md").read_text()
    section = text[text.index("## Permissions"):text.index("## What the rehearsal")]
    actions: set[str] = set()
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        policy = json.loads(block)
        for statement in policy.get("Statement", [policy]):
            action = statement["Action"]
            actions |= {action} if isinstance(action, str) else set(action)
    return actions


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The IAM action of every AWS call made while the test runs (``service:Operation``)."""
    made: list[str] = []
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def recorded(self: Any, operation: str, params: Any) -> Any:
        call = f"{self.meta.service_model.service_name}:{operation}"
        made.append(ACTIONS.get(call, call))
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recorded)
    yield made


def test_the_docs_policy_parses_and_names_the_table_actions() -> None:
    actions = documented_actions()
    assert {"dynamodb:PutItem", "dynamodb:ListTables", "lambda:InvokeFunction"} <= actions


def test_every_call_of_the_table_commands_is_in_the_documented_policy(
        emulator: EmulatorServer, calls: list[str]) -> None:
    for command in (["setup", "--deletion-protection"],
                    ["race", "--trials", "1", "--cloudwatch", "--cloudwatch-wait", "0"],
                    ["conflict", "--trials", "1"], ["matrix", "--trials", "1"],
                    ["conflict", "--mode", "increment", "--increments", "2"],
                    ["teardown", "--stale", "--yes"], ["teardown", "--yes"]):
        result = run_cli(emulator.url, *command)
        assert result.exit_code == 0, (command, result.stderr)
    made = set(calls) - FREE
    assert made, "no call was recorded"
    assert sorted(made - documented_actions()) == []


def test_every_call_of_the_probe_commands_is_in_the_deployers_policy(
        monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """`probes deploy`, `status` and `remove` on moto's IAM, Lambda and CloudWatch Logs."""
    from click.testing import CliRunner
    from moto import mock_aws

    from gtbench.cli import cli

    for name in ("GTBENCH_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    aws = ["--target", "aws", "--regions", "us-west-2,eu-west-1"]
    with mock_aws():
        for command in (["deploy", *aws, "--yes"], ["deploy", *aws, "--yes"],
                        ["status", *aws], ["remove", *aws, "--yes"]):
            result = CliRunner().invoke(cli, ["probes", *command])
            assert result.exit_code == 0, (command, result.output)
    made = set(calls) - FREE
    assert {"lambda:CreateFunction", "iam:PutRolePolicy"} <= made
    assert sorted(made - documented_actions()) == []


def test_every_call_of_the_fis_cut_is_in_the_outage_policy(calls: list[str]) -> None:
    """`outage --target aws`'s FIS calls (botocore's Stubber answers them)."""
    from botocore.stub import Stubber

    from gtbench.experiments.fis import FisCut
    from tests.test_outage import ROLE, TABLE_ARN, _fis, stub_a_whole_cut

    client = _fis()
    cut = FisCut(client, TABLE_ARN, ROLE, 10, poll_s=0)
    with Stubber(client) as stub:
        stub_a_whole_cut(stub)
        cut.start()
        cut.end()
        stub.assert_no_pending_responses()
    assert {"fis:CreateExperimentTemplate", "fis:StopExperiment"} <= set(calls)
    assert sorted(set(calls) - documented_actions()) == []
