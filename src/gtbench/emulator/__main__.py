"""``python -m gtbench.emulator``: an emulator for a parent process (``gtbench.testing``).

It serves on a free loopback port with no lag and instant replicas, prints its URL on
one line once it answers, and runs until its standard input closes: when the parent
ends, however it ends, the emulator goes with it. It imports only the emulator, so it
answers sooner than ``gtbench local serve``.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    from gtbench.emulator.config import ReplicaSettings
    from gtbench.emulator.replication import LagModel
    from gtbench.emulator.server import EmulatorConfig, EmulatorServer

    # Ctrl-C in the test run reaches the whole process group; the parent decides when
    # this process ends (by closing the pipe), so a traceback here would only be noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = EmulatorConfig(lag=LagModel(0.0, 0.0), replicas=ReplicaSettings(0.0, 0.0))
    server = EmulatorServer(config, host="127.0.0.1", port=0).start()
    sys.stdout.write(server.url + "\n")
    sys.stdout.flush()
    sys.stdin.read()
    # Nothing to keep: every table lives in memory. A graceful stop would wait out the
    # server's poll and the lanes' joins (about a second) for nothing.
    os._exit(0)


if __name__ == "__main__":
    main()
