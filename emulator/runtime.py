"""One running emulator: settings → tree → store → handler, plus the config file watch.

A valid edit of the config file replaces the tree (waking the watchers of what changed) and
the token service's accounts; an invalid edit keeps everything as it was and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from .config import ConfigError, Settings
from .credentials.select import resolve, token_service
from .defaults import build_tree
from .files import signature
from .hosts import HostGuard
from .server import MetadataServer
from .store import Store

log = logging.getLogger("gce_metadata_emulator")
WATCH_INTERVAL = 0.25


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
                                      HostGuard(self.settings.emulator.allowed_hosts))
        self._watch_task: asyncio.Task | None = None

    def web_server(self, access_log: logging.Logger | None = None) -> web.Server:
        """aiohttp's low-level server around the handler. A client that goes away cancels
        its request (a hanging wait_for_change costs nothing after that)."""
        return web.Server(self.handler, handler_cancellation=True, access_log=access_log)

    async def start(self) -> None:
        path = self.settings.path
        if path is not None and self.settings.emulator.watch_config:
            self._watch_task = asyncio.create_task(self._watch(path))

    async def close(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        await self.tokens.close()

    def reload(self) -> bool:
        """Re-read the config; the token mode stays what it was at start."""
        try:
            settings, _ = resolve(self.loader(), self.environ)
        except ConfigError as exc:
            log.error("config change ignored, still serving the previous config: %s", exc)
            return False
        self.settings = settings
        self.store.replace_base(build_tree(settings))
        self.tokens.update(settings)
        self.handler.hosts.allow(settings.emulator.allowed_hosts)
        log.info("config reloaded from %s", settings.source)
        return True

    async def _watch(self, path: Path) -> None:
        """Checks the file's identity a few times a second: cheap, and it catches editors
        that write in place and those that rename a new file over the old one."""
        seen = signature(path)
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            now = signature(path)
            if now is not None and now != seen:
                seen = now
                self.reload()
