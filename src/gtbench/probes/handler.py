"""A gtbench probe: runs beside a replica (on AWS Lambda, or as a local worker on the
emulator) and times DynamoDB operations on its own clocks.

This file is the whole Lambda function: it imports only the standard library and the
boto3 that the Lambda runtime provides (gtbench zips it alone as ``gtbench_probe.py``).

Every operation comes back with two pairs of times:
- ``sent_ns``/``received_ns``: the probe's wall clock, corrected by its measured
  offset, so probes in different regions share one time base up to their declared
  clock errors (``clock.error_ns``);
- ``mono_sent_ns``/``mono_received_ns``: its monotonic clock, for durations within one
  probe that carry no clock error at all (the ping-pong).

The clock error's source: an SNTP exchange with the Amazon Time Sync Service's public
endpoint (``time.aws.com``) at the probe's first use. RFC 5905: the true offset lies
within the measured offset plus or minus half the exchange's round-trip delay, to
which the server's own error is added (``SERVER_ERROR_NS``). Without an answer the
error is unknown (None) and the caller must supply one (``--clock-error-ms``).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

NTP_SERVER = "time.aws.com"
NTP_EPOCH_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01
SERVER_ERROR_NS = 1_000_000  # the server's own error, allowed for on top of delay / 2
SAMPLES = 4  # SNTP exchanges; the one with the shortest delay is kept (least error)
GIVE_UP_NS = 1_000_000_000  # reads failing this long without a break end a poll

ATTEMPTS_PER_CALL = 1  # a probe's DynamoDB calls are never retried


class Clock:
    """Wall and monotonic nanoseconds; the wall clock corrected by ``offset_ns``."""

    def __init__(self, offset_ns: int = 0, error_ns: int | None = None,
                 source: str = "none", skew_ns: int = 0) -> None:
        self.offset_ns = offset_ns  # subtracted: the local clock's lead over true time
        self.error_ns = error_ns
        self.source = source
        self.skew_ns = skew_ns  # a simulated error (the emulator's --probe-skew-ms)

    def wall_ns(self) -> int:
        return time.time_ns() + self.skew_ns - self.offset_ns

    @staticmethod
    def mono_ns() -> int:
        return time.perf_counter_ns()

    def describe(self) -> dict[str, Any]:
        return {"offset_ns": self.offset_ns, "error_ns": self.error_ns,
                "source": self.source}


def sntp_clock(server: str = NTP_SERVER, timeout_s: float = 1.0, port: int = 123) -> Clock:
    """The local clock's offset from ``server`` and its error bound (RFC 5905's
    offset and delay; the best of a few exchanges). An unreachable server gives a clock
    with no correction and an unknown error."""
    best: tuple[int, int] | None = None  # (delay, offset)
    for _ in range(SAMPLES):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(timeout_s)
                packet = b"\x23" + b"\0" * 47  # LI 0, version 4, mode 3 (client)
                t1 = time.time_ns()
                sock.sendto(packet, (server, port))
                answer, _ = sock.recvfrom(48)
                t4 = time.time_ns()
        except OSError:
            continue
        if len(answer) < 48:
            continue
        t2 = _ntp_ns(answer[32:40])  # server received
        t3 = _ntp_ns(answer[40:48])  # server sent
        delay = (t4 - t1) - (t3 - t2)
        offset = ((t2 - t1) + (t3 - t4)) // 2  # server minus local
        if best is None or delay < best[0]:
            best = (delay, offset)
    if best is None:
        return Clock(source=f"{server} unreachable: the clock error is unknown")
    delay, offset = best
    return Clock(offset_ns=-offset, error_ns=max(delay, 0) // 2 + SERVER_ERROR_NS,
                 source=f"SNTP {server}: delay {delay / 1e6:.2f} ms")


def _ntp_ns(field: bytes) -> int:
    seconds, fraction = (int(x) for x in struct.unpack("!II", field))
    return (seconds - NTP_EPOCH_OFFSET_S) * 1_000_000_000 + (fraction * 1_000_000_000 >> 32)


# -- operations ---------------------------------------------------------------------

def _outcome(exc: Exception) -> tuple[str, str]:
    """A failed call's result and error code: refused with a 4xx, it did not happen
    (``fail``); anything else is unknown (``info``)."""
    response = getattr(exc, "response", None)  # some errors carry response=None
    response = response if isinstance(response, dict) else {}
    code = response.get("Error", {}).get("Code")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    result = "fail" if isinstance(status, int) and 400 <= status < 500 else "info"
    return result, code or type(exc).__name__


def _op(kind: str, clock: Clock, call: Callable[[], Any], value: int | None = None
        ) -> tuple[dict[str, Any], Any]:
    sent, mono_sent = clock.wall_ns(), clock.mono_ns()
    answer, result, error = None, "ok", None
    try:
        answer = call()
    except Exception as exc:  # a result, not a crash: the history keeps it
        result, error = _outcome(exc)
    mono_received, received = clock.mono_ns(), clock.wall_ns()
    return ({"kind": kind, "sent_ns": sent, "received_ns": received,
             "mono_sent_ns": mono_sent, "mono_received_ns": mono_received, "result": result,
             "value": value, "error": error}, answer)


def _write(client: Any, clock: Clock, table: str, key: dict[str, Any], attribute: str,
           value: int) -> dict[str, Any]:
    item = {**key, attribute: {"N": str(value)}}
    op, _ = _op("write", clock, lambda: client.put_item(TableName=table, Item=item), value)
    return op


def _poll(client: Any, clock: Clock, table: str, key: dict[str, Any], attribute: str,
          value: int, interval_ns: int, until_mono_ns: int, stop: Callable[[], bool],
          eventual: bool = False, pollers: int = 1,
          on_seen: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Strongly consistent reads until one sees ``value``: ``pollers`` threads, each
    reading every ``interval_ns``, staggered by ``interval_ns / pollers`` so that
    consecutive reads are that far apart even when one read takes longer than the
    interval. With ``eventual``, an eventually consistent read beside each, until one of
    those sees it too. ``on_seen`` runs once, in the thread whose strong read saw it
    first (the pong's echo goes out at once, not after the other pollers finish)."""
    reads: list[dict[str, Any]] = []
    lock = threading.Lock()
    waiting = {True, False} if eventual else {True}
    failing_since: list[int | None] = [None]  # reads failing without a break: region gone
    first = clock.mono_ns()

    def over() -> bool:
        with lock:
            gone = (failing_since[0] is not None
                    and clock.mono_ns() - failing_since[0] > GIVE_UP_NS)
            return not waiting or gone or clock.mono_ns() >= until_mono_ns or stop()

    def poller(k: int) -> None:
        next_send = first + interval_ns * k // pollers
        time.sleep(max(0.0, (next_send - clock.mono_ns()) / 1e9))
        while not over():
            with lock:
                kinds = sorted(waiting, reverse=True)
            for consistent in kinds:
                op, answer = _op("read", clock, lambda c=consistent: client.get_item(  # type: ignore[misc]
                    TableName=table, Key=key, ConsistentRead=c))
                if answer is not None:
                    found = answer.get("Item", {}).get(attribute, {}).get("N")
                    op["value"] = int(found) if found is not None else None
                op["consistent"] = consistent
                op["poller"] = k  # each poller reads one at a time: a process of its own
                with lock:
                    reads.append(op)
                    if op["result"] == "ok":
                        failing_since[0] = None
                    elif failing_since[0] is None:
                        failing_since[0] = op["mono_sent_ns"]
                    first_to_see = op["value"] == value and consistent in waiting
                    if op["value"] == value:
                        waiting.discard(consistent)
                if first_to_see and consistent and on_seen is not None:
                    on_seen()
            next_send += interval_ns
            time.sleep(max(0.0, (next_send - clock.mono_ns()) / 1e9))

    threads = [threading.Thread(target=poller, args=(k,), name=f"gtbench-poller-{k}")
               for k in range(1, pollers)]
    for thread in threads:
        thread.start()
    poller(0)
    for thread in threads:
        thread.join()
    return sorted(reads, key=lambda r: r["mono_sent_ns"])


# The load's items spread over this many partition keys, gtbench-load-00 to -31: one
# partition takes at most 1,000 write units a second, and on-demand's 4,000 writes a
# second hold only for writes spread over partitions (DynamoDB developer guide, "Key
# range throughput exceeded"; "Pre-warming a table for on-demand capacity mode").
LOAD_PARTITIONS = 32


def load_pk(n: int) -> str:
    """The partition key of the load's ``n``th write (round robin over the partitions)."""
    return f"gtbench-load-{n % LOAD_PARTITIONS:02d}"


def write_at_rate(client: Any, table: str, rate_wps: float, writers: int, prefix: str,
                  stop: Callable[[], bool]) -> dict[str, Any]:
    """Background load: ``writers`` threads put new items under ``load_pk`` keys at
    ``rate_wps`` (above 0) in all, on a fixed schedule (writer ``k`` of ``n`` sends its ``i``th
    write at ``start + (k + i n) / rate``: a slow answer lowers what is reached, not
    what is asked), until ``stop()``. Returns the count of each outcome, the seconds it
    ran, and the key of the latest acknowledged write (None if none was)."""
    counts = {"ok": 0, "fail": 0, "info": 0}
    latest: dict[str, Any] = {"due": -1.0, "key": None}  # the latest-scheduled ok write
    lock = threading.Lock()
    began = time.perf_counter()

    def writer(k: int) -> None:
        i = 0
        while True:
            due = began + (k + i * writers) / rate_wps
            while not stop() and time.perf_counter() < due:
                time.sleep(min(0.05, max(0.0, due - time.perf_counter())))
            if stop():
                return
            key = {"PK": {"S": load_pk(k + i * writers)},
                   "SK": {"S": f"{prefix}-{k:02d}-{i:08d}"}}
            try:
                client.put_item(TableName=table, Item={**key, "At": {"N": str(time.time())}})
                result = "ok"
            except Exception as exc:  # counted, never raised: it is the load
                result = _outcome(exc)[0]
            with lock:
                counts[result] += 1
                if result == "ok" and due > latest["due"]:
                    latest.update(due=due, key=key)
            i += 1

    threads = [threading.Thread(target=writer, args=(k,), name=f"gtbench-load-{k}",
                                daemon=True) for k in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"ok": counts["ok"], "failed": counts["fail"], "unknown": counts["info"],
            "seconds": time.perf_counter() - began, "last_key": latest["key"]}


def _wait_until_wall(clock: Clock, at_ns: int | None) -> None:
    if at_ns is not None:
        time.sleep(max(0.0, (at_ns - clock.wall_ns()) / 1e9))


def run(event: dict[str, Any], client: Any, clock: Clock,
        stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """One plan. ``action``:
    - ``clock``: the probe's clock and its error, nothing else;
    - ``write``: at wall time ``at_ns``, write ``value`` to ``key``;
    - ``poll``: from ``at_ns``, read ``key`` every ``interval_ms`` (``pollers``
      threads, staggered) until it holds ``value`` or ``timeout_s`` passes;
    - ``ping``: at ``at_ns`` write ``value`` to ``key``, then poll ``echo_key`` for it;
    - ``pong``: from ``at_ns`` poll ``key`` for ``value``; on first seeing it, write it
      to ``echo_key`` at once;
    - ``load``: ``write_at_rate`` for ``seconds`` (``table``, ``rate_wps``,
      ``writers``, ``prefix``), its counts under ``load``.
    """
    action = event.get("action")
    out: dict[str, Any] = {"region": event.get("region") or os.environ.get("AWS_REGION"),
                           "clock": clock.describe(), "ops": [],
                           # Said in the answer: every op below is one call, never retried.
                           "attempts_per_call": ATTEMPTS_PER_CALL}
    if action == "clock":
        out.update(wall_ns=clock.wall_ns(), mono_ns=clock.mono_ns())
        return out
    if action == "load":
        until = time.perf_counter() + float(event["seconds"])
        out["load"] = write_at_rate(
            client, str(event["table"]), float(event["rate_wps"]), int(event["writers"]),
            str(event["prefix"]), lambda: stop() or time.perf_counter() >= until)
        return out
    if action not in ("write", "poll", "ping", "pong"):
        raise ValueError(f"unknown action {action!r}")
    table, attribute = str(event["table"]), str(event.get("attribute", "Value"))
    key, value = event["key"], int(event["value"])
    interval = int(float(event.get("interval_ms", 5)) * 1e6)
    _wait_until_wall(clock, event.get("at_ns"))
    until = clock.mono_ns() + int(float(event.get("timeout_s", 10)) * 1e9)
    ops: list[dict[str, Any]] = out["ops"]
    if action in ("write", "ping"):
        ops.append(_write(client, clock, table, key, attribute, value))
    eventual, pollers = bool(event.get("eventual")), max(1, int(event.get("pollers", 1)))
    if action in ("poll", "pong"):
        def echo() -> None:
            ops.append(_write(client, clock, table, event["echo_key"], attribute, value))

        echoes = echo if action == "pong" else None
        ops += _poll(client, clock, table, key, attribute, value, interval, until, stop,
                     eventual, pollers, echoes)
        ops.sort(key=lambda o: (o["kind"] == "write", o["mono_sent_ns"]))  # echo last
    if action == "ping" and ops[0]["result"] == "ok":
        ops += _poll(client, clock, table, event["echo_key"], attribute, value, interval,
                     until, stop, pollers=pollers)
    return out


# -- on AWS Lambda ------------------------------------------------------------------

_STATE: dict[str, Any] = {}  # kept across invocations of one execution environment


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: a DynamoDB client in the function's own region, and the
    clock measured once per execution environment (again with ``resync``)."""
    import boto3
    from botocore.config import Config

    # One connection per thread that may call at once (a load's writers, or pollers):
    # botocore keeps 10 by default and opens and drops the rest on every call. One
    # attempt per call, as the emulator's probes make: the runtime's SDK would retry
    # throttles and 5xx unseen (up to 10 times in legacy mode), hiding the failures a
    # poll or a load must count.
    pool = max(10, int(event.get("writers", 0)), int(event.get("pollers", 0)))
    if _STATE.get("pool", 0) < pool:
        _STATE["client"] = boto3.client("dynamodb", config=Config(
            max_pool_connections=pool, retries={"mode": "standard", "total_max_attempts": 1}))
        _STATE["pool"] = pool
    if "clock" not in _STATE or event.get("resync"):
        _STATE["clock"] = sntp_clock()
    return run(event, _STATE["client"], _STATE["clock"])
