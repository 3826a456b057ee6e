"""The control API under ``/_gtbench/``: the ground truth (replications, strong writes),
the settings, the faults. One route table maps (method, path) to a handler; every
handler takes the backend and the request and returns JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gtbench.emulator import agreement
from gtbench.emulator.backend import Backend
from gtbench.emulator.capacity import MAX_WCU
from gtbench.emulator.config import BY_NAME, HOUR_S
from gtbench.emulator.replication import LagModel
from gtbench.emulator.values import number, region, strict_json, text, whole
from gtbench.emulator.wire import Environ, Reply, json_reply, read_body

PREFIX = "/_gtbench/"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # after the prefix, without a trailing slash
    query: dict[str, str]
    environ: Environ

    def json(self) -> Any:
        return strict_json(read_body(self.environ))

    def fields(self, allowed: set[str]) -> dict[str, Any]:
        """The body's JSON object, with only ``allowed`` keys (ValueError otherwise)."""
        body = self.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        return body

    def optional_json(self) -> dict[str, Any]:
        """The body's JSON object, or {} for no body (ValueError for anything else)."""
        if self.environ.get("CONTENT_LENGTH") in (None, "", "0"):
            return {}
        body = self.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body


Handler = Callable[[Backend, Request], Reply]


def _replications(backend: Backend, r: Request) -> Reply:
    since = number(float(r.query["since"]), "since", low=0, high=1e11) \
        if "since" in r.query else None
    limit = whole(r.query["limit"], "limit", low=0, high=10**9) if "limit" in r.query \
        else None
    return json_reply({"replications": backend.replicator.records(
        table=r.query.get("table"), since=since, limit=limit,
        images=r.query.get("images") in ("1", "true"))})


def _differences(backend: Backend, table: str | None) -> dict[str, list[dict[str, Any]]]:
    """Where each replicated table's replicas differ (one table if named), every account."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group in backend.replicas.snapshot():
        if table is None or group["table"] == table:
            out.setdefault(group["table"], []).extend(
                agreement.differences(backend, group["account"], group["table"]))
    return out


def _agreement(backend: Backend, r: Request) -> Reply:
    differ = _differences(backend, r.query.get("table"))
    return json_reply({"agree": not any(differ.values()), "differences": differ})


def _lost(backend: Backend, r: Request) -> Reply:
    return json_reply({"lost": agreement.lost_writes(backend.replicator.records(
        table=r.query.get("table"), images=True))})


def _delivered(backend: Backend, r: Request) -> Reply:
    count = r.optional_json().get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                              or count < 0):
        raise ValueError(f"count must be a whole number of deliveries, not {count!r}")
    delivered = backend.replicator.deliver_next(count)
    return json_reply({"delivered": delivered, "pending": backend.replicator.pending_count(),
                       "held": backend.replicator.held_count()})


def _settled(backend: Backend, r: Request) -> Reply:
    """Wait (up to ``timeout_s``) until every replication is applied, then say whether
    the replicas agree. Paused replication cannot settle: that is said at once."""
    body = r.optional_json()
    unknown = sorted(set(body) - {"timeout_s", "table"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    timeout = number(body.get("timeout_s", 10.0), "timeout_s", low=0, high=HOUR_S)
    replicator = backend.replicator
    if backend.clock.held:
        # Held time: settling moves it on, to each delivery in turn, up to timeout_s.
        limit = backend.clock.time() + timeout
        while (due := replicator.next_due()) is not None and due <= limit:
            backend.clock.advance(max(0.0, due - backend.clock.time()))
    idle = (not replicator.paused or not replicator.pending_count()) \
        and replicator.wait_idle(0 if backend.clock.held else timeout)
    table = body.get("table")
    if table is not None:
        text(table, "table")
    differ = _differences(backend, table)
    return json_reply({"settled": idle and not any(differ.values()), "idle": idle,
                       "paused": replicator.paused, "pending": replicator.pending_count(),
                       "held": replicator.held_count(), "faults": backend.faults.describe(),
                       "differences": differ})


def _clock(backend: Backend, r: Request) -> Reply:
    """Hold the emulator's clock still (``hold``: true), move it on by hand
    (``advance_s``), or let it run again (``hold``: false); with no body, the clock."""
    if r.method == "POST":
        body = r.fields({"hold", "advance_s"})
        hold = body.get("hold")
        if hold is not None and not isinstance(hold, bool):
            raise ValueError(f"hold is true or false, not {hold!r}")
        if hold:
            backend.clock.hold()
        if "advance_s" in body:
            seconds = number(body["advance_s"], "advance_s", low=0, high=HOUR_S * 24)
            if not backend.clock.held:
                raise ValueError("the clock runs: hold it (hold: true) before advancing it")
            backend.clock.advance(seconds)
        if hold is False:
            backend.clock.release()
    return json_reply({"clock": backend.clock.describe(),
                       "pending": backend.replicator.pending_count()})


def _lagged(backend: Backend, r: Request) -> Reply:
    """Set the lag: for every pair, or (``source`` and ``destination``) for one
    direction; ``reset_pairs`` forgets every per-direction lag first."""
    body = r.fields({"lag_ms", "jitter_ms", "source", "destination", "reset_pairs"})
    high = BY_NAME["lag_ms"].high
    old = backend.config.lag
    lag = number(body.get("lag_ms", old.lag_ms), "lag_ms", low=0, high=high)
    # Jitter left out: 0 with a new lag (lag(500) means 500 flat), else unchanged.
    jitter = number(body.get("jitter_ms", 0.0 if "lag_ms" in body else old.jitter_ms),
                    "jitter_ms", low=0, high=high)
    reset = body.get("reset_pairs", False)
    if not isinstance(reset, bool):
        raise ValueError(f"reset_pairs must be true or false, not {reset!r}")
    pairs = {} if reset else dict(old.pairs)
    source, destination = body.get("source"), body.get("destination")
    if (source is None) != (destination is None):
        raise ValueError("a per-direction lag names both source and destination")
    if source is not None:
        source, destination = region(source, "source"), region(destination, "destination")
        if source == destination:
            raise ValueError("a per-direction lag is between two different regions")
        pairs[(source, destination)] = (lag, jitter)
        backend.set(lag=LagModel(old.lag_ms, old.jitter_ms, pairs, old.network))
    else:
        backend.set(lag=LagModel(lag, jitter, pairs, old.network))
    return json_reply({"lag": backend.config.lag.describe()})


def _capacity(backend: Backend, r: Request) -> Reply:
    """Make every replicated table provisioned with ``wcu`` write units a second in every
    replica, or on-demand again (``wcu`` null, or ``on_demand``: true)."""
    body = r.fields({"region", "wcu", "on_demand"})
    if "region" in body:
        raise ValueError("AWS gives every replica of a global table one write capacity "
                         "(a replica's own override sets reads only): send wcu alone")
    if body.get("on_demand") is True and "wcu" not in body:
        wcu = None
    elif "wcu" in body and "on_demand" not in body:
        wcu = None if body["wcu"] is None else number(body["wcu"], "wcu", low=0.1,
                                                      high=MAX_WCU)
    else:
        raise ValueError("send wcu (write units a second, or null), or on_demand: true")
    backend.set(table_wcu=wcu)
    return json_reply({"capacity": backend.capacity()})


def _configured(backend: Backend, r: Request) -> Reply:
    backend.configure(r.json())
    return json_reply(backend.status())


def _fault_added(backend: Backend, r: Request) -> Reply:
    fault = backend.faults.add(r.json())
    return json_reply({"fault": fault.describe(), "faults": backend.faults.describe()})


def _cleared_log(backend: Backend, _: Request) -> Reply:
    return json_reply({"cleared": backend.replicator.clear_log()})


def _strong_writes(backend: Backend, _: Request) -> Reply:
    return json_reply({"writes": backend.strong.entries()})


def _faults(backend: Backend, _: Request) -> Reply:
    return json_reply({"faults": backend.faults.describe(), "ended": backend.faults.ended()})


def _faults_cleared(backend: Backend, _: Request) -> Reply:
    return json_reply({"cleared": backend.faults.clear()})


def _then_status(action: Callable[[Backend], object]) -> Handler:
    def handler(backend: Backend, _: Request) -> Reply:
        action(backend)
        return json_reply(backend.status())
    return handler


def _nothing(backend: Backend) -> None:
    return None


def _pause(backend: Backend) -> None:
    backend.replicator.pause()


def _resume(backend: Backend) -> None:
    backend.replicator.resume()


def _reset(backend: Backend) -> None:
    backend.reset()


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "status"): _then_status(_nothing),
    ("GET", "replications"): _replications,
    ("DELETE", "replications"): _cleared_log,
    ("GET", "agreement"): _agreement,
    ("GET", "lost"): _lost,
    ("POST", "deliver"): _delivered,
    ("POST", "settle"): _settled,
    ("GET", "clock"): _clock,
    ("POST", "clock"): _clock,
    ("POST", "lag"): _lagged,
    ("POST", "capacity"): _capacity,
    ("GET", "strong"): _strong_writes,
    ("POST", "pause"): _then_status(_pause),
    ("POST", "resume"): _then_status(_resume),
    ("POST", "config"): _configured,
    ("POST", "reset"): _then_status(_reset),
    ("GET", "faults"): _faults,
    ("POST", "faults"): _fault_added,
    ("DELETE", "faults"): _faults_cleared,
}


def handle(backend: Backend, environ: Environ, path: str) -> Reply:
    """Answer one control request (``path`` is what follows the prefix)."""
    from urllib.parse import parse_qs

    method = environ.get("REQUEST_METHOD", "GET")
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    request = Request(method, path.rstrip("/"), query, environ)
    try:
        handler = ROUTES.get((method, request.path))
        if handler is not None:
            return handler(backend, request)
        if method == "DELETE" and request.path.startswith("faults/"):
            number_ = request.path.split("/", 1)[1]
            if not number_.isdigit() or len(number_) > 18:
                raise ValueError(f"a fault is named by its number, not {number_!r}")
            if not backend.faults.remove(int(number_)):
                return json_reply({"error": f"no fault {number_}"}, 404)
            return json_reply({"cleared": 1, "faults": backend.faults.describe()})
    except (ValueError, TypeError, KeyError) as exc:
        return json_reply({"error": str(exc)}, 400)
    return json_reply({"error": f"no such control: {method} {PREFIX}{path}"}, 404)
