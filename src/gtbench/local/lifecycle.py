"""Start, find and stop an emulator running in the background.

The running emulator is recorded in a small JSON file per user (pid, address,
who started it), so later commands find it again and ``gtbench local stop``
stops it. Nothing secret is stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gtbench.errors import GtbenchError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Moves the usual port: for a machine where 8000 is another program's, and for test
# runs side by side, which must not find (or stop) each other's emulators.
PORT_ENV = "GTBENCH_LOCAL_PORT"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def default_port() -> int:
    """The port the emulator is looked for on and started on: 8000, or $GTBENCH_LOCAL_PORT."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise GtbenchError(f"{PORT_ENV}={raw!r} is not a port number (1 to 65535)",
                           hint=f"unset it to use {DEFAULT_PORT}")
    return int(raw)


def state_dir() -> Path:
    explicit = os.environ.get("GTBENCH_STATE_DIR")
    if explicit is not None:
        if not explicit.strip():
            # Set but empty: falling back to the shared default would find, and stop,
            # the emulator of whoever uses that.
            raise GtbenchError("GTBENCH_STATE_DIR is set but empty",
                               hint="unset it for the default, or name a directory")
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gtbench"


def _made_state_dir() -> Path:
    """The state directory, made if need be; one clear error if it cannot be."""
    where = state_dir()
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GtbenchError(f"cannot use {where} for the emulator's state: "
                           f"{exc.strerror or exc}",
                           hint="point GTBENCH_STATE_DIR at a directory you can write") from None
    return where


def state_file() -> Path:
    return state_dir() / "emulator.json"


@dataclass
class Running:
    pid: int
    host: str
    port: int
    started_by: str  # "user" (local start), "serve" (local serve), "on-demand" or "found"
    started_at: float
    log: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


# Set for a `local serve` that `start` launched: `start` records it (with its log and who
# started it), so the served process must not write a record of its own.
RECORDED_BY_PARENT = "GTBENCH_SERVE_RECORDED_BY_PARENT"


MAX_PID = 2**31 - 1


def read_state() -> Running | None:
    """The record, or None if there is none or it is not one (damaged, hand-edited)."""
    try:
        data = json.loads(state_file().read_text())
        running = Running(**data)
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    if (not isinstance(running.pid, int) or isinstance(running.pid, bool)
            or not 0 < running.pid <= MAX_PID or not isinstance(running.host, str)
            or not isinstance(running.port, int) or not 0 < running.port <= 65535):
        return None
    return running


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Held while a command finds or starts the emulator: of several commands starting
    at once, one starts it and the others find it (a lock on the state directory)."""
    import fcntl

    lock_path = _made_state_dir() / "emulator.lock"
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise GtbenchError(f"cannot lock {lock_path}: {exc.strerror or exc}",
                           hint="point GTBENCH_STATE_DIR at a directory you can write") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_state_file() -> None:
    """The record can be written: checked before an emulator is started, which would
    otherwise run unrecorded (and unstoppable by `gtbench local stop`)."""
    target = state_file()
    if target.exists() and not target.is_file():
        raise GtbenchError(f"{target} is not a file, so the emulator could not be recorded",
                           hint="remove it, or point GTBENCH_STATE_DIR elsewhere")


def _write_state(running: Running) -> None:
    _made_state_dir()
    # One temporary file per writer: two processes writing at once (a command starting
    # the emulator, and the emulator itself) once collided here and killed the emulator.
    tmp = state_file().with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(running), indent=2))
    tmp.replace(state_file())


def _clear_state() -> None:
    with contextlib.suppress(FileNotFoundError):
        state_file().unlink()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie (exited, not yet collected by its parent, which may
    be another gtbench process) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(pid, 0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def probe(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The emulator's status document, or None if nothing gtbench-like answers."""
    try:
        with urllib.request.urlopen(f"{url}/_gtbench/status", timeout=timeout) as response:
            document = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return document if isinstance(document, dict) and document.get("emulator") == "gtbench" \
        else None


def control(url: str, action: str, method: str = "GET", body: Any = None) -> Any:
    """One call to the emulator's control plane; its refusal becomes one GtbenchError."""
    from gtbench.testing.controller import EmulatorError, call

    try:
        return call(url, method, action, body, timeout=10)
    except EmulatorError as exc:
        raise GtbenchError(str(exc), hint=None if exc.reachable else
                           "is it running? see `gtbench local status`") from None


def find_running() -> Running | None:
    """The recorded emulator if it is alive and answering; a stale record is removed."""
    running = read_state()
    if running is None:
        return None
    if pid_alive(running.pid) and probe(running.url) is not None:
        return running
    if not pid_alive(running.pid):
        _clear_state()
    return None


def discover() -> Running | None:
    """The emulator every command means when none is named: the recorded one, else a
    gtbench emulator answering on the default port (``started_by`` "found"). One
    answer for every command: `status`, `local status|stop|env|fault` alike."""
    running = find_running()
    if running is not None:
        return running
    port = default_port()
    status = probe(Running(0, DEFAULT_HOST, port, "found", 0.0, "").url)
    if status is None:
        return None
    return Running(int(status.get("pid", 0)), DEFAULT_HOST, port, "found",
                   float(status.get("started_at", 0.0)), "")


def find_or_start(announce: Callable[[str], None]) -> Running:
    """The emulator to use when none is named: ``discover``'s, else a new one started
    on demand. ``announce`` is told which, unless it is the recorded one: a second
    emulator is never started silently."""
    with exclusive():
        running = discover()
        if running is not None:
            if running.started_by == "found":
                announce(f"using the gtbench emulator already answering at {running.url} "
                         f"(pid {running.pid or '?'})")
            return running
        port = default_port()
        taken = not port_free(DEFAULT_HOST, port)
        running = start(started_by="on-demand")
    why = f"; port {port} is taken by another program" if taken else ""
    announce(f"started the local emulator on {running.url}{why} "
             "(stop it with `gtbench local stop`)")
    return running


def record_served(host: str, port: int) -> bool:
    """``local serve``: record this process as the emulator, so other commands find it,
    unless another recorded emulator is alive, or the command that started it records
    it (``local start``, on demand). Returns whether it was recorded."""
    if os.environ.get(RECORDED_BY_PARENT) or find_running() is not None:
        return False
    _write_state(Running(os.getpid(), host, port, "serve", time.time(), ""))
    return True


def forget_served() -> None:
    """``local serve`` is ending: remove its record, if the record is still its own."""
    running = read_state()
    if running is not None and running.pid == os.getpid():
        _clear_state()


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now. SO_REUSEADDR as the server
    sets it: a port whose last connections linger in TIME_WAIT is free, one that another
    program listens on is not."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start(*, host: str = DEFAULT_HOST, port: int | None = None, serve_args: list[str] | None
          = None, started_by: str = "user") -> Running:
    """Start ``gtbench local serve`` in the background and wait until it answers.

    ``port=None`` takes the default port, or any free one if that is taken.
    """
    if port is None:
        usual = default_port()
        port = usual if port_free(host, usual) else free_port(host)
    elif not port_free(host, port):
        raise GtbenchError(f"port {port} on {host} is already in use",
                           hint="choose another with --port, or stop what is using it")
    _check_state_file()
    log_path = _made_state_dir() / "emulator.log"
    command = [sys.executable, "-m", "gtbench", "local", "serve", "--host", host,
               "--port", str(port), *(serve_args or [])]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, RECORDED_BY_PARENT: "1"})
    running = Running(process.pid, host, port, started_by, time.time(), str(log_path))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GtbenchError(f"the emulator exited at start: {_last_line(log_path)}",
                               hint=f"full log in {log_path}")
        if probe(running.url, timeout=0.5) is not None:
            try:
                _write_state(running)
            except OSError as exc:  # unrecorded, it could not be stopped: stop it now
                process.terminate()
                raise GtbenchError(f"cannot record the emulator in {state_file()}: "
                                   f"{exc.strerror or exc}; it was stopped again") from None
            return running
        time.sleep(0.05)
    process.terminate()
    raise GtbenchError(f"the emulator did not answer within {START_TIMEOUT_S:.0f} s",
                       hint=f"see {log_path}")


class NotOurs(GtbenchError):
    """The recorded pid is no longer our emulator: nothing was signalled."""


class NotRecorded(GtbenchError):
    """An emulator answers, but this state directory did not start it: nothing was
    signalled."""


def stop() -> Running | None:
    """Stop the recorded emulator; returns what was stopped, or None if nothing ran.

    The recorded pid is signalled only after the emulator at the recorded address
    says it is that very process: after a crash or a reboot the pid may belong to
    another program now.
    """
    running = read_state()
    if running is None:
        # Nothing recorded here. One answering on the usual port was started elsewhere
        # (another state directory, another user, by hand): not ours to stop.
        found = discover()
        if found is None:
            return None
        raise NotRecorded(
            f"no emulator is recorded in {state_dir()}; the one answering at {found.url} "
            f"(pid {found.pid or '?'}) was started elsewhere, so it was left running",
            hint=f"stop it where it was started, or with `kill {found.pid}`"
            if found.pid else "stop it where it was started")
    if not pid_alive(running.pid):
        _clear_state()
        return None
    status = probe(running.url)
    if status is None or status.get("pid") != running.pid:
        _clear_state()
        raise NotOurs(f"the recorded emulator (pid {running.pid}, {running.url}) does not "
                      f"answer as itself, so pid {running.pid} was not signalled; its "
                      "record is cleared",
                      hint="if an old emulator still runs, stop it by hand")
    os.kill(running.pid, signal.SIGTERM)
    _wait_gone(running.pid)
    _clear_state()
    return running


def _wait_gone(pid: int) -> None:
    """Wait for a signalled emulator to exit; kill it if it will not."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)


def _reap(pid: int) -> None:
    # When this process started the emulator, it is our child: collect it, or it lingers
    # as a zombie and still looks alive to kill(pid, 0).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def health_problem(status: dict[str, Any] | None, url: str = "") -> str | None:
    """One line on an emulator whose background threads died (replication has stopped
    for good: waiting would only run out a timeout), or None."""
    broken = (status or {}).get("broken") or []
    if not broken:
        return None
    first = broken[0]
    more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
    where = f" at {url}" if url else ""
    return (f"the emulator{where} is unhealthy: its thread {first.get('thread')} died "
            f"({first.get('error')}){more}")
