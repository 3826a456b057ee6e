"""Small helpers shared by the test modules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def control(url: str, action: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/_gtbench/{action}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def item(pk: str, sk: str, **numbers: int) -> dict[str, Any]:
    out = key(pk, sk)
    out.update({name: {"N": str(value)} for name, value in numbers.items()})
    return out


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005,
               message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def make_table(client: Any, name: str = "tbl", *, billing: str = "PAY_PER_REQUEST") -> None:
    extra: dict[str, Any] = {}
    if billing == "PROVISIONED":
        extra["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    client.create_table(
        TableName=name, BillingMode=billing,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                   {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                              {"AttributeName": "SK", "AttributeType": "S"}],
        **extra)


def add_replica(ddb: Callable[[str], Any], region: str, home: str = "us-west-2",
                table: str = "tbl") -> None:
    """A replica of ``table`` in ``region``, waited for until ACTIVE."""
    ddb(home).update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
    wait_until(lambda: ddb(region).describe_table(TableName=table)["Table"]["TableStatus"]
               == "ACTIVE", message=f"replica {region} ACTIVE")


def global_table(ddb: Callable[[str], Any], *regions: str, home: str = "us-west-2",
                 table: str = "tbl") -> None:
    """``table`` (PK/SK, on demand) in ``home`` with a replica in each of ``regions``."""
    make_table(ddb(home), table)
    for region in regions:
        add_replica(ddb, region, home, table)


def run_cli(url: str, *args: str, regions: str = "us-west-2,eu-west-1") -> Any:
    """Invoke the full CLI in-process against the emulator at ``url``."""
    from click.testing import CliRunner

    from gtbench.cli import cli

    return CliRunner().invoke(cli, [*args, "--endpoint-url", url, "--regions", regions],
                              catch_exceptions=False)


# -- the README and docs/, whose commands the walk runs as printed ----------------------

ROOT = Path(__file__).resolve().parent.parent  # the repository
README = (ROOT / "README.md").read_text()
# The docs' commands first (the full story, in reading order), then the README's, whose
# last block tears down: every command of both runs as printed.
PAGES = [ROOT / "docs" / name for name in ("experiments.md", "json.md", "aws.md",
                                           "emulator.md", "faults.md", "development.md",
                                           "testing.md")]


def readme_commands(part: str = "all") -> list[str]:
    """Every `gtbench ...` command in the shell blocks of docs/ and the README (or of
    ``part``: "docs" or "readme"), once, comments dropped."""
    pages = [*([page.read_text() for page in PAGES] if part in ("all", "docs") else []),
             *([README] if part in ("all", "readme") else [])]
    return commands_in("\n".join(pages))


def commands_in(text: str) -> list[str]:
    """The `gtbench ...` commands of ``text``'s shell blocks, in order, each once."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if "gtbench " in line and not line.startswith("gtbench "):
                line = line[line.index("gtbench "):].rstrip(')"')  # && gtbench ..., $(...)
            # A repeated command runs once, but each `local stop` runs: the start after it
            # takes its options only from a stopped emulator.
            if line.startswith("gtbench ") and (line not in commands
                                                or line == "gtbench local stop"):
                commands.append(line)
    return commands


def sections(text: str) -> dict[str, str]:
    """A page's text by its `## ` sections (the text before the first: key "")."""
    parts = re.split(r"^## (.*)$", text, flags=re.M)
    return {"": parts[0], **dict(zip(parts[1::2], parts[2::2], strict=True))}


def gtbench(*args: str, env: dict[str, str], timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gtbench", *args], env=env, text=True,
                          capture_output=True, timeout=timeout)
