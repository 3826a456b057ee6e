"""The emulator's one clock: real time, or held still and moved by hand.

Every part that reads the time or waits for it (write stamps, delivery lanes, faults
that start and end, replicas being created, TTL, CloudWatch periods, MRSC's waits)
reads it here, so a test can hold the clock and move it with ``advance``: replication
then happens in virtual time, step by step and in due order, with no wall time spent
and nothing left to a thread's luck (freezegun's model, for a whole emulator).

Held, time stands still: nothing replicates, no fault ends and no period closes until
``advance``. A request's simulated network time (``sleep``) costs no virtual time.
Released, time goes on from where it was held or advanced to; it never goes back.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Stepper(Protocol):
    """Work that falls due at times of its own (the replicator's deliveries): told to do
    what is due when the held clock is advanced past it."""

    def next_due(self) -> float | None:
        """When the next piece of work that could run now falls due; None: none."""

    def run_due(self, now: float) -> None:
        """Do every piece of work due at or before ``now``."""


class Timer:
    """A call the clock makes at a time; ``cancel`` before then and it is never made."""

    def __init__(self, at: float, call: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.at, self.call, self.args = at, call, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Wall-clock seconds (``time``), unless ``hold`` holds them still; then only
    ``advance`` moves them. One thread makes the timed calls (``call_at``) in real time;
    while held, ``advance`` makes them itself, in order, at their own virtual times."""

    def __init__(self) -> None:
        self._held: float | None = None  # the virtual now, while held
        self._offset = 0.0  # how far ahead of the wall clock time went while it was held
        self._lock = threading.Condition()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._steppers: list[Stepper] = []
        self._on_release: list[Callable[[], None]] = []
        self._advancing = threading.Lock()  # one advance at a time
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- reading ------------------------------------------------------------
    def time(self) -> float:
        held = self._held
        return held if held is not None else time.time() + self._offset

    def time_ns(self) -> int:
        held = self._held
        if held is not None:
            return int(held * 1e9)
        return time.time_ns() + int(self._offset * 1e9)

    @property
    def held(self) -> bool:
        return self._held is not None

    # -- waiting ------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Real time passes; held, none does (a request's network time is free)."""
        if self._held is None and seconds > 0:
            time.sleep(seconds)

    def wait(self, condition: threading.Condition, until: float | None) -> None:
        """With ``condition`` held: wait for a notify, or (real time) until ``until``.
        Held, only a notify ends the wait: work due in virtual time is ``advance``'s."""
        if self._held is not None or until is None:
            condition.wait()
        else:
            condition.wait(max(0.0, until - self.time()))

    # -- timed calls --------------------------------------------------------
    def call_at(self, at: float, call: Callable[..., None], *args: Any) -> Timer:
        timer = Timer(at, call, args)
        with self._lock:
            heapq.heappush(self._timers, (at, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gtbench-clock",
                                                daemon=True)
                self._thread.start()
            self._lock.notify()
        return timer

    def call_every(self, period: Callable[[], float], call: Callable[[], None]) -> Timer:
        """``call`` every ``period()`` seconds (read again each time) until cancelled."""
        handle = Timer(0.0, call, ())

        def tick() -> None:
            if handle.cancelled:
                return
            try:
                call()
            finally:
                if not handle.cancelled:
                    self.call_at(self.time() + period(), tick)

        self.call_at(self.time() + period(), tick)
        return handle

    def _due(self, now: float) -> list[Timer]:
        with self._lock:
            due = []
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
            return [t for t in due if not t.cancelled]

    @staticmethod
    def _make(timers: list[Timer]) -> None:
        for timer in timers:
            try:
                timer.call(*timer.args)
            except Exception:  # a timed call's bug must not stop the clock
                log.exception("a timed call failed")

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                if self._held is not None or not self._timers:
                    self._lock.wait()
                    continue
                delay = self._timers[0][0] - self.time()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
            self._make(self._due(self.time()))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    # -- holding ------------------------------------------------------------
    def add_stepper(self, stepper: Stepper, on_release: Callable[[], None]) -> None:
        """``stepper`` runs its due work on each ``advance``; ``on_release`` is called
        when the clock goes back to real time (to pick up what fell due meanwhile)."""
        self._steppers.append(stepper)
        self._on_release.append(on_release)

    def hold(self) -> float:
        """Stop time where it is now; returns that time."""
        with self._lock:
            if self._held is None:
                self._held = time.time() + self._offset
            self._lock.notify_all()
            return self._held

    def release(self) -> float:
        """Let time run again, from where it was held (never back); returns now."""
        with self._advancing, self._lock:
            if self._held is not None:
                self._offset = max(self._offset, self._held - time.time())
                self._held = None
            self._lock.notify_all()
        for wake in self._on_release:
            wake()
        return self.time()

    def reset(self) -> None:
        """Back on the wall clock and not held, even if time had gone ahead of it (an
        emulator's reset: everything that remembered a time is forgotten with it)."""
        with self._advancing, self._lock:
            self._held, self._offset = None, 0.0
            self._lock.notify_all()
        for wake in self._on_release:
            wake()

    def describe(self) -> dict[str, Any]:
        return {"held": self.held, "now": self.time(), "ahead_s": self._offset}

    def advance(self, seconds: float) -> float:
        """Move held time ``seconds`` on, making every timed call and doing every
        stepper's work at its own due time on the way, in order. Returns the new now."""
        if seconds < 0:
            raise ValueError("time never goes back")
        with self._advancing:
            if self._held is None:
                raise RuntimeError("the clock is not held: hold it before advancing it")
            target = self._held + seconds
            self._step()  # what is due already
            while True:
                at = self._next(target)
                # After a step, nothing that could run is due at or before now: a time
                # that is would be work a stepper cannot do (a bug), not a reason to spin.
                if at is None or at <= self._held:
                    break
                self._held = at
                self._step()
            self._held = target
            self._step()
            return target

    def _next(self, target: float) -> float | None:
        """The earliest time at or before ``target`` when something falls due."""
        times = [due for due in (s.next_due() for s in self._steppers) if due is not None]
        with self._lock:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                times.append(self._timers[0][0])
        soonest = min(times, default=None)
        return soonest if soonest is not None and soonest <= target else None

    def _step(self) -> None:
        now = self.time()
        # Work a step makes due at once (a timer that re-arms, a fault that ends and
        # frees held deliveries) runs in the same step, a bounded number of rounds.
        for _ in range(1000):
            timers = self._due(now)
            self._make(timers)
            before = [s.next_due() for s in self._steppers]
            for stepper in self._steppers:
                stepper.run_due(now)
            after = [s.next_due() for s in self._steppers]
            if not timers and (before == after or not any(
                    due is not None and due <= now for due in after)):
                return
        log.error("the clock's step at %s did not settle", now)
