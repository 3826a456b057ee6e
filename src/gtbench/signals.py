"""The signals that stop a run, treated alike: Ctrl-C (SIGINT), SIGTERM (a cancelled CI
job, ``kill``, ``timeout``) and SIGHUP (a closed terminal). Each raises ``Stopped``, a
KeyboardInterrupt, in the main thread, so every path that keeps what was measured at a
Ctrl-C keeps it at the others too; the exit status is 128 + the signal's number."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# Set by the handlers before they raise: Python drops an exception raised while the main
# thread runs a finalizer (``__del__``, a weakref callback), so a run also looks here
# between trials, and a stop whose raise was lost still ends it at the next one.
requested = threading.Event()


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signum_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (a plain one is Ctrl-C's)."""
    return exc.signum if isinstance(exc, Stopped) else int(signal.SIGINT)


def name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """The shell's convention: 130 after SIGINT, 143 after SIGTERM, 129 after SIGHUP."""
    return 128 + int(signum)


def _raise(signum: int, frame: Any) -> None:
    requested.set()
    raise Stopped(signum)


Previous = dict[int, Any]
Handler = Callable[[int, Any], None]


def take(handler: Handler) -> Previous:
    """Point every stop signal at ``handler`` (main thread only; an ignored SIGHUP stays
    ignored); returns the handlers before, for ``restore``."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: Previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    set_all(handler)
    return previous


def install() -> Previous:
    """Every stop signal raises ``Stopped``, as Ctrl-C raises KeyboardInterrupt (for
    the whole command: set-up and teardown stop as cleanly as a run), whatever the
    disposition the process inherited (a background job starts with SIGINT ignored).
    Returns the handlers before, for ``restore``."""
    return take(_raise)


def restore(previous: Previous) -> None:
    for signum, handler in previous.items():
        if handler is not None:
            signal.signal(signum, handler)


def _handled(signum: int) -> bool:
    """Whether gtbench takes ``signum`` over: always, but for an ignored SIGHUP (nohup
    means it: keep running when the terminal closes). An ignored SIGINT (a shell's
    background job) is still a stop when it is sent."""
    return signum != signal.SIGHUP or signal.getsignal(signum) is not signal.SIG_IGN



@contextlib.contextmanager
def handled(handler: Handler) -> Iterator[None]:
    """Every stop signal goes to ``handler`` inside the block (main thread only)."""
    previous = take(handler)
    try:
        yield
    finally:
        restore(previous)


def set_all(handler: Handler) -> None:
    """Point every stop signal (not ignored) at ``handler`` (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            if _handled(s):
                signal.signal(s, handler)


def ignore_all() -> None:
    """Every stop signal is ignored from now on (main thread only): the process is
    exiting with the status it has chosen. SIG_IGN, not a handler that does nothing:
    the interpreter puts its own handlers back to the default as it finalizes, and a
    signal then would kill the process."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
