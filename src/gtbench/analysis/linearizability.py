"""A linearizability checker for registers, as Jepsen's Knossos checks them.

A history is a list of calls on independent registers (one per item), each with the
time it was invoked and the time it returned, on one monotonic clock, and Jepsen's
outcome: ``ok`` (it happened, and here is what it saw), ``fail`` (it certainly had no
effect) or ``info`` (unknown: a write that ended in a 5xx or a dropped connection may
take effect at any moment after its invocation, or never).

The search is Wing and Gong's (1993): walk the calls in time order, linearize a call
whose invocation comes before every pending return, backtrack when a return is reached
whose call could not be placed. Lowe's memo (2017) prunes it: a (set of linearized
calls, register state) pair already explored never is again. Registers are checked one
at a time (P-compositionality: a history is linearizable iff each item's is).

Values are unique per write, so a read names the write it saw: the check is fast and a
violation names the calls involved. Pure: no boto3, no clock.

Calls of unknown outcome that never returned (a region cut off) make the plain search
exponential: any subset of them may have taken effect at any point. Two exact
reductions keep it small. A value nothing observed (no read returned it, no condition
expected it) is indistinguishable from any other such value, so all of them are one
state, UNSEEN. And among unknown calls that would write such a value under the same
condition, the search places only the one invoked last: the others, invoked earlier,
can take its place anywhere later, so leaving them unplaced loses nothing. An unknown
call that would change nothing is not placed at all (never taking effect is allowed).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["read", "write", "cas"]
Result = Literal["ok", "fail", "info"]
ABSENT: None = None  # the value of an item that does not exist


class _Unseen:
    def __repr__(self) -> str:
        return "<a value nothing observed>"


UNSEEN = _Unseen()  # stands for every such value (module docstring)
DEFAULT_BUDGET = 2_000_000  # search steps per register before the answer is "unknown"


@dataclass(frozen=True)
class Call:
    """One operation on one register.

    ``read``: ``value`` is what it returned (None: no item). ``write``: ``value`` is
    written unconditionally. ``cas``: ``value`` is written if the register holds
    ``expected``; ``ok`` means it was applied, and a ``fail`` whose ``condition_failed``
    is set means the register did not hold ``expected`` at that moment (DynamoDB's
    ConditionalCheckFailedException is certain, and it tells what the state was not).
    """

    key: Hashable
    kind: Kind
    invoked_ns: int
    returned_ns: int
    result: Result
    value: Hashable = None
    expected: Hashable = None
    condition_failed: bool = False
    process: int = 0
    index: int = 0  # position in the caller's history, for messages


@dataclass(frozen=True)
class Verdict:
    """``valid`` is True, False, or None when the search ran out of budget."""

    valid: bool | None
    key: Hashable = None
    calls: int = 0  # the calls the search had to place (ok ones), over all registers
    unknown: int = 0  # info calls that may or may not have taken effect
    explored: int = 0  # search steps, over all registers
    # The calls of the failing register that could not all be placed, in time order,
    # and the first one the search could never linearize.
    witness: tuple[Call, ...] = field(default_factory=tuple)
    stuck: Call | None = None

    def describe(self) -> str:
        if self.valid:
            return (f"linearizable: {self.calls} calls checked "
                    f"({self.unknown} of unknown outcome)")
        if self.valid is None:
            return f"unknown: the search ran out of budget on item {self.key!r}"
        stuck = self.stuck
        what = (f"{stuck.kind} #{stuck.index} by process {stuck.process} "
                f"(value {stuck.value!r})" if stuck else "a call")
        return f"not linearizable: item {self.key!r}: {what} cannot be placed"


def _observed(calls: Sequence[Call]) -> set[Hashable]:
    """The values some call saw: what ok reads returned and what conditions expected."""
    return ({c.value for c in calls if c.kind == "read" and c.result == "ok"}
            | {c.expected for c in calls if c.kind == "cas"})


def _condition(call: Call) -> tuple[Kind, Hashable]:
    """Calls with equal conditions can stand in for each other (see ``_check_one``)."""
    return call.kind, call.expected if call.kind == "cas" else None


def _step(state: Hashable, call: Call) -> tuple[bool, Hashable]:
    """The register model: may ``call`` take effect in ``state``, and the state after."""
    if call.kind == "read":
        return call.value == state, state
    if call.kind == "write":
        return True, call.value
    # cas
    if call.result == "fail" and call.condition_failed:
        return state != call.expected, state
    if state == call.expected:
        return True, call.value
    return call.result == "info", state  # an unknown cas may also have failed its check


@dataclass
class _Entry:
    call: Call
    ident: int
    is_call: bool
    match: _Entry | None = None  # the call's return entry (None: it never returns)
    prev: _Entry | None = None
    next: _Entry | None = None


def _relevant(call: Call) -> bool:
    """Calls that constrain the register: a failed write had no effect and a failed or
    unknown read saw nothing; a cas that failed its condition still saw the state."""
    if call.result == "ok":
        return True
    if call.result == "info":
        return call.kind != "read"
    return call.kind == "cas" and call.condition_failed


def _check_one(calls: Sequence[Call], initial: Hashable, budget: int
               ) -> tuple[bool | None, int, Call | None]:
    """Wing-Gong-Lowe over one register. Returns (valid, steps, a call that was stuck)."""
    observed = _observed(calls)
    originals = calls  # for the stuck call named in a verdict
    calls = [c if c.kind == "read" or c.value in observed else replace(c, value=UNSEEN)
             for c in calls]
    events: list[tuple[int, int, _Entry]] = []
    for ident, call in enumerate(calls):
        start = _Entry(call, ident, True)
        # At equal times a call sorts before a return: the two overlap (never a false
        # alarm from a tie).
        events.append((call.invoked_ns, 0, start))
        if call.result != "info":
            end = _Entry(call, ident, False)
            start.match = end
            events.append((call.returned_ns, 1, end))
    events.sort(key=lambda e: (e[0], e[1], e[2].ident))
    head = _Entry(Call(None, "read", 0, 0, "ok"), -1, False)
    last = head
    for _, _, event in events:
        last.next, event.prev = event, last
        last = event

    def _stand_in_later(entry: _Entry) -> bool:
        """Is an unknown call under the same condition, writing an unobserved value,
        invoked later and still placeable (before the first pending return)?"""
        condition = _condition(entry.call)
        later = entry.next
        while later is not None and later.is_call:
            if later.match is None and later.call.value is UNSEEN \
                    and _condition(later.call) == condition:
                return True
            later = later.next
        return False

    def lift(entry: _Entry) -> None:
        for e in (entry, entry.match):
            if e is None:
                continue
            assert e.prev is not None
            e.prev.next = e.next
            if e.next is not None:
                e.next.prev = e.prev

    def unlift(entry: _Entry) -> None:
        for e in (entry.match, entry):
            if e is None:
                continue
            assert e.prev is not None
            e.prev.next = e
            if e.next is not None:
                e.next.prev = e

    state = initial
    linearized = 0
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Entry, Hashable]] = []
    steps = 0
    deepest: Call | None = None
    depth = -1
    entry: _Entry | None = head.next
    while entry is not None:
        steps += 1
        if steps > budget:
            return None, steps, deepest
        if entry.is_call:
            possible, after = _step(state, entry.call)
            if possible and entry.match is None and (
                    after == state or (after is UNSEEN and _stand_in_later(entry))):
                possible = False  # an unknown call: see the module docstring
            if possible:
                marked = linearized | (1 << entry.ident)
                if (marked, after) not in seen:
                    seen.add((marked, after))
                    stack.append((entry, state))
                    state, linearized = after, marked
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # A return whose call is not yet linearized: undo the last choice.
        if len(stack) > depth:
            depth, deepest = len(stack), originals[entry.ident]
        if not stack:
            return False, steps, deepest
        top, state = stack.pop()
        linearized &= ~(1 << top.ident)
        unlift(top)
        entry = top.next
    # Only calls that never return are left: they took effect never, which is allowed.
    return True, steps, None


def check(history: Iterable[Call], initial: Hashable = ABSENT,
          budget: int = DEFAULT_BUDGET) -> Verdict:
    """Is ``history`` linearizable for registers that start at ``initial``?"""
    by_key: dict[Hashable, list[Call]] = {}
    unknown = placed = 0
    for call in history:
        if not _relevant(call):
            continue
        by_key.setdefault(call.key, []).append(call)
        if call.result == "info":
            unknown += 1
        else:
            placed += 1
    explored = 0
    undecided: Hashable = None
    for key in sorted(by_key, key=repr):
        calls = sorted(by_key[key], key=lambda c: (c.invoked_ns, c.index))
        valid, steps, stuck = _check_one(calls, initial, budget)
        explored += steps
        if valid is False:
            return Verdict(False, key, placed, unknown, explored, tuple(calls), stuck)
        if valid is None and undecided is None:
            undecided = key
    if undecided is not None:
        return Verdict(None, undecided, placed, unknown, explored)
    return Verdict(True, None, placed, unknown, explored)
