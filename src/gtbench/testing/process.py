"""One emulator in a process of its own, for a test session.

In a process of its own, not in the test's: the emulator keeps its tables in moto's
backends, and moto's ``mock_aws`` wipes every backend of the process it runs in as it
starts and stops. An application that mocks S3 with moto would lose its global tables
mid-test. A child process also keeps the emulator's threads off the test's GIL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from types import TracebackType

START_TIMEOUT_S = 60.0  # a cold start on a loaded machine takes a few seconds


class EmulatorProcess:
    """``python -m gtbench.emulator``, started at once; ``url`` once it answers."""

    def __init__(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("AWS_", "MOTO_"))}  # the test's own settings
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gtbench.emulator"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, env=environment,
            start_new_session=True)
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The emulator's endpoint, waiting for it to answer the first time."""
        if self._url is None:
            self._url = self._read_url()
        return self._url

    def _read_url(self) -> str:
        line: list[bytes] = []
        stdout = self._process.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        url = line[0].decode().strip() if line else ""
        if not url.startswith("http://"):
            self.stop()
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("the gtbench emulator did not start"
                               + (f": {' / '.join(tail)}" if tail else
                                  f" within {START_TIMEOUT_S:.0f} s"))
        return url

    def stop(self) -> None:
        """Close its input (it stops itself), then make sure it is gone."""
        if self._process.poll() is None:
            try:
                assert self._process.stdin is not None
                self._process.stdin.close()
                self._process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stdin):
            if stream is not None and not stream.closed:
                stream.close()
        self._log.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
