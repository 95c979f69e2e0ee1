"""One running emulator: settings → tree → store → handler, plus the config file watch.

A valid edit of the config file replaces the tree (waking the watchers of what changed) and
the token service's accounts; an invalid edit keeps everything as it was and logs one line
saying why. watch.py sees an edit only once it is complete (an editor or `cat >` may write
in several steps); the file is read and checked in a thread, so a hostile or huge file never
stalls serving. Nothing a file contains ends the watch.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from aiohttp import web

from .config import ConfigError, Settings
from .connections import Server
from .credentials.select import resolve, token_service
from .defaults import build_tree
from .hosts import HostGuard
from .server import MetadataServer
from .store import Store
from .watch import watch

log = logging.getLogger("gce_metadata_emulator")


class Emulator:
    def __init__(self, loader: Callable[[], Settings],
                 environ: dict[str, str] | None = None) -> None:
        """Raises ConfigError for a bad config, and for credentials the config demands but
        the machine lacks (e.g. `credentials: impersonate` with no ADC)."""
        self.loader = loader
        self.environ = os.environ if environ is None else environ
        self.settings, adc = resolve(loader(), self.environ)
        self.store = Store(build_tree(self.settings))
        self.tokens = token_service(self.settings, adc)
        self.handler = MetadataServer(self.store, self.tokens,
                                      HostGuard(self.settings.emulator.allowed_hosts),
                                      self.settings.emulator.admin,
                                      self.settings.emulator.profile,
                                      self.settings.emulator.request_log_size)
        self._watch_task: asyncio.Task | None = None
        self._runner: web.ServerRunner | None = None

    def web_server(self, access_log: logging.Logger | None = None) -> web.Server:
        """aiohttp's low-level server around the handler, with the connection limits of
        connections.py. A client that goes away cancels its request (a hanging
        wait_for_change costs nothing after that). The limits are fixed at start."""
        limits = self.settings.emulator
        return Server(self.handler, handler_cancellation=True, access_log=access_log,
                      keepalive_timeout=limits.idle_timeout,
                      header_timeout=limits.header_timeout)

    async def start(self) -> None:
        path = self.settings.path
        if path is not None and self.settings.emulator.watch_config:
            self._watch_task = asyncio.create_task(watch(path, self.reload))

    async def listen(self, host: str, port: int,
                     access_log: logging.Logger | None = None) -> int:
        """Serve on host:port (0 takes a free port) and start the watch; the port bound."""
        self._runner = web.ServerRunner(self.web_server(access_log), shutdown_timeout=1.0)
        await self._runner.setup()
        await self.start()
        await web.TCPSite(self._runner, host, port).start()
        return self._runner.addresses[0][1]

    async def close(self) -> None:
        self.handler.control.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._watch_task is not None:
            self._watch_task.cancel()
        await self.tokens.close()

    def prepare(self) -> tuple[Settings, dict]:
        """The new settings and tree, or ConfigError; pure, so it runs in a thread."""
        settings, _ = resolve(self.loader(), self.environ)
        return settings, build_tree(settings)

    def apply(self, settings: Settings, tree: dict) -> None:
        """Swap in a prepared config; the token mode stays what it was at start."""
        self.settings = settings
        self.store.replace_base(tree)
        self.tokens.update(settings)
        self.handler.hosts.allow(settings.emulator.allowed_hosts)
        self.handler.admin_reach = settings.emulator.admin
        self.handler.use_profile(settings.emulator.profile)
        self.handler.log.resize(settings.emulator.request_log_size)
        log.info("config reloaded from %s", settings.source)

    async def reload(self) -> bool:
        try:
            prepared = await asyncio.to_thread(self.prepare)
        except ConfigError as exc:
            log.error("config change ignored, still serving the previous config: %s", exc)
            return False
        except Exception as exc:  # a bug, but the watch and the served tree must survive it
            log.error("config change ignored, still serving the previous config: %s: "
                      "unexpected %s: %s", self.settings.source, type(exc).__name__, exc)
            return False
        self.apply(*prepared)
        return True
