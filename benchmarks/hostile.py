"""A hostile, careless user, seeded: every option of every command and every field of
the emulator's control API fed nonsense and edge values, then each experiment stopped
every way a run can be stopped. Prints the inputs tried and every unclean outcome.

    python -m benchmarks.hostile [--seed 7] [--per-option 12] [--skip-scenarios|--skip-fuzz]

Clean, for an option: exit 0, 1 or 2 with at most one line of error, no traceback
(valid values run against a closed port, so they end at once with one line). For the
control API: a JSON answer with status 200, 400 or 404, and the emulator still
healthy after. For a scenario (the emulator killed, the table deleted, SIGTERM,
SIGHUP, mid-run): the exit status the README promises, the document saved with
every completed trial, and `report --check` clean on it. Target: 0 unclean.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from benchmarks.common import client
from gtbench.cli import COMMANDS, cli
from gtbench.local.lifecycle import free_port

CLOSED = f"http://127.0.0.1:{free_port('127.0.0.1')}"  # nothing listens: calls fail at once
NONSENSE = ["nan", "-inf", "inf", "1e400", "-1", "0", "1e-300", "99999999999999999999999",
            "", " ", "\n", "abc", "1,1", "0,0", "-", "x" * 300, "ü", "\x00", "1e23",
            "us-west-2\n", "us-west-2,us-west-2", "eu-west-1=nan", "a:b=1"]
SKIPPED = {"local serve", "local start"}  # they start servers: their checks are tested


@dataclass
class Outcome:
    what: str
    problem: str


def commands() -> Iterator[tuple[str, click.Command]]:
    def walk(name: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            for sub, child in command.commands.items():
                yield from walk(f"{name} {sub}", child)
        else:
            yield name, command

    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        yield from walk(name, command)


def values_for(param: click.Parameter, rng: random.Random, count: int) -> list[str]:
    """Nonsense, and values near the option's own bounds and choices."""
    out = list(NONSENSE)
    kind = param.type
    if isinstance(kind, click.Choice):
        out += [str(c) for c in kind.choices] + [str(c).upper() for c in kind.choices]
    for bound in (getattr(kind, "min", None), getattr(kind, "max", None)):
        if isinstance(bound, int | float):
            out += [repr(bound), repr(bound * 1.0000001 + 1), repr(bound - 1)]
    return rng.sample(out, min(count, len(out)))


def option_fuzz(rng: random.Random, per_option: int, state: str) -> tuple[int, list[Outcome]]:
    runner = CliRunner()
    # No AWS credentials and no instance metadata: --target aws ends at once, in a line.
    env: dict[str, str | None] = {
        "GTBENCH_STATE_DIR": state, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_PROFILE": None,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
        "GTBENCH_ENDPOINT_URL": CLOSED}
    # Run where nothing matters: a fuzzed path (`--save nan`, `--json -1`) is made in
    # the working directory, which must not be the caller's.
    home = os.getcwd()
    os.chdir(Path(state).parent)
    try:
        return _fuzz_options(runner, rng, per_option, env)
    finally:
        os.chdir(home)


def _fuzz_options(runner: CliRunner, rng: random.Random, per_option: int,
                  env: dict[str, str | None]) -> tuple[int, list[Outcome]]:
    tried, unclean = 0, []
    for name, command in commands():
        if name in SKIPPED:
            continue
        words = name.split()
        takes_endpoint = any(p.name == "endpoint_url" for p in command.params)
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.name in (
                    "endpoint_url", "help"):
                continue
            for value in values_for(param, rng, per_option):
                args = [*words, *(a.make_metavar(click.Context(command)).lower()
                                  for a in arguments if a.required),
                        param.opts[0], value,
                        *(["--endpoint-url", CLOSED] if takes_endpoint else []), "--yes"
                        if any(p.name == "yes" for p in command.params) else ""]
                args = [a for a in args if a != ""]
                tried += 1
                problem = _judge(runner.invoke(cli, args, env=env))
                if problem:
                    unclean.append(Outcome(" ".join(repr(a) for a in args), problem))
    return tried, unclean


def _judge(result: Any) -> str | None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"{type(result.exception).__name__}: {result.exception}"
    if result.exit_code not in (0, 1, 2):
        return f"exit {result.exit_code}"
    if "Traceback" in result.stderr:
        return "a traceback"
    if result.exit_code and len(result.stderr.strip().splitlines()) > 2:
        return f"{len(result.stderr.strip().splitlines())} lines of error"
    return None


JSON_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 1e308, 10**30, "", "x", "eu-west-1",
                          "us-west-2\n", [], ["eu-west-1"], {}, {"a": 1}, "NaN"]


def control_fuzz(rng: random.Random, url: str, per_field: int) -> tuple[int, list[Outcome]]:
    from gtbench.emulator import config as emulator_config

    fields = {"lag": ["lag_ms", "jitter_ms", "source", "destination", "reset_pairs"],
              "capacity": ["region", "wcu", "on_demand"],
              "settle": ["timeout_s", "table"], "deliver": ["count"],
              "config": list(emulator_config.BY_NAME),
              "faults": ["kind", "region", "share", "code", "operations", "duration_s",
                         "mode", "source", "destination"]}
    tried, unclean = 0, []
    for path, names in fields.items():
        for name in names:
            for value in rng.sample(JSON_VALUES, min(per_field, len(JSON_VALUES))):
                body = {name: value} if path != "faults" else {
                    "kind": rng.choice(["outage", "throttle", "pause", "isolate", "bogus"]),
                    "region": "eu-west-1", name: value}
                tried += 1
                problem = _control(url, "POST", path, json.dumps(body).encode())
                if problem:
                    unclean.append(Outcome(f"POST {path} {body}", problem))
                _control(url, "DELETE", "faults", None)
                _control(url, "POST", "resume", None)
    for raw in (b"[" * 3000, b"\xff\xfe", b"{", b'{"lag_ms": NaN}', b"[]", b"5"):
        for path in fields:
            tried += 1
            problem = _control(url, "POST", path, raw)
            if problem:
                unclean.append(Outcome(f"POST {path} {raw[:20]!r}", problem))
    for query in ("limit=-1", "limit=abc", "since=nan", "since=1e400", "table=%00",
                  "images=2", "limit=99999999999999999999999"):
        tried += 1
        problem = _control(url, "GET", f"replications?{query}", None)
        if problem:
            unclean.append(Outcome(f"GET replications?{query}", problem))
    with urllib.request.urlopen(f"{url}/_gtbench/status", timeout=10) as answer:
        if not json.loads(answer.read())["healthy"]:
            unclean.append(Outcome("the emulator after the fuzz", "unhealthy"))
    _control(url, "POST", "config", json.dumps({"lag_ms": 50, "jitter_ms": 10}).encode())
    _control(url, "POST", "capacity", json.dumps({"on_demand": True}).encode())
    return tried, unclean


def _control(url: str, method: str, path: str, body: bytes | None) -> str | None:
    request = urllib.request.Request(f"{url}/_gtbench/{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            json.loads(answer.read())
            return None
    except urllib.error.HTTPError as exc:
        if exc.code not in (400, 404):
            return f"HTTP {exc.code}"
        try:
            json.loads(exc.read())
        except ValueError:
            return f"HTTP {exc.code} that is not JSON"
        return None


# -- scenarios: every way a run can be stopped ---------------------------------------------

EXPERIMENTS: dict[str, tuple[list[str], str]] = {
    "race": (["race", "--trials", "300"], "gtbench-race"),
    "conflict": (["conflict", "--trials", "300", "--no-timelines"], "gtbench-conflict"),
    "conflict increment": (["conflict", "--mode", "increment", "--increments", "3",
                            "--pace-ms", "20", "--trials", "300", "--no-timelines"],
                           "gtbench-conflict"),
    "race --load": (["race", "--load", "5,5,5,5", "--load-warm-up", "0", "--trials", "40"],
                    "gtbench-race"),
    "outage": (["outage", "--duration", "30", "--lead", "1"], "gtbench-outage"),
}


def _writes(url: str, pk: str) -> int:
    with urllib.request.urlopen(f"{url}/_gtbench/replications", timeout=10) as answer:
        rows = json.loads(answer.read())["replications"]
    return sum(1 for r in rows if str(r["key"].get("PK", {}).get("S", "")) == pk)


def scenario(name: str, stop: str, folder: Path) -> Outcome | None:
    """One experiment, stopped by ``stop`` once it has written a few times."""
    args, pk = EXPERIMENTS[name]
    emulator = subprocess.Popen([sys.executable, "-m", "gtbench.emulator"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        setup = subprocess.run([sys.executable, "-m", "gtbench", "setup", "--endpoint-url",
                                url], capture_output=True, text=True, timeout=120)
        if setup.returncode:
            return Outcome(f"{name} / {stop}", f"setup failed: {setup.stderr[-300:]}")
        out = folder / f"{name.replace(' ', '-')}-{stop}.json"
        run = subprocess.Popen([sys.executable, "-m", "gtbench", *args, "--endpoint-url",
                                url, "--json", str(out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=_as_from_a_terminal)
        deadline = time.monotonic() + 120
        while _writes(url, pk) < 6 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        expected = _stop(stop, url, run, emulator)
        _, stderr = run.communicate(timeout=180)
        where = f"{name} / {stop}"
        if "Traceback" in stderr:
            return Outcome(where, "a traceback: " + stderr[-300:])
        if run.returncode != expected:
            return Outcome(where, f"exit {run.returncode}, not {expected}: {stderr[-300:]}")
        if not out.exists():
            return Outcome(where, "no document saved")
        document = json.loads(out.read_text())
        if not (document.get("stopped") or document.get("interrupted")):
            return Outcome(where, "the document does not say the run ended early")
        checked = subprocess.run([sys.executable, "-m", "gtbench", "report", str(out),
                                  "--check"], capture_output=True, text=True, timeout=120)
        if checked.returncode:
            return Outcome(where, f"report --check: {checked.stderr[-300:]}")
        return None
    finally:
        emulator.kill()
        emulator.wait()


def _as_from_a_terminal() -> None:
    """Signals as a command started from a terminal has them (this script may itself
    run with SIGHUP or SIGINT ignored, as a background job or under nohup)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _stop(how: str, url: str, run: subprocess.Popen[str],
          emulator: subprocess.Popen[str]) -> int:
    """Stop the run ``how``; the exit status the README promises for it."""
    if how == "SIGTERM":
        run.send_signal(signal.SIGTERM)
        return 143
    if how == "SIGHUP":
        run.send_signal(signal.SIGHUP)
        return 129
    if how == "SIGINT":
        run.send_signal(signal.SIGINT)
        return 130
    if how == "kill emulator":
        emulator.kill()
        return 3
    if how == "teardown":
        for region in ("eu-west-1", "us-west-2"):
            with contextlib.suppress(Exception):  # a table already gone is the point
                client(url, region).delete_table(TableName="global-serverless")
        return 3
    raise ValueError(how)


STOPS = ("SIGTERM", "SIGHUP", "SIGINT", "kill emulator", "teardown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-option", type=int, default=12)
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--skip-fuzz", action="store_true")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    unclean: list[Outcome] = []
    tried = 0
    with tempfile.TemporaryDirectory() as folder:
        if not options.skip_fuzz:
            started = time.monotonic()
            tried, found = option_fuzz(rng, options.per_option, str(Path(folder) / "state"))
            unclean += found
            print(f"options: {tried} inputs over every command, {len(found)} unclean "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            from gtbench.emulator.server import EmulatorServer

            with EmulatorServer() as server:
                started = time.monotonic()
                tried_control, found = control_fuzz(rng, server.url, 8)
            unclean += found
            print(f"control API: {tried_control} inputs, {len(found)} unclean "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            tried += tried_control
        scenarios = 0
        if not options.skip_scenarios:
            started = time.monotonic()
            results = [scenario(name, stop, Path(folder))
                       for name in EXPERIMENTS for stop in STOPS]
            scenarios = len(results)
            found = [o for o in results if o is not None]
            unclean += found
            print(f"scenarios: {scenarios} (each experiment x {', '.join(STOPS)}), "
                  f"{len(found)} unclean ({time.monotonic() - started:.0f} s)")
    print(f"inputs tried: {tried + scenarios}; unclean outcomes: {len(unclean)} "
          f"(target 0: {'ok' if not unclean else 'MISSED'})")
    for outcome in unclean[:40]:
        print(f"  {outcome.what}: {outcome.problem}")


if __name__ == "__main__":
    main()
