"""The control API under ``/_gtbench/``: the ground truth (replications, strong writes),
the settings, the faults. One route table maps (method, path) to a handler; every
handler takes the app and the request and returns JSON."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gtbench.emulator import agreement, mrsc, store
from gtbench.emulator.replication import LagModel
from gtbench.emulator.values import number, region, strict_json, text, whole
from gtbench.emulator.wire import Environ, Reply, json_reply, read_body

if TYPE_CHECKING:
    from gtbench.emulator.app import EmulatorApp

PREFIX = "/_gtbench/"

# Each setting with its range: a value outside it (or NaN, or infinity) changes nothing.
HOUR_S = 3600.0
SETTINGS: dict[str, tuple[float, float]] = {
    "lag_ms": (0.0, HOUR_S * 1000),
    "jitter_ms": (0.0, HOUR_S * 1000),
    "replica_create_delay_s": (0.0, HOUR_S),
    "replica_delete_delay_s": (0.0, HOUR_S),
    "ttl_sweep_s": (0.05, HOUR_S),
    "metric_period_s": (1.0, HOUR_S),
    "metric_delay_s": (0.0, HOUR_S),
    "fis_delay_s": (0.0, HOUR_S),
}


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


Handler = Callable[["EmulatorApp", Request], Reply]


def _replications(app: EmulatorApp, r: Request) -> Reply:
    since = number(float(r.query["since"]), "since", low=0, high=1e11) \
        if "since" in r.query else None
    limit = whole(r.query["limit"], "limit", low=0, high=10**9) if "limit" in r.query \
        else None
    return json_reply({"replications": app.replicator.records(
        table=r.query.get("table"), since=since, limit=limit,
        images=r.query.get("images") in ("1", "true"))})


def _differences(app: EmulatorApp, table: str | None) -> dict[str, list[dict[str, Any]]]:
    """Where each replicated table's replicas differ (one table if named), every account."""
    out: dict[str, list[dict[str, Any]]] = {}
    for group in app.replicas.snapshot():
        if table is None or group["table"] == table:
            out.setdefault(group["table"], []).extend(
                agreement.differences(app, group["account"], group["table"]))
    return out


def _agreement(app: EmulatorApp, r: Request) -> Reply:
    differ = _differences(app, r.query.get("table"))
    return json_reply({"agree": not any(differ.values()), "differences": differ})


def _lost(app: EmulatorApp, r: Request) -> Reply:
    return json_reply({"lost": agreement.lost_writes(app.replicator.records(
        table=r.query.get("table"), images=True))})


def _delivered(app: EmulatorApp, r: Request) -> Reply:
    count = r.optional_json().get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                              or count < 0):
        raise ValueError(f"count must be a whole number of deliveries, not {count!r}")
    delivered = app.replicator.deliver_next(count)
    return json_reply({"delivered": delivered, "pending": app.replicator.pending_count(),
                       "held": app.replicator.held_count()})


def _settled(app: EmulatorApp, r: Request) -> Reply:
    """Wait (up to ``timeout_s``) until every replication is applied, then say whether
    the replicas agree. Paused replication cannot settle: that is said at once."""
    body = r.optional_json()
    unknown = sorted(set(body) - {"timeout_s", "table"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    timeout = number(body.get("timeout_s", 10.0), "timeout_s", low=0, high=HOUR_S)
    replicator = app.replicator
    if app.clock.held:
        # Held time: settling moves it on, to each delivery in turn, up to timeout_s.
        limit = app.clock.time() + timeout
        while (due := replicator.next_due()) is not None and due <= limit:
            app.clock.advance(max(0.0, due - app.clock.time()))
    idle = (not replicator.paused or not replicator.pending_count()) \
        and replicator.wait_idle(0 if app.clock.held else timeout)
    table = body.get("table")
    if table is not None:
        text(table, "table")
    differ = _differences(app, table)
    return json_reply({"settled": idle and not any(differ.values()), "idle": idle,
                       "paused": replicator.paused, "pending": replicator.pending_count(),
                       "held": replicator.held_count(), "faults": app.faults.describe(),
                       "differences": differ})


def _clock(app: EmulatorApp, r: Request) -> Reply:
    """Hold the emulator's clock still (``hold``: true), move it on by hand
    (``advance_s``), or let it run again (``hold``: false); with no body, the clock."""
    if r.method == "POST":
        body = r.fields({"hold", "advance_s"})
        hold = body.get("hold")
        if hold is not None and not isinstance(hold, bool):
            raise ValueError(f"hold is true or false, not {hold!r}")
        if hold:
            app.clock.hold()
        if "advance_s" in body:
            seconds = number(body["advance_s"], "advance_s", low=0, high=HOUR_S * 24)
            if not app.clock.held:
                raise ValueError("the clock runs: hold it (hold: true) before advancing it")
            app.clock.advance(seconds)
        if hold is False:
            app.clock.release()
    return json_reply({"clock": app.clock.describe(),
                       "pending": app.replicator.pending_count()})


def _lagged(app: EmulatorApp, r: Request) -> Reply:
    """Set the lag: for every pair, or (``source`` and ``destination``) for one
    direction; ``reset_pairs`` forgets every per-direction lag first."""
    body = r.fields({"lag_ms", "jitter_ms", "source", "destination", "reset_pairs"})
    high = SETTINGS["lag_ms"][1]
    old = app.replicator.lag
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
        app.replicator.lag = LagModel(old.lag_ms, old.jitter_ms, pairs, old.network)
    else:
        app.replicator.lag = LagModel(lag, jitter, pairs, old.network)
    return json_reply({"lag": app.replicator.lag.describe()})


def _capacity(app: EmulatorApp, r: Request) -> Reply:
    """Make each table's replica in ``region`` provisioned with ``wcu`` write units per
    second for replicated writes, or on-demand again (``wcu`` null); ``on_demand``:
    every replica on-demand."""
    body = r.fields({"region", "wcu", "on_demand"})
    capacity = app.replicator.capacity
    if body.get("on_demand") is True:
        capacity.on_demand()
    elif "region" in body and "on_demand" not in body:
        capacity.set(region(body["region"], "region"), body.get("wcu"))
    else:
        raise ValueError("name a region (and its wcu), or say on_demand: true")
    return json_reply({"capacity": app.replicator.capacity.describe(app.clock.time())})


def _configured(app: EmulatorApp, r: Request) -> Reply:
    configure(app, r.json())
    return json_reply(status(app))


def _fault_added(app: EmulatorApp, r: Request) -> Reply:
    fault = app.faults.add(r.json())
    return json_reply({"fault": fault.describe(), "faults": app.faults.describe()})


def _cleared_log(app: EmulatorApp, _: Request) -> Reply:
    return json_reply({"cleared": app.replicator.clear_log()})


def _strong_writes(app: EmulatorApp, _: Request) -> Reply:
    return json_reply({"writes": app.strong.entries()})


def _faults(app: EmulatorApp, _: Request) -> Reply:
    return json_reply({"faults": app.faults.describe()})


def _faults_cleared(app: EmulatorApp, _: Request) -> Reply:
    return json_reply({"cleared": app.faults.clear()})


def _then_status(action: Callable[[EmulatorApp], object]) -> Handler:
    def handler(app: EmulatorApp, _: Request) -> Reply:
        action(app)
        return json_reply(status(app))
    return handler


def _nothing(app: EmulatorApp) -> None:
    return None


def _pause(app: EmulatorApp) -> None:
    app.replicator.pause()


def _resume(app: EmulatorApp) -> None:
    app.replicator.resume()


def _reset(app: EmulatorApp) -> None:
    app.reset()


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


def handle(app: EmulatorApp, environ: Environ, path: str) -> Reply:
    """Answer one control request (``path`` is what follows the prefix)."""
    from urllib.parse import parse_qs

    method = environ.get("REQUEST_METHOD", "GET")
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    request = Request(method, path.rstrip("/"), query, environ)
    try:
        handler = ROUTES.get((method, request.path))
        if handler is not None:
            return handler(app, request)
        if method == "DELETE" and request.path.startswith("faults/"):
            number_ = request.path.split("/", 1)[1]
            if not number_.isdigit() or len(number_) > 18:
                raise ValueError(f"a fault is named by its number, not {number_!r}")
            if not app.faults.remove(int(number_)):
                return json_reply({"error": f"no fault {number_}"}, 404)
            return json_reply({"cleared": 1, "faults": app.faults.describe()})
    except (ValueError, TypeError, KeyError) as exc:
        return json_reply({"error": str(exc)}, 400)
    return json_reply({"error": f"no such control: {method} {PREFIX}{path}"}, 404)


def status(app: EmulatorApp) -> dict[str, Any]:
    from gtbench import __version__

    groups = app.replicas.snapshot()
    broken = app.broken_threads()
    return {
        "emulator": "gtbench",
        "version": __version__,
        "pid": os.getpid(),
        "started_at": app.started_at,
        # A background thread that died (its error in the log) stops replication for
        # good: callers must fail at once, naming it, not wait out their timeouts.
        "healthy": not broken,
        "broken": broken,
        "paused": app.replicator.paused,
        "clock": app.clock.describe(),
        "pending": app.replicator.pending_count(),
        "held": app.replicator.held_count(),
        "faults": app.faults.describe(),
        "lag": app.replicator.lag.describe(sorted({
            r["RegionName"] for g in groups for r in g["replicas"]})),
        "distance": app.config.distance.describe(sorted({
            r["RegionName"] for g in groups for r in g["replicas"]})),
        "replica_create_delay_s": app.replicas.settings.create_delay_s,
        "replica_delete_delay_s": app.replicas.settings.delete_delay_s,
        "ttl_sweep_s": app.ttl_sweeper.period_s,
        "metric_period_s": app.latency.period_s,
        "metric_delay_s": app.latency.delay_s,
        "fis_delay_s": app.faults.fis_delay_s,
        "probes": {"skew_ms": dict(app.config.probe_skew_ms)},
        "capacity": app.replicator.capacity.describe(app.clock.time()),
        "mrsc": {"pair_rtt_ms": {f"{a}:{b}": ms for (a, b), ms in
                                 app.config.pair_rtt_ms.items()},
                 "default_rtt_ms": mrsc.DEFAULT_RTT_MS},
        "global_tables": groups,
        "tables": store.tables_by_region(),  # every table, replicated or not
    }


def configure(app: EmulatorApp, changes: Any) -> None:
    """Change settings of a running emulator; an unknown key, or a value that is not a
    finite number in its range, changes nothing (ValueError, one sentence)."""
    if not isinstance(changes, dict):
        raise ValueError("the body must be a JSON object")
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (settings: {', '.join(SETTINGS)})")
    values = {name: number(value, name, low=SETTINGS[name][0], high=SETTINGS[name][1])
              for name, value in changes.items()}
    lag = app.replicator.lag
    if "lag_ms" in values or "jitter_ms" in values:
        app.replicator.lag = LagModel(values.get("lag_ms", lag.lag_ms),
                                      values.get("jitter_ms", lag.jitter_ms), lag.pairs,
                                      lag.network)
    settings = app.replicas.settings
    if "replica_create_delay_s" in values:
        settings.create_delay_s = values["replica_create_delay_s"]
    if "replica_delete_delay_s" in values:
        settings.delete_delay_s = values["replica_delete_delay_s"]
    if "ttl_sweep_s" in values:
        app.ttl_sweeper.set_period(values["ttl_sweep_s"])
    if "metric_period_s" in values:
        app.latency.period_s = values["metric_period_s"]
    if "metric_delay_s" in values:
        app.latency.delay_s = values["metric_delay_s"]
    if "fis_delay_s" in values:
        app.faults.fis_delay_s = values["fis_delay_s"]
