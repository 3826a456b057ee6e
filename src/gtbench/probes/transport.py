"""How the client reaches its probes: AWS Lambda's Invoke on AWS, a local worker on the
emulator. Either way the probe runs ``handler.run`` beside its region's replica."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Protocol

from gtbench.errors import GtbenchError
from gtbench.probes.handler import Clock, run
from gtbench.regions import LOCAL, Regions, Settings

FUNCTION = "gtbench-probe"
FUNCTION_TIMEOUT_S = 900  # Lambda's maximum: a poll lasts up to the trial's --timeout
# A local probe's clock is the host's, off by exactly its --probe-skew-ms. The error it
# declares stands in for a clock synced by the Amazon Time Sync Service; a probe on AWS
# measures its own (handler.sntp_clock). --clock-error-ms overrides either.
LOCAL_CLOCK_ERROR_S = 0.001
PROBE_HEADER = "X-Gtbench-Probe-Region"
SWITCH_INTERVAL_S = 0.0005  # the emulator places the request's sender there


class Probes(Protocol):
    via: str

    def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
               ) -> dict[str, Any]:
        """Run ``event`` on the probe in ``region``; its answer (``handler.run``'s)."""
        ...


def clock_error_s(answer: dict[str, Any], override_s: float | None) -> float:
    """The clock error a probe's answer declares, unless overridden; one clear error when
    the probe could not measure it and none was given."""
    if override_s is not None:
        return override_s
    error_ns = answer["clock"].get("error_ns")
    if error_ns is None:
        raise GtbenchError(f"the probe in {answer.get('region')} could not measure its clock "
                           f"({answer['clock'].get('source')})",
                           hint="give the error yourself with --clock-error-ms")
    return float(error_ns) / 1e9


class LocalProbes:
    """Probes as workers in this process, each placed in its region by the emulator's
    distance model: its requests come from its own region (the header), and the client
    reaches it across the modelled round trip."""

    via = "probes"

    def __init__(self, regions: Regions, endpoint_url: str, status: dict[str, Any],
                 clock_error_ms: float | None) -> None:
        self._regions = regions
        # The client's round trip to each region, as the emulator models it.
        self._rtt_ms: dict[str, float] = {
            r: ms for r, ms in ((status.get("distance") or {}).get("rtt_ms") or {}).items()
            if ms is not None}
        self._skew_ms: dict[str, float] = dict((status.get("probes") or {}).get("skew_ms") or {})
        error_s = LOCAL_CLOCK_ERROR_S if clock_error_ms is None else clock_error_ms / 1000
        self._error_ns = round(error_s * 1e9)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.endpoint_url = endpoint_url

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                client = self._regions.own_client(region, attempts=1)

                def place(request: Any, **_: Any) -> None:
                    request.headers[PROBE_HEADER] = region

                client.meta.events.register("before-sign.dynamodb.*", place)
                self._clients[region] = client
            return self._clients[region]

    def clock(self, region: str) -> Clock:
        skew = self._skew_ms.get(region, 0.0)
        return Clock(error_ns=self._error_ns, skew_ns=round(skew * 1e6),
                     source="the emulator host's clock"
                            + (f", skewed {skew:+g} ms (--probe-skew-ms)" if skew else ""))

    def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
               ) -> dict[str, Any]:
        half = self._rtt_ms.get(region, 0.0) / 2000  # from the client to the probe
        if stop.wait(half):
            raise KeyboardInterrupt
        # Local probes stand for machines of their own; in one process they share the
        # GIL, whose default 5 ms switch interval would add to every operation's time.
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        answer = run(event | {"region": region}, self._client(region), self.clock(region),
                     stop.is_set)
        stop.wait(half)
        return answer


class LambdaProbes:
    """Probes as AWS Lambda functions (``gtbench probes deploy``), one per region."""

    via = "probes"

    def __init__(self, regions: Regions, function: str = FUNCTION) -> None:
        from botocore.config import Config

        # A poll lasts up to the trial's timeout, the function up to its own: the read
        # outlasts it, over a connection kept alive (the Invoke reference asks both for
        # long synchronous calls); one attempt, since a retried Invoke runs the plan twice.
        config = Config(read_timeout=FUNCTION_TIMEOUT_S + 60, connect_timeout=10,
                        tcp_keepalive=True,
                        retries={"mode": "standard", "total_max_attempts": 1})
        self._clients = {r: regions.session.client("lambda", region_name=r, config=config)
                         for r in regions.settings.regions}
        self.function = function

    def invoke(self, region: str, event: dict[str, Any], stop: threading.Event
               ) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            answer = self._clients[region].invoke(
                FunctionName=self.function, InvocationType="RequestResponse",
                Payload=json.dumps(event | {"region": region}).encode())
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise GtbenchError(f"there is no probe in {region}",
                                   hint="deploy them with `gtbench probes deploy --target aws "
                                        "--regions ...`") from None
            raise
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError") or not isinstance(payload, dict):
            message = payload.get("errorMessage") if isinstance(payload, dict) else payload
            raise GtbenchError(f"the probe in {region} failed: {message}",
                               hint="see its log in CloudWatch Logs (/aws/lambda/"
                                    f"{self.function}), or redeploy with `gtbench probes "
                                    "deploy`")
        return payload


def for_settings(regions: Regions, settings: Settings, clock_error_ms: float | None
                 ) -> Probes:
    """Local workers on the emulator; the Lambda functions on AWS."""
    if settings.target == LOCAL and regions.endpoint_url is not None:
        from gtbench.local import lifecycle

        return LocalProbes(regions, regions.endpoint_url,
                           lifecycle.probe(regions.endpoint_url) or {}, clock_error_ms)
    return LambdaProbes(regions)
