"""The one exception type for errors a user can cause or fix.

The CLI turns a GtbenchError into one line on stderr and a non-zero exit; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class GtbenchError(Exception):
    """A problem the user can act on. The message is the whole explanation."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class UsageError(GtbenchError):
    """Bad input on the command line or in the environment."""

    exit_code = 2


class Interrupted(GtbenchError):
    """Ctrl-C (or SIGTERM, SIGHUP) ended a run; what it measured was shown and saved
    first. The exit status is 128 + the signal's number."""

    exit_code = 130

    def __init__(self, message: str, *, signum: int = 2) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
