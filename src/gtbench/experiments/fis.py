"""The cut on AWS: an AWS FIS experiment with ``aws:dynamodb:global-table-pause-replication``.

gtbench creates an experiment template for the table's replica in the cut region,
starts it, and at the end stops the experiment and deletes the template, on every
path. The experiment runs as an IAM role the user names (``--fis-role-arn``); FIS
needs it to change the table's resource policy (MREC) and to inject errors (MRSC).
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtbench.errors import GtbenchError

ACTION = "aws:dynamodb:global-table-pause-replication"
TARGET_TYPE = "aws:dynamodb:global-table"
# What the role needs (AWS FIS actions reference, "Amazon DynamoDB actions").
ROLE_PERMISSIONS = ("dynamodb:PutResourcePolicy", "dynamodb:GetResourcePolicy",
                    "dynamodb:DeleteResourcePolicy", "dynamodb:DescribeTable",
                    "tag:GetResources", "dynamodb:InjectError (MRSC)")
RUNNING = ("pending", "initiating", "running")
FINAL = ("completed", "stopped", "failed", "cancelled")
MAX_DURATION_S = 12 * 3600
# "Tables may continue to be replicated for up to 5 minutes after action begins" (AWS
# FIS actions reference): the cut is observed from the data, and may take this long.
ALLOWANCE_S = 300.0


def iso_duration(seconds: float) -> str:
    """FIS takes ISO 8601 durations; it counts whole seconds."""
    return f"PT{max(1, math.ceil(seconds))}S"


def template_request(table_arn: str, role_arn: str, duration_s: float,
                     token: str) -> dict[str, Any]:
    """The CreateExperimentTemplate request: one action on the replica in one region, no
    stop condition (gtbench stops it itself), tagged as gtbench's."""
    return {
        "clientToken": token,
        "description": "gtbench outage: pause replication to and from one replica",
        "roleArn": role_arn,
        "stopConditions": [{"source": "none"}],
        "targets": {"Table": {"resourceType": TARGET_TYPE, "resourceArns": [table_arn],
                              "selectionMode": "ALL"}},
        "actions": {"PauseReplication": {
            "actionId": ACTION, "parameters": {"duration": iso_duration(duration_s)},
            "targets": {"Tables": "Table"}}},
        "tags": {"gtbench:created-by": "gtbench outage"},
    }


class FisCut:
    """Pause replication of ``table_arn``'s replica with FIS, and undo all of it."""

    def __init__(self, client: Any, table_arn: str, role_arn: str, duration_s: float,
                 poll_s: float = 2.0, start_timeout_s: float = 120.0) -> None:
        self.client, self.table_arn, self.role_arn = client, table_arn, role_arn
        self.allowance_s = ALLOWANCE_S
        # The action lasts the cut plus the time it may take to hold, and a margin: the
        # observed cut must be able to last --duration. gtbench stops it then.
        self.duration_s = min(MAX_DURATION_S, duration_s + ALLOWANCE_S + 60)
        self.poll_s, self.start_timeout_s = poll_s, start_timeout_s
        self.final_timeout_s = 600.0
        self.template_id: str | None = None
        self.experiment_id: str | None = None

    def describe(self) -> str:
        return f"AWS FIS {ACTION}"

    def start(self) -> None:
        try:
            template = self.client.create_experiment_template(**template_request(
                self.table_arn, self.role_arn, self.duration_s, secrets.token_hex(16)))
            self.template_id = template["experimentTemplate"]["id"]
            started = self.client.start_experiment(
                clientToken=secrets.token_hex(16), experimentTemplateId=self.template_id)
            self.experiment_id = started["experiment"]["id"]
            self._wait_running()
        except (ClientError, BotoCoreError) as exc:
            self.end()  # nothing left behind
            raise GtbenchError(f"AWS FIS could not cut the region off: {_message(exc)}",
                               hint=f"the role {self.role_arn} needs "
                                    f"{', '.join(ROLE_PERMISSIONS)}, and you need "
                                    "fis:CreateExperimentTemplate, fis:TagResource (the "
                                    "template is tagged), fis:StartExperiment, "
                                    "fis:StopExperiment, fis:GetExperiment, "
                                    "fis:DeleteExperimentTemplate and iam:PassRole") from None

    def _wait_running(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            state = self.client.get_experiment(id=self.experiment_id)["experiment"]["state"]
            if state["status"] == "running":
                return
            if state["status"] not in RUNNING:
                raise GtbenchError(f"the FIS experiment {self.experiment_id} is "
                                   f"{state['status']}: {state.get('reason', 'no reason given')}")
            if time.monotonic() > deadline:
                raise GtbenchError(f"the FIS experiment {self.experiment_id} was not running "
                                   f"after {self.start_timeout_s:g} s")
            time.sleep(self.poll_s)

    def _wait_final(self, experiment: str) -> str | None:
        deadline = time.monotonic() + self.final_timeout_s
        while True:
            try:
                status = self.client.get_experiment(id=experiment)["experiment"]["state"][
                    "status"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    return None
                return f"experiment {experiment}: {_message(exc)}"
            except BotoCoreError as exc:
                return f"experiment {experiment}: {exc}"
            if status in FINAL:
                return None
            if time.monotonic() > deadline:
                return (f"experiment {experiment} was still {status} after "
                        f"{self.final_timeout_s:g} s")
            time.sleep(self.poll_s)

    def end(self) -> None:
        """Stop the experiment (if it still runs) and delete the template; safe to call
        twice and on a half-made cut. A failure here is said, never hidden."""
        problems = []
        if self.experiment_id is not None:
            experiment, self.experiment_id = self.experiment_id, None
            try:
                self.client.stop_experiment(id=experiment)
            except ClientError as exc:
                # Already over (completed, stopped, failed): nothing to stop.
                if exc.response["Error"]["Code"] not in ("ResourceNotFoundException",
                                                         "ValidationException"):
                    problems.append(f"stop experiment {experiment}: {_message(exc)}")
            except BotoCoreError as exc:
                problems.append(f"stop experiment {experiment}: {exc}")
            # The deny statements leave the resource policy only as the experiment ends:
            # agreement is measured after that, not after the stop was asked for.
            problem = self._wait_final(experiment)
            if problem:
                problems.append(problem)
        if self.template_id is not None:
            template, self.template_id = self.template_id, None
            try:
                self.client.delete_experiment_template(id=template)
            except (ClientError, BotoCoreError) as exc:
                problems.append(f"delete experiment template {template}: {_message(exc)}")
        if problems:
            raise GtbenchError("could not undo the FIS cut: " + "; ".join(problems),
                               hint="check the FIS console; replication resumes when the "
                                    "experiment ends")


def _message(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)
