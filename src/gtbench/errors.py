"""The one exception type for errors a user can cause or fix.

The CLI turns a GtbenchError into one line on stderr and a non-zero exit; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Every exit status of gtbench, one meaning each (`gtbench --help` lists them)."""

    OK = 0
    FAILED = 1  # the command could not do what was asked (nothing, or nothing more, ran)
    USAGE = 2  # bad input: nothing ran
    STOPPED = 3  # a run stopped early; what it measured was saved
    HANGUP = 129  # SIGHUP, a closed terminal; what was measured was saved
    INTERRUPTED = 130  # Ctrl-C; likewise
    TERMINATED = 143  # SIGTERM; likewise


class GtbenchError(Exception):
    """A problem the user can act on. The message is the whole explanation."""

    exit_code: int = ExitStatus.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class UsageError(GtbenchError):
    """Bad input on the command line or in the environment."""

    exit_code: int = ExitStatus.USAGE


class RunStopped(GtbenchError):
    """A run stopped early (bad trials, a lost endpoint, a deleted table); what it
    measured was shown and saved first."""

    exit_code: int = ExitStatus.STOPPED


class Interrupted(GtbenchError):
    """Ctrl-C (or SIGTERM, SIGHUP) ended a run; what it measured was shown and saved
    first. The exit status is 128 + the signal's number."""

    exit_code: int = ExitStatus.INTERRUPTED

    def __init__(self, message: str, *, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
