"""Token cache: one upstream call per need, bounded in size whatever clients ask.

A token is served until `margin` seconds before it expires. Concurrent requests for the same
key share one fetch. A request in the last minute before that point starts a refresh in the
background and is answered from the cache. If a refresh fails while the cached token is still
valid, the cached token keeps being served.

At most `size` tokens are kept, least recently used first out, expired ones sooner: every new
audience or scope set a client invents costs one entry, not memory forever. What upstream
answers is checked before it is cached: a malformed token is a 503, never stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import unavailable

log = logging.getLogger("gce_metadata_emulator.tokens")
REFRESH_AHEAD = 60.0
MIN_VALIDITY = 60.0  # a token that expires sooner than this is not usable
MAX_TOKEN = 16 * 1024


@dataclass(frozen=True)
class Token:
    value: Any
    expiry: float  # epoch seconds
    _body: list = field(default_factory=lambda: [-1, b""], compare=False, repr=False)

    @cached_property
    def access_prefix(self) -> bytes:
        """`{"access_token":"...","expires_in":` encoded once: between two requests for an
        access token only the countdown changes."""
        return b'{"access_token":%s,"expires_in":' % json.dumps(self.value).encode()

    def access_body(self, now: float) -> bytes:
        """The token endpoint's JSON; the same bytes for every request within a second."""
        expires_in = max(0, int(self.expiry - now))
        memo = self._body
        if memo[0] != expires_in:
            memo[0], memo[1] = expires_in, b"%s%d%s" % (
                self.access_prefix, expires_in, b',"token_type":"Bearer"}')
        return memo[1]


def checked(token: Any, now: float, source: str) -> Token:
    """The token if it can be served; else a 503 that says what upstream sent (never the
    token itself)."""
    if not isinstance(token, Token):
        raise unavailable(f"{source} answered without a token; the client will retry")
    value, expiry = token.value, token.expiry
    if not isinstance(value, str) or not value or len(value) > MAX_TOKEN or \
            not value.isascii() or not value.isprintable() or " " in value:
        raise unavailable(f"{source} answered with a malformed token ({type(value).__name__}"
                          f"{'' if not isinstance(value, str) else f' of {len(value)} chars'}"
                          "); the client will retry")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool) or \
            not math.isfinite(expiry):
        raise unavailable(f"{source} answered with an expiry that is not a time; the client "
                          "will retry")
    if expiry < now + MIN_VALIDITY:
        raise unavailable(f"{source} answered with a token that expires at "
                          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expiry))}, "
                          f"{'in the past' if expiry <= now else 'within a minute'} (is this "
                          "machine's clock right?); the client will retry")
    return token


class TokenCache:
    def __init__(self, margin: float, size: int = 1000,
                 clock: Callable[[], float] = time.time) -> None:
        self.margin = margin
        self.size = size
        self.clock = clock
        self._tokens: OrderedDict[Hashable, Token] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Task[Token]] = {}
        self.fetches = 0  # upstream calls started, for the stats endpoint and the benchmark

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Token]],
                  source: str = "upstream") -> Token:
        now = self.clock()
        cached = self._tokens.get(key)
        if cached is not None and now < cached.expiry - self.margin:
            self._tokens.move_to_end(key)
            if now >= cached.expiry - self.margin - REFRESH_AHEAD:
                self._start(key, fetch, source).add_done_callback(_consume)
            return cached
        try:
            return await asyncio.shield(self._start(key, fetch, source))
        except Exception:
            if cached is not None and self.clock() < cached.expiry:
                log.warning("token refresh failed; serving the cached token until it expires")
                return cached
            raise

    def peek(self, key: Hashable, now: float) -> Token | None:
        """The cached token if it is served as it is (not due for a refresh), else None."""
        cached = self._tokens.get(key)
        if cached is not None and now < cached.expiry - self.margin - REFRESH_AHEAD:
            self._tokens.move_to_end(key)
            return cached
        return None

    def __len__(self) -> int:
        return len(self._tokens)

    def items(self) -> list[tuple[Hashable, Token]]:
        return list(self._tokens.items())

    def _start(self, key: Hashable, fetch: Callable[[], Awaitable[Token]],
               source: str) -> asyncio.Task:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key, fetch, source))
            self._inflight[key] = task
        return task

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Token]],
                     source: str) -> Token:
        self.fetches += 1
        try:
            token = checked(await fetch(), self.clock(), source)
            self._store(key, token)
            return token
        finally:
            self._inflight.pop(key, None)

    def _store(self, key: Hashable, token: Token) -> None:
        tokens = self._tokens
        tokens[key] = token
        tokens.move_to_end(key)
        while len(tokens) > self.size:
            tokens.popitem(last=False)
        now = self.clock()
        while tokens:
            oldest = next(iter(tokens))
            if tokens[oldest].expiry > now:
                break
            del tokens[oldest]


def _consume(task: asyncio.Task) -> None:
    """A background refresh's failure is logged by the next request that needs it, not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("background token refresh failed: %s", task.exception())
