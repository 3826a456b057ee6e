"""Where output goes: results on stdout, progress and diagnostics on stderr.

Commands print through a ``Terminal`` rather than to the consoles directly, so
``--json -`` can claim stdout and tests can capture both.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


class Terminal:
    def __init__(self, *, stdout_is_data: bool = False, quiet: bool = False) -> None:
        # Not a terminal (a pipe, a log, CI) and no COLUMNS said: 120 columns, so a log
        # keeps every column; the tables fit whatever width they are given.
        import os

        fixed = None if "COLUMNS" in os.environ else 120
        self.err = Console(stderr=True, highlight=False,
                           width=None if Console(stderr=True).is_terminal else fixed)
        # With ``--json -`` the document owns stdout, and every human line goes to stderr.
        self.out = self.err if stdout_is_data else Console(
            highlight=False, width=None if Console().is_terminal else fixed)
        self.quiet = quiet

    def claim_stdout(self) -> None:
        self.out = self.err

    def print(self, *objects: Any, **kwargs: Any) -> None:
        # Results wrap at the terminal's width (COLUMNS=80: no line over 80); a log or
        # pipe without COLUMNS gets 120 columns, which every line of gtbench's fits.
        kwargs.setdefault("soft_wrap", False)
        self.out.print(*objects, **kwargs)

    def note(self, message: str) -> None:
        """One line of context (where it runs, what was started), to stderr."""
        if not self.quiet:
            self.err.print(message, highlight=False, soft_wrap=True)

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {message}", highlight=False)

    def save(self, document: Any, path: str | None, *, announce: bool = True) -> None:
        """A result document to ``path``; ``-`` means stdout (claimed with stdout_is_data).

        If ``path`` cannot be written after all, the document goes to a temporary file
        and the error names it: a finished run is never lost to a bad path.
        """
        if not path:
            return
        text = dumps(document)
        if path == "-":
            self.write_data(text)
            return
        try:
            write_atomically(path, text)
        except OSError as exc:
            import tempfile

            from gtbench.errors import GtbenchError

            fd, fallback = tempfile.mkstemp(prefix=f"gtbench-{document.get('experiment')}-",
                                            suffix=".json")
            with open(fd, "w") as handle:
                handle.write(text)
            raise GtbenchError(f"cannot write {path}: {exc.strerror or exc}; the result is "
                               f"saved in {fallback} instead") from None
        if announce:
            self.note(f"wrote {path}")

    def write_data(self, text: str) -> None:
        """Raw data (JSON) to the real stdout, unstyled."""
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()


def dumps(document: Any) -> str:
    """JSON indented for reading, with each flat object (an operation, a write, a
    timeline entry) on one line: a history of thousands of operations stays legible."""
    import json
    import re

    text = json.dumps(document, indent=2, allow_nan=False)  # NaN and Infinity are not JSON
    flat = re.compile(r"\{\n(\s+)([^{}\[\]]*?)\n\s*\}")
    return flat.sub(lambda m: "{" + " ".join(line.strip() for line in m.group(2).splitlines())
                    + "}", text) + "\n"


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, so an interrupted
    write never leaves half a document."""
    import os
    from pathlib import Path

    target = Path(path)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        # Checked again (a race): the rename would replace a link, a device or a pipe.
        raise OSError(f"{path} exists and is not a regular file")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def check_output_path(path: str) -> str | None:
    """Why a result could not be written to ``path``, checked before a run; None if it can."""
    import os
    from pathlib import Path

    if path == "-":
        return None
    if not path.strip():
        return "an empty path names no file (give a file name, or '-' for stdout)"
    if "\0" in path:
        return "a path cannot contain a NUL character"
    target = Path(path)
    try:
        if target.is_symlink():
            # The atomic rename would replace the link itself, not write where it points:
            # refused, so a link is never silently turned into a file.
            return (f"{path} is a symbolic link; name the file it points to "
                    f"({os.path.realpath(path)})")
        if target.is_dir():
            return f"{path} is a directory"
        if target.exists() and not target.is_file():
            # The atomic rename would put the document where a device or a pipe was.
            return f"{path} exists and is not a regular file"
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            return f"directory {parent} does not exist"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"cannot write in directory {parent}"
        if target.exists() and not os.access(target, os.W_OK):
            return f"cannot write {path}"
        limit = os.pathconf(parent, "PC_NAME_MAX")
    except OSError as exc:  # a name too long for the filesystem, a loop of links...
        return f"cannot use {path}: {exc.strerror or exc}"
    if len(os.fsencode(target.name)) + len(f"..{os.getpid()}.tmp") > limit:
        # The document is written to a temporary name beside it first.
        return f"the file name is too long for this filesystem ({limit} bytes at most)"
    return None


def say(text: str) -> None:
    """A line for a person on stdout outside a ``Terminal`` (the emulator's commands),
    wrapped at the terminal's width (COLUMNS) so 80 columns hold it; a path or URL is
    never broken."""
    import shutil
    import textwrap

    import click

    width = max(shutil.get_terminal_size((120, 24)).columns, 40)
    click.echo(textwrap.fill(text, width=width, subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False))
