"""Where output goes: results on stdout, progress and diagnostics on stderr.

Commands print through a ``Terminal`` rather than to the consoles directly, so
``--json -`` can claim stdout and tests can capture both.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


class Terminal:
    def __init__(self, *, stdout_is_data: bool = False, quiet: bool = False) -> None:
        # Not a terminal (a pipe, a log, CI): rich would assume 80 columns; tables need more.
        self.err = Console(stderr=True, highlight=False,
                           width=None if Console(stderr=True).is_terminal else 120)
        # With ``--json -`` the document owns stdout, and every human line goes to stderr.
        self.out = self.err if stdout_is_data else Console(
            highlight=False, width=None if Console().is_terminal else 120)
        self.quiet = quiet

    def claim_stdout(self) -> None:
        self.out = self.err

    def print(self, *objects: Any, **kwargs: Any) -> None:
        kwargs.setdefault("soft_wrap", isinstance(objects[0], str) if objects else False)
        self.out.print(*objects, **kwargs)

    def note(self, message: str) -> None:
        """One line of context (where it runs, what was started), to stderr."""
        if not self.quiet:
            self.err.print(message, highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {message}", highlight=False)

    def save(self, document: Any, path: str | None) -> None:
        """A result document to ``path``; ``-`` means stdout (claimed with stdout_is_data)."""
        import json
        from pathlib import Path

        if not path:
            return
        text = json.dumps(document, indent=2) + "\n"
        if path == "-":
            self.write_data(text)
        else:
            Path(path).write_text(text)
            self.note(f"wrote {path}")

    def write_data(self, text: str) -> None:
        """Raw data (JSON) to the real stdout, unstyled."""
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
