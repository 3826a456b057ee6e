"""What the commands of one invocation share: one object, made on first use and handed
down by click (``ctx.obj``), so a command that runs others (the demo) and the commands
it runs speak through one terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gtbench.terminal import Terminal


class App:
    """The invocation's shared parts. The terminal is made when first asked for, so
    ``gtbench --help`` loads no rich."""

    def __init__(self) -> None:
        self._terminal: Terminal | None = None

    def terminal(self, *, stdout_is_data: bool = False) -> Terminal:
        """The terminal; ``stdout_is_data``: the command writes its document to stdout
        (``--json -``), so every human line goes to stderr from now on."""
        if self._terminal is None:
            from gtbench.terminal import Terminal

            self._terminal = Terminal(stdout_is_data=stdout_is_data)
        elif stdout_is_data:
            self._terminal.claim_stdout()
        return self._terminal


def current_app() -> App:
    """The invocation's App (click's ``ctx.obj``; made by the first command or helper that
    asks, and inherited by every command it runs)."""
    return click.get_current_context().ensure_object(App)
