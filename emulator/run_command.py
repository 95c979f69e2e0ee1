"""`exec -- COMMAND`: an emulator for the lifetime of one command, as `aws-vault exec` gives
a command its credentials.

The command runs with the variables that point client libraries at the emulator. Signals sent
to `exec` reach the command; when it ends, the emulator stops and `exec` exits with the
command's status (128 + N when a signal N ended it, as a shell reports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys

from .profiles import PROFILES
from .serving import STOP_SIGNALS, client_env

log = logging.getLogger("gce_metadata_emulator")


def in_terminal_foreground() -> bool:
    """Whether this process leads the terminal's foreground job: then Ctrl-C has reached the
    command already (it is in the same job), and forwarding would deliver it twice."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def runner(argv: list[str]):
    """The `then` of serving.serve: run argv against the emulator at an address."""

    async def run(address: str, settings) -> int:
        env = {**os.environ, **client_env(address)}
        # what the platform's workloads see besides the server (K_SERVICE on Cloud Run,
        # KUBERNETES_SERVICE_HOST in a pod), unless the caller set them
        for name, value in PROFILES[settings.emulator.profile].environment.items():
            env.setdefault(name, value.format_map(env))
        try:
            child = await asyncio.create_subprocess_exec(*argv, env=env)
        except FileNotFoundError:
            print(f"gce-metadata-emulator exec: {argv[0]}: command not found", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"gce-metadata-emulator exec: {argv[0]}: not executable", file=sys.stderr)
            return 126
        loop = asyncio.get_running_loop()

        def forward(sig: signal.Signals) -> None:
            if sig == signal.SIGINT and in_terminal_foreground():
                return
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                child.send_signal(sig)

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, forward, sig)
        status = await child.wait()
        log.info("%s exited with status %s; stopping", argv[0], status)
        return status if status >= 0 else 128 - status

    return run
