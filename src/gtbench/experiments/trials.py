"""The skeleton every experiment's run shares: how a run ends, a timed write, and the
loop of trials with its stop after a run of bad trials and its Ctrl-C.

An experiment supplies its trials as jobs (each takes the trial's stop event and
returns the trial) and how to judge one; the loop keeps every trial it completed,
whatever ends the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from gtbench import outcomes, signals
from gtbench.awserrors import describe_aws_error
from gtbench.errors import GtbenchError
from gtbench.history import INFO, OK, Op

# A run stops after this many trials in a row that failed or could not be judged
# (the endpoint is gone, say): the completed trials are kept and saved.
MAX_BAD_IN_A_ROW = 3
BAD = frozenset({"failed", "indeterminate"})

T = TypeVar("T")
# What ends a run early (the endpoint gone, a refusal) without ending the program: the
# run keeps what it measured and says why in ``stopped``.
RUN_FAILURES = (GtbenchError, BotoCoreError, ClientError)


def failure_message(exc: BaseException) -> str:
    """One line for a ``RUN_FAILURES`` error, in AWS's terms where it has them."""
    return describe_aws_error(exc) or str(exc)


@dataclass(kw_only=True)
class RunEnd:
    """When a run began and ended, and why it ended early if it did. Every result
    class is one (keyword-only fields, so each adds its own positional ones)."""

    started_at: float = 0.0  # wall clock
    ended_at: float = 0.0
    interrupted: bool = False  # Ctrl-C: what was measured before it is kept
    stopped: str | None = None  # why the run stopped early, in one line


def timed_write(send: Callable[[], Any], *, region: str, value: int | None,
                process: int = 0, write_id: str | None = None,
                unknown_is_info: bool = False) -> Op:
    """Send one write (``send`` makes the call) and record it as an Op; a refused or
    unanswered write is a result (``fail`` or ``info``), not an error. An error that is
    the user's to fix (access denied, a missing table) goes up, unless
    ``unknown_is_info``: then any answer DynamoDB gave is recorded as ``info`` with its
    code (under a region cut off, where AWS's documents name no error for every case)."""
    sent = time.perf_counter_ns()
    try:
        send()
    except (ClientError, BotoCoreError) as exc:
        known = outcomes.classify(exc)
        if known is None and unknown_is_info and isinstance(exc, ClientError):
            known = INFO, str(exc.response.get("Error", {}).get("Code") or "unknown")
        if known is None:
            raise
        return Op(region=region, kind="write", sent_ns=sent,
                  received_ns=time.perf_counter_ns(), result=known[0], value=value,
                  process=process, write_id=write_id, error=known[1])
    return Op(region=region, kind="write", sent_ns=sent, received_ns=time.perf_counter_ns(),
              result=OK, value=value, process=process, write_id=write_id)


def last_error(ops: Sequence[Op]) -> str:
    """The last error among ``ops`` ("no answer" if none said one)."""
    errors = [op.error for op in ops if op.error]
    return errors[-1] if errors else "no answer"


def stopped_reason(ops: Sequence[Op], trials: int) -> str:
    """One line on why a run of bad trials stopped it, from their own operations."""
    return (f"stopped after {trials} trials in a row that failed or could not be "
            f"judged (last error: {last_error(ops)})")


def run_trials(jobs: Iterable[Callable[[threading.Event], T]], end: RunEnd, kept: list[T], *,
               status: Callable[[T], str], ops: Callable[[T], Sequence[Op]],
               pool: ThreadPoolExecutor, prepare: Callable[[], None] | None = None,
               on_trial: Callable[[T], None] | None = None,
               ends_run: Callable[[T], str | None] | None = None) -> None:
    """Run ``prepare``, then each job with a fresh stop event, appending its trial to
    ``kept`` and telling ``on_trial``. Ends early after ``MAX_BAD_IN_A_ROW`` trials
    whose ``status`` is bad, or a trial that ``ends_run`` says the run cannot go on
    after, or an error of ``RUN_FAILURES`` once a trial is kept (``end.stopped``), or
    at Ctrl-C, SIGTERM or SIGHUP (``end.interrupted``); in every case the pollers of a
    trial cut short are released, the pool is shut down, and ``end.ended_at`` is
    set."""
    stop = threading.Event()
    streak: list[T] = []
    try:
        if prepare is not None:
            prepare()
        for job in jobs:
            stop = threading.Event()
            trial = job(stop)
            kept.append(trial)
            if on_trial is not None:
                on_trial(trial)
            if signals.requested.is_set():  # a stop whose raise was lost (signals.py)
                end.interrupted = True
                return
            reason = ends_run(trial) if ends_run is not None else None
            if reason is not None:
                end.stopped = reason
                return
            streak = [*streak, trial] if status(trial) in BAD else []
            if len(streak) >= MAX_BAD_IN_A_ROW:
                end.stopped = stopped_reason([op for t in streak for op in ops(t)],
                                             len(streak))
                return
    except KeyboardInterrupt:
        end.interrupted = True
    except RUN_FAILURES as exc:
        # The table deleted, the endpoint gone, a refusal mid-run: the trials completed
        # so far are kept, and the run says why it stopped. With none, the error alone
        # is the story (nothing was measured to keep).
        if not kept:
            raise
        end.stopped = failure_message(exc)
    finally:
        stop.set()  # release the pollers of a trial cut short
        pool.shutdown(wait=True, cancel_futures=True)
        end.ended_at = time.time()
