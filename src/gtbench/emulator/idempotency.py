"""TransactWriteItems' ClientRequestToken, as DynamoDB keeps it: per region, a token
seen in the last ten minutes with the same request answers as the first did without
applying it again; with a different request, ``IdempotentParameterMismatchException``;
while the first is still being applied, ``TransactionInProgressException``.

botocore fills the token in and retries 5xx, so without this a retried transaction
was applied (and replicated) twice: an effect AWS never shows an application. Knows
no HTTP and no moto: it keeps the first answer as the caller gives it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

WINDOW_S = 600.0  # the TransactWriteItems reference: 10 minutes from the first's completion
MISMATCH = ("IdempotentParameterMismatchException",
            "DynamoDB rejected the request because you retried a request with a different "
            "payload but with an idempotent token that was already used.")
IN_PROGRESS = ("TransactionInProgressException",
               "The transaction with the given request token is already in progress.")

A = TypeVar("A")


@dataclass
class _Entry(Generic[A]):
    fingerprint: str
    until: float
    answer: A | None = None  # None while the first request is being applied


def fingerprint(payload: dict[str, Any]) -> str:
    """The request without its token: what must match for a replay."""
    body = {k: v for k, v in payload.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class Tokens(Generic[A]):
    """Client request tokens per (account, region), each kept ``WINDOW_S``."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._entries: dict[tuple[str, str, str], _Entry[A]] = {}
        self._lock = threading.Lock()

    def run(self, account: str, region: str, token: str, payload: dict[str, Any],
            apply: Callable[[], tuple[A, bool]],
            refuse: Callable[[str, str], A]) -> A:
        """``apply()`` once per token and request: it returns its answer and whether it
        succeeded (only a success is kept; a refused transaction may be sent again).
        A replay gets the kept answer; a conflicting one ``refuse(code, message)``."""
        key, mark, now = (account, region, token), fingerprint(payload), self._now()
        with self._lock:
            self._expire(now)
            entry = self._entries.get(key)
            if entry is not None:
                if entry.fingerprint != mark:
                    return refuse(*MISMATCH)
                if entry.answer is None:
                    return refuse(*IN_PROGRESS)
                return entry.answer
            self._entries[key] = _Entry(mark, now + WINDOW_S)
        answer, succeeded = None, False
        try:
            answer, succeeded = apply()
            return answer
        finally:
            with self._lock:
                if succeeded and answer is not None:
                    entry = self._entries[key]
                    # "valid for 10 minutes after the first request that uses it is
                    # completed"
                    entry.answer, entry.until = answer, self._now() + WINDOW_S
                else:
                    self._entries.pop(key, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.until <= now]:
            del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
