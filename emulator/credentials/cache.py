"""Token cache: one upstream call per need.

A token is served until `margin` seconds before it expires. Concurrent requests for the same
key share one fetch. A request in the last minute before that point starts a refresh in the
background and is answered from the cache. If a refresh fails while the cached token is still
valid, the cached token keeps being served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("gce_metadata_emulator.tokens")
REFRESH_AHEAD = 60.0


@dataclass(frozen=True)
class Token:
    value: Any
    expiry: float  # epoch seconds


class TokenCache:
    def __init__(self, margin: float, clock: Callable[[], float] = time.time) -> None:
        self.margin = margin
        self.clock = clock
        self._tokens: dict[Hashable, Token] = {}
        self._inflight: dict[Hashable, asyncio.Task[Token]] = {}
        self.fetches = 0  # upstream calls started, for the stats endpoint and the benchmark

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Token]]) -> Token:
        now = self.clock()
        cached = self._tokens.get(key)
        if cached is not None and now < cached.expiry - self.margin:
            if now >= cached.expiry - self.margin - REFRESH_AHEAD:
                self._start(key, fetch).add_done_callback(_consume)
            return cached
        try:
            return await asyncio.shield(self._start(key, fetch))
        except Exception:
            if cached is not None and self.clock() < cached.expiry:
                log.warning("token refresh failed; serving the cached token until it expires")
                return cached
            raise

    def __len__(self) -> int:
        return len(self._tokens)

    def _start(self, key: Hashable, fetch: Callable[[], Awaitable[Token]]) -> asyncio.Task:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, fetch))
            self._inflight[key] = task
        return task

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Token]]) -> Token:
        self.fetches += 1
        try:
            token = await fetch()
            self._tokens[key] = token
            return token
        finally:
            self._inflight.pop(key, None)


def _consume(task: asyncio.Task) -> None:
    """A background refresh's failure is logged by the next request that needs it, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("background token refresh failed: %s", task.exception())
