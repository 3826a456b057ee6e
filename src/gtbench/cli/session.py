"""One experiment command's shared tail: where it runs, the billable question, saving
the document, and the exit code. Every experiment command makes one ``RunSession``;
what differs between them (the plan, the live lines, the renderers) stays in the
command."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import click

from gtbench.cli.app import current_app
from gtbench.cli.options import SCRATCH_KEY  # the demo's scratch files: not announced
from gtbench.errors import Interrupted, RunStopped
from gtbench.regions import Regions, Settings
from gtbench.terminal import Terminal

if TYPE_CHECKING:
    from gtbench.document import Context
    from gtbench.experiments.trials import RunEnd



class RunSession:
    """Connects to the target (starting the emulator on demand), and ends the run: the
    document saved first, whatever happens next, then shown, then the exit code."""

    def __init__(self, settings: Settings, json_path: str | None,
                 tables: str | None = None, *, calls_within_s: float | None = None) -> None:
        from gtbench.cli.provision import connect
        from gtbench.document import Context

        self.settings = settings
        self.json_path = json_path
        self.terminal: Terminal = current_app().terminal(stdout_is_data=json_path == "-")
        self.regions: Regions
        # No call outlasts the run's own timeout, from the first one on.
        self.regions, self.account = connect(settings, self.terminal, tables,
                                             calls_within_s=calls_within_s)
        self.calls_within_s = calls_within_s
        self.context: Context = Context.of(settings, self.regions.endpoint_url)
        self._restore: dict[int, Any] | None = None  # the signal handlers before measuring()
        self.stopped_by: int | None = None  # the signal that stopped the run, if one did
        self._marked = False
        self.concurrent: list[dict[str, Any]] | None = None  # other runs on the table

    def require_table(self) -> None:
        """The table exists in the home region: said before anything is asked, staged or
        marked (a run on a missing table said what it would stage, and warned that its
        marker never arrived, before the one line that mattered)."""
        from gtbench.experiments.preflight import existing

        existing(self.regions, self.settings, self.settings.home)

    @contextlib.contextmanager
    def measuring(self, experiment: str | None = None,
                  lasts_at_most_s: float = 0.0) -> Iterator[None]:
        """Around the run: the first Ctrl-C interrupts it (the experiment keeps what it
        measured); every later one is only noted until ``conclude`` has saved it, so
        no second Ctrl-C can cut the ending short (removing, saving). With
        ``experiment``, the run marks itself on the shared table and learns which other
        gtbench runs wrote to it meanwhile (``concurrent``, saved in the document)."""
        marker = None
        if experiment is not None:
            from gtbench.experiments.runs import RunMarker

            marker = RunMarker(self.regions.client(self.settings.home), self.settings.table,
                               experiment, time.time() + lasts_at_most_s + 600)
            self._marked = True
        try:
            with self._interruptible():
                yield
        finally:
            if marker is not None:
                with deferred_interrupts():  # a Ctrl-C now must not lose the run
                    self.concurrent = marker.finish()
                    if self.stopped_by is None:  # a stop exits at once, unsettled
                        self._settle([marker.key])

    def _settle(self, keys: list[dict[str, Any]]) -> None:
        """The run's own items (its marker) reach every region before it exits: the
        replicas agree the moment it ends."""
        from gtbench.experiments.settling import SETTLE_S, await_keys

        if self.settings.target == "local" and self.regions.endpoint_url:
            from gtbench.local import lifecycle

            status = lifecycle.probe(self.regions.endpoint_url) or {}
            if status.get("paused") or status.get("faults"):
                self.terminal.warn("replication is paused or faulted on the emulator: this "
                                   "run's marker may differ between regions until it is "
                                   "restored")
                return
        # As long as the run's own calls may take: a short --timeout is a short wait.
        budget = min(SETTLE_S, max(2.0, self.calls_within_s or SETTLE_S))
        readers = {r: self.regions.reader(r) for r in self.settings.regions}
        for key, region in await_keys(readers, self.settings.table, keys, timeout_s=budget):
            self.terminal.warn(f"this run's marker {key['SK']['S']} had not reached "
                               f"{region} when it ended")

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        from gtbench import signals

        def again(signum: int, frame: Any) -> None:
            with contextlib.suppress(OSError):  # no terminal (SIGHUP): saving goes on
                os.write(2, b"\ngtbench: finishing: what was measured is being saved\n")

        def first(signum: int, frame: Any) -> None:
            signals.set_all(again)
            self.stopped_by = signum
            signals.requested.set()
            raise signals.Stopped(signum)

        signals.requested.clear()
        self._restore = signals.take(first)
        try:
            yield
        except BaseException:
            self._restore_handler()
            raise

    def _restore_handler(self) -> None:
        if self._restore is not None:
            from gtbench import signals

            signals.restore(self._restore)
            self._restore = None

    def conclude(self, result: RunEnd, build: Callable[[], dict[str, Any]],
                 render: Callable[[dict[str, Any]], Iterable[Any]], *, done: str,
                 notes: Iterable[str] = ()) -> None:
        """Save the document built from ``result`` (a Ctrl-C meanwhile waits until it is
        on disk), show it, and exit as the run ended: 130 after Ctrl-C, 1 after a run
        of bad trials. ``notes`` go to stderr after the tables."""
        try:
            with deferred_interrupts() as interrupted:
                saved = build()
                if self._marked:  # None: it could not be known
                    saved["concurrent_runs"] = self.concurrent
                self.terminal.save(saved, self.json_path, announce=False)
        finally:
            self._restore_handler()
        if interrupted:
            result.interrupted = True
            self.stopped_by = self.stopped_by or interrupted[0]
        if result.interrupted and self.stopped_by is None:
            self.stopped_by = signal.SIGINT  # a KeyboardInterrupt raised by other means
        for renderable in render(saved):
            self.terminal.print(renderable)
        for note in notes:
            self.terminal.note(note)
        ctx = click.get_current_context(silent=True)
        scratch = bool(ctx and ctx.meta.get(SCRATCH_KEY))  # deleted after: never named
        if self.json_path not in (None, "-") and not scratch:
            self.terminal.note(f"wrote {self.json_path}")
        finish(result, None if scratch else self.json_path, done,
               self.stopped_by or signal.SIGINT)


def with_png(tables: Callable[[dict[str, Any]], list[Any]], png_path: str | None
             ) -> Callable[[dict[str, Any]], list[Any]]:
    """A renderer for ``conclude``: ``tables``, then the figure drawn to ``png_path``
    from the saved document (after saving: a figure that fails loses nothing)."""
    def render(saved: dict[str, Any]) -> list[Any]:
        shown = tables(saved)
        if png_path:
            from gtbench.report.plot import save_png

            save_png(saved, png_path)
            shown.append(f"wrote {png_path}")
        return shown
    return render


def finish(result: RunEnd, json_path: str | None, done: str,
           signum: int = signal.SIGINT) -> None:
    """Exit as the run ended: 128 + the signal after Ctrl-C, SIGTERM or SIGHUP (130,
    143, 129), 3 after a run that stopped early (``ExitStatus``)."""
    from gtbench import signals

    where = f" and saved to {json_path}" if json_path and json_path != "-" else ""
    if result.interrupted:
        by = "" if signum == signal.SIGINT else f" by {signals.name(signum)}"
        raise Interrupted(f"interrupted{by} after {done}; they are summarized above{where}",
                          signum=signum)
    if result.stopped:
        raise RunStopped(f"{result.stopped}; {done} are summarized above{where}")


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[list[int]]:
    """A Ctrl-C inside the block is held until it ends (the list then holds it), so a
    second Ctrl-C cannot cut the saving of what was measured short."""
    from gtbench import signals

    caught: list[int] = []
    with signals.handled(lambda signum, frame: caught.append(signum)):
        yield caught  # (signals reach only the main thread)
