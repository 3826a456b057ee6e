"""The one record every experiment produces: timed operations on one monotonic clock.

Times are ``time.perf_counter_ns()`` of the process that ran the experiment, so
differences between them carry no clock skew. A result document keeps every Op
(``to_json``), so a stored run can be checked again (``gtbench report --check``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

Outcome = Literal["ok", "fail", "info"]
OpKind = Literal["write", "read"]
OK: Outcome = "ok"
FAIL: Outcome = "fail"
INFO: Outcome = "info"
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
KINDS: tuple[OpKind, ...] = get_args(OpKind)


@dataclass(frozen=True)
class Op:
    """One call: what it was, where, when it was sent and answered, and what it saw.

    ``result`` follows Jepsen: ``ok`` (it happened), ``fail`` (it certainly did not),
    ``info`` (unknown: a timeout or dropped connection; a write may still have landed).
    """

    region: str
    kind: OpKind
    sent_ns: int
    received_ns: int
    result: Outcome = OK
    value: int | None = None  # the value written, or the value a read saw (None: absent)
    process: int = 0  # which writer or poller made the call
    write_id: str | None = None  # the write's identity, or the identity a read saw
    error: str | None = None  # the error code of a call that was not ok
    consistent: bool = True  # a read's ConsistentRead (strongly consistent unless False)
    # A probe's own monotonic clock (probes' sent_ns/received_ns are their synced wall
    # clocks): durations within one probe that carry no clock error. None elsewhere.
    mono_sent_ns: int | None = None
    mono_received_ns: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == OK

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.consistent:
            del data["consistent"]  # the usual case: keep stored histories short
        for name in ("mono_sent_ns", "mono_received_ns"):
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Op:
        """An Op from its document form; ValueError if it is not one."""
        try:
            op = cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
        except TypeError as exc:
            raise ValueError(f"not an operation: {data!r}") from exc
        if op.kind not in KINDS or op.result not in OUTCOMES:
            raise ValueError(f"not an operation: {data!r}")
        if not isinstance(op.sent_ns, int) or not isinstance(op.received_ns, int):
            raise ValueError(f"operation times must be integer nanoseconds: {data!r}")
        return op
