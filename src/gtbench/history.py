"""The one record every experiment produces: timed operations on one monotonic clock.

Times are ``time.perf_counter_ns()`` of the process that ran the experiment, so
differences between them carry no clock skew.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    """One call: what it was, where, when it was sent and answered, and what it saw.

    ``result`` follows Jepsen: ``ok`` (it happened), ``fail`` (it certainly did not),
    ``info`` (unknown: a timeout or dropped connection; a write may still have landed).
    """

    region: str
    kind: str  # "write" or "read"
    sent_ns: int
    received_ns: int
    result: str = "ok"
    value: int | None = None  # the value written, or the value a read saw (None: absent)
    process: int = 0  # which writer or poller made the call
    write_id: str | None = None  # the write's identity, or the identity a read saw
