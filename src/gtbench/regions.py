"""Where gtbench runs: settings, region names, and one boto3 client per region."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gtbench.awsrules import known_regions, partitions
from gtbench.errors import GtbenchError, UsageError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient

LOCAL = "local"
AWS = "aws"
# The emulator signs nothing real; fixed keys keep the user's own credentials out of it.
LOCAL_ACCESS_KEY = "gtbenchlocal"
LOCAL_SECRET_KEY = "gtbenchlocal"  # not a secret: the emulator checks no signature


def parse_regions(text: str) -> tuple[str, ...]:
    """``"us-west-2,eu-west-1"`` -> a tuple of at least two distinct, known region names."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in known_regions()]
    if unknown:
        raise UsageError(f"unknown region {unknown[0]!r}",
                         hint="use names such as us-west-2 or eu-west-1")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UsageError(f"region {repeated[0]} is given twice")
    if len(names) < 2:
        raise UsageError("a global table needs at least two regions",
                         hint="for example --regions us-west-2,eu-west-1")
    # A global table lives in one account, so in one partition.
    where = partitions()
    apart = [n for n in names if where[n] != where[names[0]]]
    if apart:
        raise UsageError(f"{names[0]} ({where[names[0]]}) and {apart[0]} ({where[apart[0]]}) "
                         "are in different AWS partitions; a global table's regions share one")
    return names


@dataclass(frozen=True)
class Settings:
    """Target, endpoint, regions and table: what every DynamoDB command needs."""

    target: str = LOCAL
    endpoint_url: str | None = None
    regions: tuple[str, ...] = ("us-west-2", "eu-west-1")
    table: str = "global-serverless"
    profile: str | None = None

    @property
    def home(self) -> str:
        return self.regions[0]

    @property
    def replicas(self) -> tuple[str, ...]:
        return self.regions[1:]


# How long each call may wait: to connect, and for an answer once sent. DynamoDB answers
# in milliseconds (a far region's round trip is a few hundred); a call that waits longer
# is stuck, and botocore retries it as a timeout.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


class EndpointSilent(GtbenchError):
    """The endpoint has answered no call for as long as a call may wait: it is wedged
    (an emulator under SIGSTOP, a server that accepts and never answers)."""


class Silence:
    """When any client of one ``Regions`` last heard an answer. A call that times out
    when nothing has answered for ``limit_s`` raises ``EndpointSilent`` from botocore's
    retry hook, so the command ends, saying so, instead of waiting out retry after
    retry; one slow call beside calls that are answered is only retried."""

    def __init__(self, limit_s: Callable[[], float], where: str) -> None:
        import time

        self.limit_s, self.where = limit_s, where
        self.heard = time.monotonic()

    def register(self, client: Any) -> None:
        client.meta.events.register("needs-retry", self._on_attempt,
                                    unique_id="gtbench-silence")

    def _on_attempt(self, response: Any = None, caught_exception: Any = None,
                    **_: Any) -> None:
        import time

        from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

        now = time.monotonic()
        if response is not None:
            self.heard = now  # an answer, even an error, is a live endpoint
        elif isinstance(caught_exception, ReadTimeoutError | ConnectTimeoutError) and (
                now - self.heard >= self.limit_s()):
            raise EndpointSilent(
                f"{self.where} answered nothing for {now - self.heard:.0f} s: every call "
                "timed out (is it stopped, or not DynamoDB?)",
                hint="check it with `gtbench local status`, or the region's health")


@dataclass
class Regions:
    """One DynamoDB client per region, sharing a session, for the given settings.

    Experiments take a ``Regions`` rather than building clients, so tests can hand
    them the emulator or a Stubber.
    """

    settings: Settings
    endpoint_url: str | None
    session: boto3.Session
    # Set-up and teardown must see a call through (0.3^8 < 1e-4 under 30% throttling);
    # an experiment's write should say soon that its fate is unknown.
    max_attempts: int = 8
    writer_attempts: int = 3
    # Seconds a call waits for its answer: experiments lower it to fit their own timeouts
    # (``fit_calls_to``), so no single call outlasts the wait it is part of.
    read_timeout_s: float = READ_TIMEOUT_S
    _clients: dict[tuple[str, str, int, float], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    silence: Silence | None = None

    def __post_init__(self) -> None:
        if self.silence is None:
            # Silent for as long as a call may wait: a call that timed out heard nothing.
            self.silence = Silence(lambda: self.read_timeout_s * 0.9,
                                   self.endpoint_url or "AWS")

    def fit_calls_to(self, timeout_s: float) -> None:
        """Calls made from now on wait at most about ``timeout_s`` for an answer (at
        least 2 s, at most the default), so a wedged endpoint ends a run within its own
        timeouts. Clients made before keep theirs."""
        self.read_timeout_s = min(READ_TIMEOUT_S, max(2.0, timeout_s))

    def client(self, region: str, service: str = "dynamodb") -> DynamoDBClient:
        return self.service_client(service, region)  # type: ignore[no-any-return]

    def writer(self, region: str) -> DynamoDBClient:
        """A DynamoDB client for an experiment's writes: a few retries, then a result."""
        return self.service_client(  # type: ignore[no-any-return]
            "dynamodb", region, attempts=self.writer_attempts)

    def reader(self, region: str) -> DynamoDBClient:
        """A DynamoDB client that never retries: for pollers, whose every attempt is a
        measurement and whose next read is the retry."""
        return self.service_client("dynamodb", region, attempts=1)  # type: ignore[no-any-return]

    def batch(self, region: str) -> DynamoDBClient:
        """A DynamoDB client that never retries, for ``batch``'s loops, which back off and
        resend by themselves: one layer of retries, not eight attempts inside each of
        theirs (and no retry quota to run dry)."""
        return self.service_client("dynamodb", region, attempts=1)  # type: ignore[no-any-return]

    def service_client(self, service: str, region: str, attempts: int | None = None) -> Any:
        attempts = attempts or self.max_attempts
        key = (service, region, attempts, self.read_timeout_s)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._make(service, region, attempts)
            return client

    def own_client(self, region: str, attempts: int) -> DynamoDBClient:
        """A DynamoDB client of the caller's own, shared with nobody: for a writer that
        hooks its requests (conflict's release gate)."""
        with self._lock:  # boto3 sessions are not safe to make clients from concurrently
            return self._make("dynamodb", region, attempts)  # type: ignore[no-any-return]

    def _make(self, service: str, region: str, attempts: int) -> Any:
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "total_max_attempts": attempts},
                        connect_timeout=min(CONNECT_TIMEOUT_S, self.read_timeout_s),
                        read_timeout=self.read_timeout_s, max_pool_connections=64,
                        tcp_keepalive=True)
        endpoint = self.endpoint_url if service == "dynamodb" else (
            self.endpoint_url if self.settings.target == LOCAL else None)
        client = self.session.client(service,  # type: ignore[call-overload]
                                     region_name=region, endpoint_url=endpoint, config=config)
        if self.silence is not None:
            self.silence.register(client)
        return client

    def any_client(self, service: str) -> Any:
        return self.service_client(service, self.settings.home)

    @property
    def home(self) -> DynamoDBClient:
        return self.client(self.settings.home)


_loader: Any = None
_loader_lock = threading.Lock()


def new_session(**options: Any) -> boto3.Session:
    """A boto3 session (``options`` as boto3.Session takes them) whose service models
    come from one loader per process. A fresh session parses botocore's JSON models and
    endpoints again: 0.1 s of CPU for its first client, against 8 ms with the loader
    shared; the demo, compare's kinds and the tests each open many."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
        core = botocore.session.Session()
        core.register_component("data_loader", _loader)
        session = boto3.Session(botocore_session=core, **options)
        core.get_scoped_config()  # an unknown profile raises here, as boto3.Session does
        # boto3 adds its own data folder to the loader's paths for every session.
        _loader.search_paths[:] = list(dict.fromkeys(_loader.search_paths))
    return session


def open_regions(settings: Settings, *, announce: Callable[[str], None] | None = None
                 ) -> Regions:
    """Clients for ``settings``; on the local target without an endpoint, an emulator
    is found or started (``announce`` is told which, unless it is the recorded one)."""
    import botocore.exceptions

    endpoint = settings.endpoint_url
    if settings.target == LOCAL:
        if endpoint is None:
            from gtbench.local import lifecycle

            endpoint = lifecycle.find_or_start(announce or (lambda _: None)).url
        session = new_session(aws_access_key_id=LOCAL_ACCESS_KEY,
                              aws_secret_access_key=LOCAL_SECRET_KEY,
                              region_name=settings.home)
    else:
        try:
            session = new_session(profile_name=settings.profile, region_name=settings.home)
        except botocore.exceptions.ProfileNotFound as exc:
            raise UsageError(f"AWS profile {settings.profile!r} is not configured",
                             hint="see `aws configure list-profiles`") from exc
        if session.get_credentials() is None:
            raise GtbenchError("no AWS credentials found",
                               hint="set AWS_PROFILE or pass --profile, or run `aws configure`")
    return Regions(settings, endpoint, session)


def account_id(regions: Regions) -> str:
    """The AWS account the credentials belong to (STS GetCallerIdentity)."""
    identity = regions.any_client("sts").get_caller_identity()
    return str(identity["Account"])
