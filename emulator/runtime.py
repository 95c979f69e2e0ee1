"""One running emulator: settings → tree → store → app, plus the config file watch.

A valid edit of the config file replaces the tree (waking the watchers of what changed) and
the token service's accounts; an invalid edit keeps everything as it was and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from .config import ConfigError, Settings
from .credentials.select import resolve, token_service
from .defaults import build_tree
from .server import HOSTS, make_app
from .store import Store
from .tokens_http import TOKENS

log = logging.getLogger("emulator")
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
        self.app = make_app(self.store, self.settings.emulator.allowed_hosts)
        self.app[TOKENS] = self.tokens
        self.app.cleanup_ctx.append(self._watch_config)
        self.app.on_cleanup.append(lambda app: self.tokens.close())

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
        self.app[HOSTS].allow(settings.emulator.allowed_hosts)
        log.info("config reloaded from %s", settings.source)
        return True

    async def _watch_config(self, app: web.Application) -> AsyncIterator[None]:
        path = self.settings.path
        task = None
        if path is not None and self.settings.emulator.watch_config:
            task = asyncio.create_task(self._watch(path))
        yield
        if task is not None:
            task.cancel()

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


def signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino
