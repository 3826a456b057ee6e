"""The DynamoDB JSON wire protocol, as much of it as the emulator needs."""

from __future__ import annotations

import errno
import gzip
import io
import json
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JSON_10 = "application/x-amz-json-1.0"
DYNAMODB_PREFIX = "DynamoDB_20120810."

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

# The environ key under which the server hands the app a request's socket (an outage's
# ``drop`` mode closes it, as an unreachable endpoint would).
SOCKET_KEY = "gtbench.socket"


def dropped() -> ConnectionResetError:
    """What the app raises to end a request with no answer: the server (cheroot) takes
    ECONNRESET for a client gone and closes the connection without a word."""
    return ConnectionResetError(errno.ECONNRESET, "gtbench fault: outage (drop)")


@dataclass
class Reply:
    """A buffered HTTP response: DynamoDB answers are small, and some are rewritten."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}

    def with_json(self, payload: Any) -> Reply:
        """The same reply with a new JSON body and the headers botocore checks kept true."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        dropped = {"content-length", "x-amz-crc32"}
        headers = [(k, v) for k, v in self.headers if k.lower() not in dropped]
        headers += _body_headers(body)
        return Reply(self.status, headers, body)

    def send(self, start_response: StartResponse) -> Iterable[bytes]:
        start_response(f"{self.status} {_REASONS.get(self.status, 'Unknown')}", self.headers)
        return [self.body]


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _body_headers(body: bytes) -> list[tuple[str, str]]:
    # botocore verifies x-amz-crc32 on every DynamoDB response it reads.
    return [
        ("Content-Length", str(len(body))),
        ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),
    ]


def json_reply(payload: Any, status: int = 200) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", JSON_10), ("x-amzn-RequestId", uuid.uuid4().hex)]
    return Reply(status, headers + _body_headers(body), body)


def error_reply(code: str, message: str, status: int = 400) -> Reply:
    """An error in DynamoDB's shape, which botocore turns into a ClientError with ``code``."""
    return json_reply({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message},
                      status)


@dataclass(frozen=True)
class Signature:
    access_key: str
    region: str
    service: str


def parse_sigv4(authorization: str | None) -> Signature | None:
    """Access key, region and service from a SigV4 ``Authorization`` header."""
    if not authorization or not authorization.startswith("AWS4-HMAC-SHA256"):
        return None
    try:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
        access_key, _date, region, service, _terminator = credential.split("/")
    except (IndexError, ValueError):
        return None
    return Signature(access_key, region, service)


def read_body(environ: Environ) -> bytes:
    """The whole request body, whether sized, chunked or gzipped."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body: bytes = stream.read(int(length))
    elif environ.get("wsgi.input_terminated") or "chunked" in environ.get(
        "HTTP_TRANSFER_ENCODING", ""
    ):
        body = stream.read()
    else:
        body = b""
    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise ValueError("the body is not the gzip its Content-Encoding says") from None
    return body


def rebuffered(environ: Environ, body: bytes) -> Environ:
    """A copy of ``environ`` whose body moto can read again, with a fixed length."""
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(body)
    copy["CONTENT_LENGTH"] = str(len(body))
    for key in ("HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_ENCODING", "wsgi.input_terminated"):
        copy.pop(key, None)
    return copy


def call_app(app: Callable[[Environ, StartResponse], Iterable[bytes]], environ: Environ) -> Reply:
    """Run a WSGI app to completion and buffer what it answers."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = list(headers)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return Reply(captured["status"], captured["headers"], body)
