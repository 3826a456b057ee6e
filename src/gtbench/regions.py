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
    _clients: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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
        with self._lock:
            client = self._clients.get((service, region, attempts))
            if client is None:
                client = self._clients[(service, region, attempts)] = self._make(
                    service, region, attempts)
            return client

    def own_client(self, region: str, attempts: int) -> DynamoDBClient:
        """A DynamoDB client of the caller's own, shared with nobody: for a writer that
        hooks its requests (conflict's release gate)."""
        with self._lock:  # boto3 sessions are not safe to make clients from concurrently
            return self._make("dynamodb", region, attempts)  # type: ignore[no-any-return]

    def _make(self, service: str, region: str, attempts: int) -> Any:
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "total_max_attempts": attempts},
                        connect_timeout=5, read_timeout=20, max_pool_connections=64,
                        tcp_keepalive=True)
        endpoint = self.endpoint_url if service == "dynamodb" else (
            self.endpoint_url if self.settings.target == LOCAL else None)
        return self.session.client(service,  # type: ignore[call-overload]
                                   region_name=region, endpoint_url=endpoint, config=config)

    def any_client(self, service: str) -> Any:
        return self.service_client(service, self.settings.home)

    @property
    def home(self) -> DynamoDBClient:
        return self.client(self.settings.home)


def open_regions(settings: Settings, *, announce: Callable[[str], None] | None = None
                 ) -> Regions:
    """Clients for ``settings``; on the local target without an endpoint, an emulator
    is found or started (``announce`` is told which, unless it is the recorded one)."""
    import boto3
    import botocore.exceptions

    endpoint = settings.endpoint_url
    if settings.target == LOCAL:
        if endpoint is None:
            from gtbench.local import lifecycle

            endpoint = lifecycle.find_or_start(announce or (lambda _: None)).url
        session = boto3.Session(aws_access_key_id=LOCAL_ACCESS_KEY,
                                aws_secret_access_key=LOCAL_SECRET_KEY,
                                region_name=settings.home)
    else:
        try:
            session = boto3.Session(profile_name=settings.profile, region_name=settings.home)
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
