"""Probes inside the regions, rehearsed on the emulator: local workers placed in their
regions, clocks skewed on demand, the ping-pong, and the probe's own clock measurement."""

from __future__ import annotations

import io
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gtbench.analysis import race_verdict
from gtbench.analysis.race import round_trip_bound
from gtbench.cli import cli
from gtbench.emulator.distance import Distance
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.errors import GtbenchError
from gtbench.history import Op
from gtbench.probes import handler, transport
from gtbench.probes import race as race_ops
from tests.helpers import run_cli

A, B = "us-west-2", "eu-west-1"
MS = 1_000_000


def report(document: dict[str, Any], tmp_path: Path, *args: str) -> Any:
    path = tmp_path / "race.json"
    path.write_text(json.dumps(document))
    return CliRunner().invoke(cli, ["report", str(path), *args])


def probe_race(emulator: EmulatorServer, tmp_path: Path, *args: str) -> dict[str, Any]:
    assert run_cli(emulator.url, "setup").exit_code == 0
    result = run_cli(emulator.url, "race", "--probes", "--json", "-", *args)
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    checked = report(document, tmp_path, "--check")  # every verdict follows again
    assert checked.exit_code == 0, checked.stderr
    return document


def test_probes_bound_every_true_lag_and_echo_the_write(emulator: EmulatorServer,
                                                        tmp_path: Path) -> None:
    # The client in Oregon: Ireland is 118 ms away from it, but not from Ireland's probe.
    emulator.backend.set(distance=Distance(A))
    emulator.backend.set(lag=LagModel(150, 30))
    document = probe_race(emulator, tmp_path, "--trials", "4")
    trials = document["trials"]
    assert [t["status"] for t in trials] == ["replicated"] * 4
    assert all(t["via"] == "probes" and t["clock_error_s"] == 0.001 for t in trials)
    assert all(t["true_in_bound"] for t in trials), [
        (t["lag_low_s"], t["true_lag_s"], t["lag_high_s"]) for t in trials]
    # The reader's echo came back: both one-way bounds and the round trip, consistent.
    assert all(t["clocks_agree"] is True for t in trials)
    for t in trials:
        assert t["round_trip_low_s"] <= t["lag_high_s"] + t["return_lag_high_s"]
        assert t["lag_low_s"] + t["return_lag_low_s"] <= t["round_trip_high_s"]
    # Placed in Ireland, the reader's reads are not the client's 118 ms round trip.
    reads = [o for t in trials for o in t["history"]
             if o["kind"] == "read" and o["region"] == B]
    # A read from the client cannot return sooner than its 118 ms round trip (the
    # emulator holds it that long): any faster one was the placed reader's.
    fastest = min(o["received_ns"] - o["sent_ns"] for o in reads)
    assert fastest < 118 * MS
    pair = document["summary"]["pairs"][0]
    assert pair["round_trip_p50_s"] is not None and pair["clocks_disagree"] == 0
    # The pinned ping-pong figure: the median summed round trip, inside the medians of
    # the bounds.
    (trip,) = document["summary"]["pingpong"]
    assert (trip["from_region"], trip["to_region"], trip["trials"]) == (A, B, len(trials))
    assert trip["low_s"] <= trip["p50_s"] <= trip["high_s"]
    assert trip["p50_s"] == pair["round_trip_p50_s"]


def test_a_skew_within_the_clock_error_keeps_the_truth_inside(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.backend.set(lag=LagModel(150, 30))
    emulator.backend.set(probe_skew_ms={B: 0.8})  # under the 1 ms allowed per probe
    # Two pollers per probe, staggered: each is a process of its own in the history.
    document = probe_race(emulator, tmp_path, "--trials", "4", "--pollers", "2")
    assert all(t["true_in_bound"] for t in document["trials"])
    readers = {o["process"] for t in document["trials"] for o in t["history"]
               if o["kind"] == "read" and o["region"] == B}
    assert readers == {1, 3}


def test_a_skew_past_the_shorter_lag_trips_the_cross_check(emulator: EmulatorServer,
                                                          tmp_path: Path) -> None:
    emulator.backend.set(lag=LagModel(100, 0))
    emulator.backend.set(probe_skew_ms={B: 400.0})  # Ireland's clock 400 ms ahead
    document = probe_race(emulator, tmp_path, "--trials", "3")
    trials = document["trials"]
    # Forward looks 400 ms too long, the echo 300 ms below zero: impossible, and said,
    # wherever the bounds are narrow enough to show it. A poller stalled for longer than
    # that margin (a loaded machine) widens a bound until it holds a lag of zero or
    # more, and then the data proves nothing and nothing may be claimed.
    for t in trials:
        if t["lag_high_s"] - t["lag_low_s"] < 0.39:  # the skew shifts it past the truth
            assert not t["true_in_bound"], t
        if t["clocks_agree"] is not False and t.get("return_lag_high_s") is not None:
            # nothing missed: no lag below zero shown (None: the echo was not seen)
            assert t["return_lag_high_s"] >= 0 and t["lag_high_s"] >= 0, t
    flagged = sum(t["clocks_agree"] is False for t in trials)
    if not flagged:  # above: then no trial's bounds showed a lag below zero
        pytest.skip("a loaded machine widened every trial's bounds past the 300 ms the "
                    "skew leaves: nothing to show")
    assert document["summary"]["pairs"][0]["clocks_disagree"] == flagged
    shown = report(document, tmp_path)
    assert "clock error allowed for" in " ".join(shown.stdout.split())


def test_probes_refuse_what_they_cannot_do(emulator: EmulatorServer) -> None:
    assert run_cli(emulator.url, "setup").exit_code == 0
    alone = run_cli(emulator.url, "race", "--clock-error-ms", "2")
    assert alone.exit_code == 2 and "is for --probes" in alone.stderr
    unknown = {"region": B, "clock": {"error_ns": None, "source": "time.aws.com unreachable"}}
    with pytest.raises(GtbenchError, match="could not measure its clock"):
        transport.clock_error_s(unknown, None)
    assert transport.clock_error_s(unknown, 0.004) == 0.004


def test_the_lambda_entry_gives_each_thread_a_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", B)  # as Lambda sets it
    monkeypatch.setenv("AWS_DEFAULT_REGION", B)
    monkeypatch.setattr(handler, "_STATE", {"clock": handler.Clock(error_ns=MS)})
    assert handler.handler({"action": "clock"}, None)["region"] == B
    assert handler._STATE["client"].meta.config.max_pool_connections == 10
    answer = handler.handler({"action": "clock", "writers": 24}, None)  # 24 writers
    client = handler._STATE["client"]
    assert client.meta.config.max_pool_connections == 24
    # One attempt per call, whatever the runtime's SDK defaults to; said in the answer.
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert answer["attempts_per_call"] == 1


class AppearsAfter:
    """A DynamoDB client whose item holds the value once it has served ``n`` reads to
    ``threads`` different threads (so however the machine schedules them, every poller
    reads before the value arrives); writes are recorded. Thread-safe, as boto3's are."""

    def __init__(self, n: int, threads: int) -> None:
        self.n, self.threads, self.reads = n, threads, 0
        self.readers: set[int] = set()
        self.writes: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def get_item(self, **_: Any) -> dict[str, Any]:
        with self.lock:
            self.reads += 1
            self.readers.add(threading.get_ident())
            fresh = self.reads >= self.n and len(self.readers) >= self.threads
        time.sleep(0.002)  # a read takes a while: the pollers overlap
        return {"Item": {"Value": {"N": "7"}}} if fresh else {}

    def put_item(self, **item: Any) -> dict[str, Any]:
        with self.lock:
            self.writes.append(item)
        return {}


def test_a_probes_pollers_are_staggered_processes_and_the_echo_goes_once() -> None:
    client = AppearsAfter(12, threads=3)
    answer = handler.run({"action": "pong", "table": "t", "key": {"PK": {"S": "k"}},
                          "echo_key": {"PK": {"S": "e"}}, "value": 7, "interval_ms": 4,
                          "pollers": 3, "timeout_s": 10}, client, handler.Clock(error_ns=MS))
    reads = [o for o in answer["ops"] if o["kind"] == "read"]
    echo = answer["ops"][-1]
    # Every poller took part, and each read one at a time (a process of its own).
    assert {r["poller"] for r in reads} == {0, 1, 2}
    for k in range(3):
        mine = [r for r in reads if r["poller"] == k]
        assert all(a["mono_received_ns"] <= b["mono_sent_ns"]
                   for a, b in itertools.pairwise(mine))
    # The echo went out once, after the first fresh read came back, though more than
    # one poller may have seen the value.
    assert echo["kind"] == "write" and len(client.writes) == 1
    assert client.writes[0]["Item"]["PK"] == {"S": "e"}
    first_fresh = min(r["mono_received_ns"] for r in reads if r["value"] == 7)
    assert echo["mono_sent_ns"] >= first_fresh
    assert [r["mono_sent_ns"] for r in reads] == sorted(r["mono_sent_ns"] for r in reads)
    ops = [race_ops.to_op(r, B, 1) for r in answer["ops"]]
    assert {o.process for o in ops if o.kind == "read"} == {1, 3, 5}


def op(region: str, kind: str, mono: tuple[int, int], value: int | None) -> Op:
    sent, received = (m * MS for m in mono)
    return Op(region, kind, sent, received, value=value,  # type: ignore[arg-type]
              mono_sent_ns=sent, mono_received_ns=received)


def test_the_round_trip_needs_no_common_clock() -> None:
    # A (its own clock): writes at 0-10, sees the echo between its reads sent at 500
    # (stale) and received at 520 (fresh). B (another clock, far off): its read sent at
    # 10_000 was stale, the one received at 10_210 fresh; its echo took 10_220-10_230.
    write = op(A, "write", (0, 10), 7)
    reads = [op(B, "read", (10_000, 10_005), None), op(B, "read", (10_200, 10_210), 7)]
    echo = op(B, "write", (10_220, 10_230), 7)
    echo_reads = [op(A, "read", (500, 505), None), op(A, "read", (510, 520), 7)]
    trip = round_trip_bound(write, reads, echo, echo_reads, 7)
    assert trip is not None
    # [(500 - 10) - (10_230 - 10_000), (520 - 0) - (10_220 - 10_210)] ms
    assert (trip.low_s, trip.high_s) == pytest.approx((0.260, 0.510))
    verdict = race_verdict(write, reads, 7, clock_error_s=0.002, echo=(echo, echo_reads))
    assert verdict.round_trip_low_s == pytest.approx(0.260)
    # One way, across two clocks: [ss - wa - 2e, fr - ws + 2e] with e = 2 ms.
    assert (verdict.lag_low_s, verdict.lag_high_s) == pytest.approx((9.986, 10.214))
    # One-way, the clocks disagree by 10 s: the echo's lag is "below zero", and said.
    assert verdict.clocks_agree is False


@pytest.fixture
def fake_ntp() -> Iterator[tuple[str, int]]:
    """An SNTP server on loopback whose clock is 5 s ahead of this machine's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    done = threading.Event()

    def ntp(ns: int) -> bytes:
        seconds, rest = divmod(ns + 5_000_000_000, 1_000_000_000)
        return struct.pack("!II", seconds + handler.NTP_EPOCH_OFFSET_S,
                           (rest << 32) // 1_000_000_000)

    def serve() -> None:
        while not done.is_set():
            try:
                _, sender = sock.recvfrom(48)
            except OSError:
                continue
            received = time.time_ns()
            sock.sendto(b"\x24" + b"\0" * 31 + ntp(received) + ntp(time.time_ns()), sender)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()
    done.set()
    thread.join()
    sock.close()


def test_a_probe_measures_its_clock_against_an_ntp_server(fake_ntp: tuple[str, int]) -> None:
    host, port = fake_ntp
    clock = handler.sntp_clock(host, timeout_s=1.0, port=port)
    assert clock.error_ns is not None and clock.error_ns >= handler.SERVER_ERROR_NS
    # Corrected, the probe's wall clock reads the server's time, within the error.
    assert abs(clock.wall_ns() - (time.time_ns() + 5_000_000_000)) <= clock.error_ns + 5 * MS
    assert f"SNTP {host}" in clock.source


def test_an_unreachable_time_server_leaves_the_error_unknown() -> None:
    clock = handler.sntp_clock("127.0.0.1", timeout_s=0.05)  # nothing answers on port 123
    assert clock.error_ns is None and clock.offset_ns == 0
    assert "unknown" in clock.source


def test_deploy_status_and_remove_make_and_delete_only_their_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On moto's IAM and Lambda: deploy twice (idempotent), status, a stranger's function
    left alone, remove."""
    import boto3
    from moto import mock_aws

    from gtbench.probes import deploy

    for name in ("GTBENCH_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    aws = ["--target", "aws", "--regions", f"{A},{B}", "--table", "bookmarks"]
    with mock_aws():
        first = CliRunner().invoke(cli, ["probes", "deploy", *aws, "--yes"])
        assert first.exit_code == 0, first.output
        assert "creating IAM role gtbench-probe" in first.stderr
        assert f"{A}: creating the probe" in first.stderr
        again = CliRunner().invoke(cli, ["probes", "deploy", *aws, "--yes"])
        assert again.exit_code == 0 and "creating" not in again.stderr
        iam = boto3.client("iam", region_name=A)
        granted = json.loads(json.dumps(iam.get_role_policy(
            RoleName="gtbench-probe", PolicyName="gtbench-probe-access")["PolicyDocument"]))
        resources = granted["Statement"][0]["Resource"]
        assert resources == [f"arn:aws:dynamodb:{r}:123456789012:table/{name}"
                             for r in (A, B) for name in ("bookmarks", "gtbench-compare-*")]
        assert granted["Statement"][0]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem",
                                                     "dynamodb:UpdateItem"]
        code = boto3.client("lambda", region_name=B).get_function(
            FunctionName="gtbench-probe")["Configuration"]
        assert code["Handler"] == "gtbench_probe.handler"
        assert code["CodeSha256"] == deploy.code_sha(deploy.package())
        assert (code["MemorySize"], code["Timeout"]) == (1769, 900)  # one whole vCPU
        # Its logs are kept a week, not forever (Lambda's own group would have no limit).
        for region in (A, B):
            (group,) = boto3.client("logs", region_name=region).describe_log_groups(
                logGroupNamePrefix="/aws/lambda/gtbench-probe")["logGroups"]
            assert group["retentionInDays"] == 7
        # A probe an older gtbench made smaller is brought to this one's memory.
        lam = boto3.client("lambda", region_name=B)
        lam.update_function_configuration(FunctionName="gtbench-probe", MemorySize=512)
        resized = CliRunner().invoke(cli, ["probes", "deploy", *aws, "--yes"])
        assert f"{B}: setting the probe's memory (1769 MB)" in resized.stderr, resized.output
        assert lam.get_function(FunctionName="gtbench-probe")["Configuration"][
            "MemorySize"] == 1769
        shown = CliRunner().invoke(cli, ["probes", "status", *aws])
        assert f"{B}: Active, current code" in shown.stdout, shown.output
        # A function of the same name that gtbench did not make is never touched.
        stranger = boto3.client("lambda", region_name="us-east-1")
        stranger.create_function(FunctionName="gtbench-probe", Runtime="python3.12",
                                 Role=code["Role"], Handler="x.y",
                                 Code={"ZipFile": deploy.package()})
        gone = CliRunner().invoke(cli, ["probes", "remove", "--target", "aws", "--regions",
                                        f"{A},{B},us-east-1", "--yes"])
        assert gone.exit_code == 0, gone.output
        assert "us-east-1: gtbench-probe was not made by gtbench: left as it is" in gone.stderr
        assert stranger.get_function(FunctionName="gtbench-probe")
        assert deploy.role_arn(iam) is None
        assert "removed the probes in us-west-2, eu-west-1" in gone.stdout
        for region in (A, B):  # and their log groups with them
            assert boto3.client("logs", region_name=region).describe_log_groups(
                logGroupNamePrefix="/aws/lambda/gtbench-probe")["logGroups"] == []


def test_a_lambda_probe_is_invoked_once_and_its_failure_is_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.stub import Stubber

    from gtbench.regions import Settings, open_regions

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "stub")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stub")

    regions = open_regions(Settings("aws", None, (A, B), "bookmarks", None))
    probes = transport.LambdaProbes(regions)
    client = probes._clients[B]
    answer = {"region": B, "clock": {"offset_ns": 0, "error_ns": 1_500_000,
                                     "source": "SNTP"}, "ops": []}
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200, "Payload": _stream(answer)},
                          {"FunctionName": "gtbench-probe", "InvocationType": "RequestResponse",
                           "Payload": json.dumps({"action": "clock", "region": B}).encode()})
        got = probes.invoke(B, {"action": "clock"}, threading.Event())
        assert transport.clock_error_s(got, None) == 0.0015
        stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                     "Payload": _stream({"errorMessage": "AccessDenied"})})
        with pytest.raises(GtbenchError, match=f"the probe in {B} failed: AccessDenied"):
            probes.invoke(B, {"action": "clock"}, threading.Event())
        stub.add_client_error("invoke", "ResourceNotFoundException", http_status_code=404)
        with pytest.raises(GtbenchError, match=f"there is no probe in {B}"):
            probes.invoke(B, {"action": "clock"}, threading.Event())


def _stream(payload: Any) -> Any:
    from botocore.response import StreamingBody

    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_compare_with_probes_times_the_race_from_inside_the_regions(
        emulator: EmulatorServer, tmp_path: Path) -> None:
    regions = "us-west-2,us-east-1,us-east-2"
    out = tmp_path / "compare.json"
    result = run_cli(emulator.url, "compare", "--probes", "--trials", "1", "--conflicts", "1",
                     "--increments", "1", "--json", str(out), regions=regions)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    for mode in document["modes"]:
        trials = mode["race"]["trials"]
        assert trials and all(t["via"] == "probes" for t in trials)
        # Strong and eventual reads, both from the probe beside the replica.
        kinds = {o.get("consistent", True) for t in trials for o in t["history"]
                 if o["kind"] == "read"}
        assert kinds == {True, False}
        assert all(t["true_in_bound"] for t in trials if t["true_lag_s"] is not None)
    assert CliRunner().invoke(cli, ["report", str(out), "--check"]).exit_code == 0


def test_a_probe_that_fails_mid_run_ends_it_with_the_trials_kept(
        emulator: EmulatorServer) -> None:
    from gtbench.experiments.race import RacePlan
    from gtbench.local import lifecycle
    from gtbench.probes.race import run_probe_race
    from gtbench.regions import Settings, open_regions

    assert run_cli(emulator.url, "setup").exit_code == 0
    settings = Settings("local", emulator.url, (A, B), "global-serverless", None)
    regions = open_regions(settings)
    local = transport.LocalProbes(regions, emulator.url, lifecycle.probe(emulator.url) or {},
                                  None)

    class Failing:
        via = "probes"
        calls = 0

        def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
                   ) -> dict[str, Any]:
            self.calls += 1
            if self.calls > 2 * 2 + 2 * 2:  # the clocks, then two trials
                raise GtbenchError(f"the probe in {region} failed: Rate exceeded")
            return local.invoke(region, event, stop)

    result = run_probe_race(regions, settings, RacePlan(((A, B),), 10, 1, 0.005, 5.0),
                            Failing())
    assert len(result.trials) == 2 and result.stopped is not None
    assert "Rate exceeded" in result.stopped


def test_deploy_wakes_an_inactive_probe_and_waits_until_it_is_active(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda deactivates an idle function; a deploy that found it up to date still
    makes it Active before a run invokes it (the update waiter alone did not)."""
    import boto3
    from botocore.stub import Stubber

    from gtbench.probes import deploy

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "stub")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stub")
    client = boto3.client("lambda", region_name=B)
    zipped = deploy.package()
    arn = f"arn:aws:lambda:{B}:123456789012:function:gtbench-probe"
    said: list[str] = []
    with Stubber(client) as stub:
        stub.add_response("get_function", {"Configuration": {
            "FunctionArn": arn, "State": "Inactive", "CodeSha256": deploy.code_sha(zipped),
            "MemorySize": deploy.MEMORY_MB, "Timeout": deploy.TIMEOUT_S}})
        stub.add_response("list_tags", {"Tags": {deploy.TAG_KEY: deploy.TAG_VALUE}})
        stub.add_response("get_function", {"Configuration": {"LastUpdateStatus": "Successful"}})
        stub.add_client_error("invoke", "ResourceConflictException",
                              "The operation cannot be performed at this time.")
        stub.add_response("get_function", {"Configuration": {"State": "Active"}})
        deploy.deploy_one(client, B, "role", zipped, said.append)
        stub.assert_no_pending_responses()
    assert said == [f"{B}: waking the probe (Lambda made it inactive after an idle spell)"]


def test_a_probe_poll_fits_lambdas_answer_and_the_invoke_outlasts_the_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda caps a synchronous answer at 6 MB: at about 240 bytes a read and a read
    every 5 ms, a poll fills it in a little over two minutes, so --timeout with --probes
    is bounded before the run; the Invoke's read outlasts the function's 900 s, over a
    connection kept alive, as the Invoke reference asks."""
    from gtbench.probes.race import longest_poll_s
    from gtbench.regions import Settings, open_regions

    assert 100 < longest_poll_s(1, 5.0, False) < 110  # 0.8 * 6 MiB / (240 B * 200/s)
    assert longest_poll_s(1, 5.0, True) == pytest.approx(longest_poll_s(1, 5.0, False) / 2)
    refused = CliRunner().invoke(cli, ["race", "--probes", "--timeout", "600",
                                       "--endpoint-url", "http://127.0.0.1:9"])
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert "with --probes, --timeout is at most 105 s at a read every 5 ms" in " ".join(
        refused.stderr.split())
    roomier = CliRunner().invoke(cli, ["race", "--probes", "--timeout", "600",
                                       "--interval-ms", "50", "--endpoint-url",
                                       "http://127.0.0.1:9"])
    assert "at most" not in roomier.stderr  # a read every 50 ms leaves room for 600 s
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "stub")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stub")
    config = transport.LambdaProbes(open_regions(Settings("aws", None, (A, B), "t", None))
                                    )._clients[A].meta.config
    assert config.read_timeout > transport.FUNCTION_TIMEOUT_S and config.tcp_keepalive


def test_each_trial_takes_the_clock_error_of_the_environments_that_served_it() -> None:
    """Lambda serves concurrent invocations from environments of their own, each with
    its own SNTP measurement: the trial's bound widens by the error its own answers
    declare, not the one measured at set-up (a different environment's)."""
    from concurrent.futures import ThreadPoolExecutor

    from gtbench.experiments.race import RacePlan
    from gtbench.probes.race import Coordinator, run_probe_trial

    def op(kind: str, at_ms: int, value: int | None) -> dict[str, Any]:
        return {"kind": kind, "sent_ns": at_ms * MS, "received_ns": (at_ms + 2) * MS,
                "mono_sent_ns": at_ms * MS, "mono_received_ns": (at_ms + 2) * MS,
                "result": "ok", "value": value, "error": None}

    class TwoEnvironments:
        """Set-up answers with 1 ms; the ping's environment measured 7 ms."""

        via = "probes"

        def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
                   ) -> dict[str, Any]:
            value = event.get("value")
            if event["action"] == "clock":
                return {"region": region, "wall_ns": 0, "clock": {"error_ns": 1 * MS}}
            if event["action"] == "ping":
                return {"region": region, "clock": {"error_ns": 7 * MS},
                        "ops": [op("write", 0, value), op("read", 60, value)]}
            return {"region": region, "clock": {"error_ns": 1 * MS},
                    "ops": [op("read", 5, None), op("read", 30, value), op("write", 33, value)]}

    probes = TwoEnvironments()
    clocks = Coordinator(probes, [A, B], None)
    assert clocks.error_s == {A: 0.001, B: 0.001}  # what set-up saw
    with ThreadPoolExecutor(2) as pool:
        trial = run_probe_trial(probes, clocks, "t", (A, B), 0, "run", RacePlan(((A, B),)),
                                pool, threading.Event())
    assert trial.clock_error_s == 0.007  # the ping's own environment


def test_a_second_deploy_keeps_what_the_first_probes_were_granted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PutRolePolicy replaces the role's inline policy: a deploy for another region or
    table must merge, or the probes deployed before lose their access."""
    import boto3
    from moto import mock_aws

    c = "us-east-1"

    for name in ("GTBENCH_ENDPOINT_URL", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        first = CliRunner().invoke(cli, ["probes", "deploy", "--target", "aws", "--regions",
                                         f"{A},{B}", "--table", "bookmarks", "--yes"])
        assert first.exit_code == 0, first.output
        second = CliRunner().invoke(cli, ["probes", "deploy", "--target", "aws", "--regions",
                                          f"{A},{c}", "--table", "carts", "--yes"])
        assert second.exit_code == 0, second.output
        assert "what it was granted is kept" in " ".join(second.stderr.split())
        granted = boto3.client("iam", region_name=A).get_role_policy(
            RoleName="gtbench-probe", PolicyName="gtbench-probe-access")["PolicyDocument"]
    tables = set(granted["Statement"][0]["Resource"])
    for region, table in ((A, "bookmarks"), (B, "bookmarks"), (A, "carts"), (c, "carts")):
        assert f"arn:aws:dynamodb:{region}:123456789012:table/{table}" in tables
    logs = set(granted["Statement"][1]["Resource"])
    assert any(f"logs:{B}:" in r for r in logs) and any(f"logs:{c}:" in r for r in logs)
