"""The probes on AWS: one Lambda function per region, ``gtbench-probe``, running
``handler.py`` alone, and one IAM role for all of them with least privilege. Everything
made is tagged, and ``remove`` deletes only what carries gtbench's tag.

Deploy is idempotent: a function that exists gets the current code; the role's policy
is put again (the table's ARNs may have changed).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from gtbench.errors import GtbenchError
from gtbench.probes.transport import FUNCTION, FUNCTION_TIMEOUT_S

__all__ = ["FUNCTION", "ROLE", "deploy_one", "ensure_role", "package", "policy", "remove_one",
           "remove_role", "role_arn", "state"]

ROLE = "gtbench-probe"
COMPARE_PREFIX = "gtbench-compare"  # compare's default --prefix: its per-run tables
POLICY = "gtbench-probe-access"
TAG_KEY, TAG_VALUE = "made-by", "gtbench"  # what remove looks for
RUNTIME = "python3.12"
MODULE = "gtbench_probe"  # handler.py's name inside the zip
# Lambda's CPU grows with memory, and at 1,769 MB a function has one whole vCPU (Lambda
# developer guide, "Configure Lambda function memory"): a probe's timing is its CPU's.
MEMORY_MB = 1769
TIMEOUT_S = FUNCTION_TIMEOUT_S
ROLE_WAIT_S = 60.0  # a new IAM role takes seconds before Lambda may assume it
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def package() -> bytes:
    """The function's zip: handler.py as ``gtbench_probe.py``, with fixed timestamps so
    the same code always gives the same zip (and CodeSha256)."""
    source = (Path(__file__).parent / "handler.py").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{MODULE}.py", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


def code_sha(zipped: bytes) -> str:
    """As Lambda reports it: base64 of the SHA-256."""
    return base64.b64encode(hashlib.sha256(zipped).digest()).decode()


def policy(account: str, table: str, regions: Sequence[str], partition: str = "aws"
           ) -> dict[str, Any]:
    """Least privilege: read and write the items of the table (and of the tables
    `compare` makes for a run, ``gtbench-compare-*``) in each region, and log."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem",
                                       "dynamodb:UpdateItem"],
         "Resource": [f"arn:{partition}:dynamodb:{r}:{account}:table/{name}"
                      for r in regions for name in (table, f"{COMPARE_PREFIX}-*")]},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream",
                                       "logs:PutLogEvents"],
         "Resource": [f"arn:{partition}:logs:{r}:{account}:log-group:/aws/lambda/{FUNCTION}"
                      f"{suffix}" for r in regions for suffix in ("", ":*")]}]}


@dataclass(frozen=True)
class ProbeState:
    region: str
    exists: bool
    state: str | None = None  # Lambda's State: Pending, Active, Failed
    current: bool = False  # its code is this gtbench's handler
    ours: bool = False  # tagged by gtbench
    configured: bool = False  # its memory and timeout are this gtbench's


def _tags(client: Any, arn: str) -> dict[str, str]:
    return dict(client.list_tags(Resource=arn).get("Tags") or {})


def state(lambda_client: Any, region: str, zipped: bytes) -> ProbeState:
    try:
        found = lambda_client.get_function(FunctionName=FUNCTION)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return ProbeState(region, False)
        raise
    config = found["Configuration"]
    return ProbeState(region, True, config.get("State"),
                      config.get("CodeSha256") == code_sha(zipped),
                      _tags(lambda_client, config["FunctionArn"]).get(TAG_KEY) == TAG_VALUE,
                      (config.get("MemorySize"), config.get("Timeout")) == (MEMORY_MB,
                                                                            TIMEOUT_S))


def role_arn(iam: Any) -> str | None:
    try:
        return str(iam.get_role(RoleName=ROLE)["Role"]["Arn"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise


def ensure_role(iam: Any, account: str, table: str, regions: Sequence[str], partition: str,
                say: Callable[[str], None]) -> str:
    arn = role_arn(iam)
    if arn is None:
        say(f"creating IAM role {ROLE}")
        arn = str(iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST),
                                  Description="gtbench's probes: read and write one table",
                                  Tags=[{"Key": TAG_KEY, "Value": TAG_VALUE}])["Role"]["Arn"])
    wanted = policy(account, table, regions, partition)
    before = granted(iam)
    merged = merge_policy(before, wanted) if before is not None else wanted
    if merged != before:
        # PutRolePolicy replaces the whole inline policy: what probes deployed before (for
        # other regions or another table) were granted is kept, merged with this.
        added = sorted({r for s in merged["Statement"] for r in _resources(s)}
                       - {r for s in (before or {"Statement": []})["Statement"]
                          for r in _resources(s)})
        if before is not None:
            say(f"IAM role {ROLE}: granting {len(added)} more resources "
                f"(table {table} in {', '.join(regions)}); what it was granted is kept")
        iam.put_role_policy(RoleName=ROLE, PolicyName=POLICY, PolicyDocument=json.dumps(merged))
    return arn


def granted(iam: Any) -> dict[str, Any] | None:
    """The role's inline policy as it stands (None: there is none)."""
    from urllib.parse import unquote

    try:
        document = iam.get_role_policy(RoleName=ROLE, PolicyName=POLICY)["PolicyDocument"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise
    # botocore decodes IAM's URL-encoded JSON; a client without that hook would not.
    return dict(json.loads(unquote(document)) if isinstance(document, str) else document)


def _resources(statement: dict[str, Any]) -> list[str]:
    found = statement.get("Resource", [])
    return [found] if isinstance(found, str) else list(found)


def merge_policy(before: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """``wanted``'s statements with every resource ``before`` granted for the same
    actions kept (before's first), and before's other statements left as they were."""
    def actions(statement: dict[str, Any]) -> tuple[str, ...]:
        found = statement.get("Action", [])
        return tuple(sorted([found] if isinstance(found, str) else found))

    old = {actions(s): s for s in before.get("Statement", [])}
    statements = []
    for statement in wanted["Statement"]:
        kept = _resources(old.pop(actions(statement), {}))
        statements.append({**statement, "Resource": [
            *kept, *(r for r in _resources(statement) if r not in kept)]})
    return {**wanted, "Statement": [*statements, *old.values()]}


def deploy_one(lambda_client: Any, region: str, role: str, zipped: bytes,
               say: Callable[[str], None], sleep: Callable[[float], None] = time.sleep) -> None:
    """Create or update the probe in ``region`` and wait until it is ready."""
    current = state(lambda_client, region, zipped)
    if current.exists:
        if not current.ours:
            raise GtbenchError(f"a function named {FUNCTION} in {region} was not made by "
                               "gtbench: it is left as it is",
                               hint="remove or rename it, then deploy again")
        if not current.current:
            say(f"{region}: updating the probe's code")
            lambda_client.update_function_code(FunctionName=FUNCTION, ZipFile=zipped)
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        if not current.configured:  # one update at a time: Lambda refuses a second
            say(f"{region}: setting the probe's memory ({MEMORY_MB} MB) and timeout")
            lambda_client.update_function_configuration(
                FunctionName=FUNCTION, MemorySize=MEMORY_MB, Timeout=TIMEOUT_S)
            lambda_client.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION)
        if current.state == "Inactive":
            # Lambda deactivates a function left idle, and an invoke of it fails: the
            # failing invoke is what wakes it (Pending, then Active), so make it now.
            say(f"{region}: waking the probe (Lambda made it inactive after an idle spell)")
            with contextlib.suppress(ClientError):
                lambda_client.invoke(FunctionName=FUNCTION,
                                     Payload=json.dumps({"action": "clock"}).encode())
        # Updated is not ready: a run's first invoke needs the function Active.
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
        return
    say(f"{region}: creating the probe")
    deadline = time.monotonic() + ROLE_WAIT_S
    while True:
        try:
            lambda_client.create_function(
                FunctionName=FUNCTION, Runtime=RUNTIME, Role=role, Handler=f"{MODULE}.handler",
                Code={"ZipFile": zipped}, Timeout=TIMEOUT_S, MemorySize=MEMORY_MB,
                Description="gtbench probe: times DynamoDB beside the replica",
                Tags={TAG_KEY: TAG_VALUE})
            break
        except ClientError as exc:
            # IAM is eventually consistent: a role made seconds ago cannot be assumed yet.
            if (exc.response["Error"]["Code"] != "InvalidParameterValueException"
                    or time.monotonic() > deadline):
                raise
            sleep(2.0)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)


def remove_one(lambda_client: Any, region: str, say: Callable[[str], None]) -> bool:
    """Delete the probe in ``region`` if gtbench made it; whether it did."""
    current = state(lambda_client, region, b"")
    if not current.exists:
        return False
    if not current.ours:
        say(f"{region}: {FUNCTION} was not made by gtbench: left as it is")
        return False
    lambda_client.delete_function(FunctionName=FUNCTION)
    say(f"{region}: deleted the probe")
    return True


LOG_GROUP = f"/aws/lambda/{FUNCTION}"
LOG_RETENTION_DAYS = 7


def keep_logs_short(logs_client: Any, region: str, say: Callable[[str], None]) -> None:
    """The probe's log group, made now with a retention: Lambda makes it at the first
    invocation with none, and keeps (and bills) its logs forever."""
    try:
        logs_client.create_log_group(logGroupName=LOG_GROUP, tags={TAG_KEY: TAG_VALUE})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    logs_client.put_retention_policy(logGroupName=LOG_GROUP,
                                     retentionInDays=LOG_RETENTION_DAYS)
    say(f"{region}: the probe's logs are kept {LOG_RETENTION_DAYS} days ({LOG_GROUP})")


def remove_logs(logs_client: Any, region: str, say: Callable[[str], None]) -> None:
    """A removed probe's log group goes with it (the function was gtbench's)."""
    try:
        logs_client.delete_log_group(logGroupName=LOG_GROUP)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return
    say(f"{region}: deleted the probe's log group {LOG_GROUP}")


def remove_role(iam: Any, say: Callable[[str], None]) -> bool:
    arn = role_arn(iam)
    if arn is None:
        return False
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=ROLE).get("Tags", [])}
    if tags.get(TAG_KEY) != TAG_VALUE:
        say(f"IAM role {ROLE} was not made by gtbench: left as it is")
        return False
    for name in iam.list_role_policies(RoleName=ROLE).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=ROLE, PolicyName=name)
    iam.delete_role(RoleName=ROLE)
    say(f"deleted IAM role {ROLE}")
    return True
