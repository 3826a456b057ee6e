"""Hostile and careless input: every answer is a clean refusal or a run, never a
traceback, a hang or a 200 for nonsense; what was measured is never lost."""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gtbench.cli import COMMANDS, cli
from gtbench.cli.options import Finite
from gtbench.emulator import config as emulator_config
from gtbench.emulator.replication import Delivery
from gtbench.emulator.server import EmulatorServer
from tests.helpers import key, make_table, wait_until

NONSENSE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1", "0", "1e12", "abc", ""]
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(NONSENSE), st.text(max_size=6))


def _commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand, by its full name."""
    def walk(name: str, command: click.Command) -> list[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            return [pair for sub, child in command.commands.items()
                    for pair in walk(f"{name} {sub}", child)]
        return [(name, command)]

    return [pair for name in COMMANDS
            for pair in walk(name, cli.get_command(click.Context(cli), name))]  # type: ignore[arg-type]


FLOAT_OPTIONS = [(f"{name} {param.opts[0]}", param) for name, command in _commands()
                 for param in command.params
                 if isinstance(param.type, click.types.FloatParamType)]


def test_the_float_options_were_all_found() -> None:
    names = {n for n, _ in FLOAT_OPTIONS}
    assert {"race --timeout", "conflict --offset-ms", "outage --rate",
            "local start --lag-ms", "local fault outage --for"} <= names


@pytest.mark.parametrize(("name", "param"), FLOAT_OPTIONS, ids=[n for n, _ in FLOAT_OPTIONS])
def test_every_float_option_is_a_bounded_finite_number(name: str, param: Any) -> None:
    """NaN passes click's FloatRange (``nan < 0`` is false) and infinity passes a
    missing bound: each option is a Finite with both bounds."""
    assert isinstance(param.type, Finite), name
    assert param.type.min is not None and param.type.max is not None, name


@pytest.mark.parametrize(("name", "param"), FLOAT_OPTIONS, ids=[n for n, _ in FLOAT_OPTIONS])
@settings(max_examples=40, deadline=None)
@given(value=numbers)
def test_a_float_option_takes_a_finite_number_in_range_or_refuses_it(
        name: str, param: Any, value: Any) -> None:
    try:
        number = param.type.convert(value, param, None)
    except click.BadParameter:
        return
    assert math.isfinite(number) and param.type.min <= number <= param.type.max


@pytest.mark.parametrize("args", [
    ["race", "--resolution-ms", "nan"], ["race", "--timeout", "nan"],
    ["compare", "--resolution-ms", "nan"], ["outage", "--duration", "nan"],
    ["outage", "--rate", "inf"], ["outage", "--lead", "nan"],
    ["outage", "--settle-timeout", "nan"], ["conflict", "--offset-ms", "inf"],
    ["conflict", "--offset-ms", "nan"], ["conflict", "--offset-ms", "1e12"],
    ["conflict", "--offsets", "0,nan"], ["local", "start", "--lag-ms", "inf"],
    ["local", "start", "--lag-ms", "nan"], ["local", "serve", "--rtt", "eu-west-1=nan"],
    ["local", "fault", "outage", "eu-west-1", "--for", "nan"],
])
def test_a_number_that_is_not_one_is_refused_in_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr


def test_the_offset_bound_is_stated_in_help() -> None:
    result = CliRunner().invoke(cli, ["conflict", "--help"])
    assert "from -60000 to 60000" in " ".join(result.stdout.split())


# -- the control API ----------------------------------------------------------------------

def _post(url: str, action: str, raw: str) -> tuple[int, Any]:
    request = urllib.request.Request(f"{url}/_gtbench/{action}", data=raw.encode(),
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _raw(value: Any) -> str:
    """``value`` as it would appear in a JSON body: Python writes NaN and Infinity,
    which are not JSON, as a careless client would."""
    return json.dumps(value)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(emulator_config.BY_NAME)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(),
                       st.text(max_size=4), st.booleans(), st.none()))
def test_a_setting_is_a_finite_number_in_its_range_or_changes_nothing(
        _server: EmulatorServer, key: str, value: Any) -> None:
    before = _server.backend.status()
    code, answer = _post(_server.url, "config", f'{{"{key}": {_raw(value)}}}')
    try:
        setting = emulator_config.BY_NAME[key]
        low, high = setting.low, setting.high
        sane = (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value) and low <= value <= high)
        assert code == (200 if sane else 400), answer
        assert answer.get("healthy", True) and _server.backend.status()["healthy"]
        if not sane:
            after = _server.backend.status()
            assert after["lag"] == before["lag"] and after["ttl_sweep_s"] == before["ttl_sweep_s"]
    finally:
        _server.backend.configure({k: v for k, v in {
            "lag_ms": before["lag"]["lag_ms"], "jitter_ms": before["lag"]["jitter_ms"],
            "replica_create_delay_s": before["replica_create_delay_s"],
            "replica_delete_delay_s": before["replica_delete_delay_s"],
            "ttl_sweep_s": before["ttl_sweep_s"], "metric_period_s": before["metric_period_s"],
            "metric_delay_s": before["metric_delay_s"], "fis_delay_s": before["fis_delay_s"],
        }.items()})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["duration_s", "share"]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4)))
def test_a_fault_with_a_number_that_is_not_one_is_refused(
        _server: EmulatorServer, field: str, value: Any) -> None:
    spec = f'{{"kind": "throttle", "region": "eu-west-1", "{field}": {_raw(value)}}}'
    code, answer = _post(_server.url, "faults", spec)
    try:
        if code == 200:
            fault = answer["fault"]
            assert math.isfinite(fault.get("ends_at", 0.0)) and 0 < fault["share"] <= 1
        else:
            # NaN and Infinity are refused as JSON, anything else by name.
            assert code == 400 and (field in answer["error"] or "JSON" in answer["error"]), \
                answer
    finally:
        _server.backend.faults.clear()


# -- an emulator whose thread died -----------------------------------------------------------

def test_a_dead_delivery_thread_is_reported_and_commands_fail_at_once(tmp_path: Path) -> None:
    """What an infinite lag did: the lane's wait overflowed and its thread died, seen
    only in the log, and every later command waited out its timeout."""
    with EmulatorServer() as server:
        poison = Delivery(1, "123456789012", "t", {}, (), "us-west-2", "eu-west-1", None, 0,
                          float("inf"))
        server.backend.replicator._lane("eu-west-1").push(poison)
        status = wait_until(lambda: (s := server.backend.status())["broken"] and s,
                            message="the lane's death")
        assert status["healthy"] is False
        assert status["broken"][0]["thread"] == "gtbench-lane-eu-west-1"
        result = CliRunner().invoke(cli, ["status", "--endpoint-url", server.url])
        assert result.exit_code == 1
        assert "unhealthy" in result.stderr and "gtbench-lane-eu-west-1" in result.stderr
        assert "Traceback" not in result.stderr


# -- results that survive --------------------------------------------------------------------

def test_json_to_anything_but_a_regular_file_is_refused_before_the_run(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (str(fifo), "", "  "):
        result = CliRunner().invoke(cli, ["race", "--json", path])
        assert result.exit_code == 2 and "nothing was run" in result.stderr, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # not replaced by a JSON file


def test_a_second_ctrl_c_while_saving_still_saves(tmp_path: Path) -> None:
    """The run was interrupted; a Ctrl-C comes again while its document is built: the
    document is still written, and the command still says it was interrupted."""
    from gtbench.cli.session import RunSession
    from gtbench.errors import Interrupted
    from gtbench.experiments.trials import RunEnd
    from gtbench.terminal import Terminal

    session = RunSession.__new__(RunSession)
    session.json_path, session.terminal = str(tmp_path / "run.json"), Terminal()
    session._restore = None  # no measuring() before it: the handler stays as it was
    session._marked = False
    session.stopped_by = None

    def build() -> dict[str, Any]:
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C
        return {"experiment": "race", "measured": 3}

    with pytest.raises(Interrupted):
        session.conclude(RunEnd(), build, lambda document: [], done="3 trials")
    assert json.loads((tmp_path / "run.json").read_text())["measured"] == 3


# -- messages that tell the truth --------------------------------------------------------------

def test_a_file_that_is_not_a_result_is_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "x.json"
    binary.write_bytes(bytes(range(256)))
    damaged = tmp_path / "compare.json"
    damaged.write_text(json.dumps({"experiment": "compare", "format": 2, "modes": [],
                                   "summary": {"modes": None}}))
    for path, message in ((binary, "it is not text"), (damaged, "damaged gtbench result")):
        result = CliRunner().invoke(cli, ["report", str(path)])
        assert result.exit_code == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_an_endpoint_with_a_space_and_a_state_dir_under_a_file_are_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["status", "--endpoint-url", "http://a b:8000"])
    assert result.exit_code == 2 and "contains a space" in result.stderr
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GTBENCH_STATE_DIR", str(tmp_path / "file" / "state"))
    result = CliRunner().invoke(cli, ["local", "start", "--port", "1"])
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    started = CliRunner().invoke(cli, ["local", "start"])
    assert started.exit_code == 1 and "GTBENCH_STATE_DIR" in started.stderr, started.stderr


def test_a_host_that_is_not_one_is_said_so_not_called_a_busy_port() -> None:
    result = CliRunner().invoke(cli, ["local", "serve", "--host", "not a host"])
    assert result.exit_code == 2 and "not a host name or address" in result.stderr
    assert "in use" not in result.stderr


def test_an_ipv6_emulator_url_has_brackets() -> None:
    from gtbench.local.lifecycle import Running

    assert Running(1, "::1", 8000, "user", 0.0, "").url == "http://[::1]:8000"
    try:
        server = EmulatorServer(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        assert server.url == f"http://[::1]:{server.port}"
        with urllib.request.urlopen(f"{server.url}/_gtbench/status", timeout=5) as answer:
            assert json.loads(answer.read())["emulator"] == "gtbench"


# -- counts, paths and formats: refused before anything is made -------------------------------

INT_OPTIONS = [(f"{name} {param.opts[0]}", param) for name, command in _commands()
               for param in command.params if isinstance(param.type, click.IntRange)]


@pytest.mark.parametrize(("name", "param"), INT_OPTIONS, ids=[n for n, _ in INT_OPTIONS])
def test_every_count_has_an_upper_bound_stated_in_help(name: str, param: Any) -> None:
    """A count of 10^23 once exhausted memory after setup had made the table."""
    assert param.type.max is not None, name
    assert f"{param.type.max}" in param.type._describe_range().replace("_", ""), name


@pytest.mark.parametrize("args", [
    ["setup", "--bookmarks", "99999999999999999999999"],
    ["race", "--trials", "100000000"],
    ["compare", "--trials", "100000000000000000000000"],
    ["conflict", "--offsets", "0,0"],
    ["race", "--load", "1e-300"],
    ["race", "--load-warm-up", "3"],
    ["race", "--cloudwatch-wait", "3"],
    ["race", "--to", "eu-west-1", "--to", "eu-west-1"],
    ["local", "fault", "throttle", "eu-west-1", "--ops", "Bogus"],
    ["race", "--load", "-1"],
    ["race", "--table", "global-serverless\n"],
])
def test_a_count_or_choice_out_of_bounds_is_refused_before_anything_runs(
        args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is started or made: the endpoint named does not exist."""
    monkeypatch.setenv("GTBENCH_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(cli, [*args, "--endpoint-url", "http://127.0.0.1:9"]
                                if args[0] != "local" else args)
    assert result.exit_code in (1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.count("\n") <= 2, result.stderr
    assert "Connect" not in result.stderr  # refused before any call was made
    assert not (tmp_path / "state").exists()  # and no emulator started


def test_paths_too_long_links_and_wrong_figure_formats_are_refused_before_the_run(
        tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    cases = [(["--json", str(tmp_path / ("a" * 300 + ".json"))], "too long"),
             (["--json", str(link)], "symbolic link"),
             (["--load", "0", "--png", str(tmp_path / "out.txt")], "*.png")]
    for extra, message in cases:
        result = CliRunner().invoke(cli, ["race", *extra, "--endpoint-url",
                                          "http://127.0.0.1:9"])
        assert result.exit_code == 2 and message in result.stderr, result.stderr
        assert "nothing was run" in result.stderr
    assert link.is_symlink() and target.read_text() == "{}"
    result = CliRunner().invoke(cli, ["report", str(target), "--png", str(tmp_path / "f.txt")])
    assert result.exit_code == 2 and "*.png" in result.stderr


def test_report_reads_only_a_regular_file_of_bounded_size_and_depth(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer: reading it would block for ever
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    for path, message in ((str(fifo), "not a regular file"), ("/dev/zero", "not a regular"),
                          (str(deep), "nested deeper")):
        result = CliRunner().invoke(cli, ["report", path])
        assert result.exit_code == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_an_endpoint_that_is_not_dynamodb_is_one_line() -> None:
    """A plain web server's 200 once surfaced as KeyError: 'Table'."""
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = CliRunner().invoke(cli, ["status", "--endpoint-url",
                                          f"http://127.0.0.1:{server.server_port}"])
    finally:
        server.shutdown()
    assert result.exit_code == 1, result.stderr
    assert "not as DynamoDB does" in result.stderr and "Traceback" not in result.stderr


# -- the emulator: a 400 in DynamoDB's shape, never a 500 page ---------------------------------

AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=x")


def _send(url: str, path: str, body: bytes, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, Any]:
    request = urllib.request.Request(f"{url}{path}", data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())  # not JSON (an HTML page) fails here


@pytest.mark.parametrize(("op", "body", "code"), [
    ("PutItem", b"[]", "SerializationException"),
    ("PutItem", b"5", "SerializationException"),
    ("PutItem", b'{"TableName": 5}', "SerializationException"),
    ("PutItem", b'{"TableName": "tbl", "Item": {"PK": 5}}', "SerializationException"),
    ("GetItem", b'{"TableName": "tbl", "Key": []}', "SerializationException"),
    ("BatchWriteItem", b'{"RequestItems": []}', "SerializationException"),
    ("TransactWriteItems", b'{"TransactItems": {}}', "SerializationException"),
    ("DeleteTable", b'{"TableName": {}}', "SerializationException"),
    ("PutItem", b'{"TableName": "tbl"}', "ValidationException"),
    ("PutItem", b"[" * 5000 + b"]" * 5000, "ValidationException"),
    ("PutItem", b"not json", "SerializationException"),
])
def test_a_malformed_dynamodb_request_is_a_400_in_dynamodbs_shape(
        emulator: EmulatorServer, op: str, body: bytes, code: str) -> None:
    status, answer = _send(emulator.url, "/", body, {
        "X-Amz-Target": f"DynamoDB_20120810.{op}", "Authorization": AUTH,
        "Content-Type": "application/x-amz-json-1.0"})
    assert status == 400 and answer["__type"].endswith(f"#{code}"), answer


def test_nesting_is_measured_without_recursion_and_dynamodbs_deepest_item_passes(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    """A body is refused for its depth before any parser recurses into it (a server
    thread at the recursion limit broke a finaliser run there); brackets inside strings
    are text, and a document nested 31 levels deep (DynamoDB allows 32) is stored."""
    from gtbench.emulator.values import MAX_NESTING, nested_deeper_than

    assert nested_deeper_than(b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1))
    assert not nested_deeper_than(b"[" * MAX_NESTING + b"]" * MAX_NESTING)
    assert not nested_deeper_than(b'{"S": "' + b"[{" * 1000 + b'\\"}')
    status, answer = _send(emulator.url, "/", b"[" * 200 + b"]" * 200, {
        "X-Amz-Target": "DynamoDB_20120810.PutItem", "Authorization": AUTH,
        "Content-Type": "application/x-amz-json-1.0"})
    assert status == 400 and answer["__type"].endswith("#ValidationException"), answer
    make_table(ddb("us-west-2"))
    value: dict[str, Any] = {"S": "bottom"}
    for _ in range(30):
        value = {"M": {"m": value}}
    ddb("us-west-2").put_item(TableName="tbl", Item={**key("deep", "1"), "doc": value})
    stored = ddb("us-west-2").get_item(TableName="tbl", Key=key("deep", "1"))["Item"]["doc"]
    assert stored == value


def test_a_body_that_is_not_the_gzip_it_claims_is_a_400(emulator: EmulatorServer) -> None:
    status, answer = _send(emulator.url, "/", b"plain", {
        "X-Amz-Target": "DynamoDB_20120810.PutItem", "Authorization": AUTH,
        "Content-Encoding": "gzip"})
    assert status == 400 and answer["__type"].endswith("#SerializationException")
    status, answer = _send(emulator.url, "/_gtbench/config", b"plain",
                          {"Content-Encoding": "gzip"})
    assert status == 400 and "gzip" in answer["error"]


@pytest.mark.parametrize(("path", "body", "method"), [
    ("lag", {"lag_ms": 5, "source": ["us-west-2"], "destination": "eu-west-1"}, "POST"),
    ("lag", {"lag_ms": 5, "source": "xx-nowhere-9", "destination": "eu-west-1"}, "POST"),
    ("lag", {"reset_pairs": "yes"}, "POST"),
    ("settle", {"table": 5}, "POST"),
    ("settle", {"timeout_s": 1, "tabel": "x"}, "POST"),
    ("capacity", {"region": ""}, "POST"),
    ("replications?limit=-1", None, "GET"),
    ("faults/abc", None, "DELETE"),
    ("faults/99999999999999999999999", None, "DELETE"),
    ("faults", {"kind": "throttle", "region": "eu-west-1", "share": 0.5,
                "operations": ["Bogus"]}, "POST"),
    ("config", "[" * 5000 + "]" * 5000, "POST"),
])
def test_a_loose_control_value_is_refused_and_changes_nothing(
        emulator: EmulatorServer, path: str, body: Any, method: str) -> None:
    before = emulator.backend.status()
    data = (body.encode() if isinstance(body, str) else json.dumps(body).encode()
            if body is not None else None)
    status, answer = _send(emulator.url, f"/_gtbench/{path}", data or b"", method=method)
    assert status == 400 and answer["error"], answer
    after = emulator.backend.status()
    assert (after["lag"], after["faults"], after["capacity"]) == (
        before["lag"], before["faults"], before["capacity"])


def test_resetting_per_direction_lags_keeps_the_jitter(emulator: EmulatorServer) -> None:
    from tests.helpers import control

    control(emulator.url, "lag", "POST", {"lag_ms": 100, "jitter_ms": 20})
    control(emulator.url, "lag", "POST", {"reset_pairs": True})
    assert emulator.backend.replicator.lag.jitter_ms == 20


def test_a_table_name_with_a_trailing_newline_is_not_one(emulator: EmulatorServer) -> None:
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client("dynamodb", region_name="us-west-2", endpoint_url=emulator.url,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    with pytest.raises(ClientError, match="regular expression"):
        client.create_table(TableName="tbl\n", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "PK",
                                                   "AttributeType": "S"}])
