"""The token cache on a fake clock: margin, refresh ahead, coalescing, serving while valid."""

from __future__ import annotations

import asyncio

import pytest

from gce_metadata_emulator.credentials.cache import REFRESH_AHEAD, Token, TokenCache
from gce_metadata_emulator.credentials.errors import TokenError


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def fetch(self, now: float) -> Token:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise TokenError(503, "upstream down")
        return Token(f"token-{self.calls}", now + 3600)


@pytest.fixture
def clock():
    return [1000.0]


@pytest.fixture
def cache(clock):
    return TokenCache(margin=300, clock=lambda: clock[0])


async def test_served_until_the_margin(cache, clock):
    upstream = Upstream()
    first = await cache.get("k", lambda: upstream.fetch(clock[0]))
    clock[0] += 3600 - 300 - REFRESH_AHEAD - 1
    assert await cache.get("k", lambda: upstream.fetch(clock[0])) == first
    assert upstream.calls == 1
    clock[0] += REFRESH_AHEAD + 2  # past expiry - margin: a new token
    second = await cache.get("k", lambda: upstream.fetch(clock[0]))
    assert second.value == "token-2" and upstream.calls == 2


async def test_refreshed_ahead_in_the_background(cache, clock):
    upstream = Upstream()
    first = await cache.get("k", lambda: upstream.fetch(clock[0]))
    clock[0] += 3600 - 300 - REFRESH_AHEAD + 1  # inside the last minute before the margin
    assert await cache.get("k", lambda: upstream.fetch(clock[0])) == first  # answered at once
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert upstream.calls == 2
    assert (await cache.get("k", lambda: upstream.fetch(clock[0]))).value == "token-2"


async def test_concurrent_requests_share_one_fetch(cache, clock):
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(cache.get("k", lambda: upstream.fetch(clock[0])))
               for _ in range(50)]
    await asyncio.sleep(0.01)
    upstream.gate.set()
    tokens = await asyncio.gather(*waiting)
    assert {t.value for t in tokens} == {"token-1"} and upstream.calls == 1
    other = await cache.get("other", lambda: upstream.fetch(clock[0]))
    assert other.value == "token-2"


async def test_a_failure_keeps_serving_a_valid_token(cache, clock):
    upstream = Upstream()
    first = await cache.get("k", lambda: upstream.fetch(clock[0]))
    upstream.fail = True
    clock[0] += 3600 - 100  # inside the margin, still valid
    assert await cache.get("k", lambda: upstream.fetch(clock[0])) == first
    clock[0] += 200  # expired
    with pytest.raises(TokenError):
        await cache.get("k", lambda: upstream.fetch(clock[0]))


async def test_a_cancelled_client_does_not_cancel_the_fetch(cache, clock):
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    impatient = asyncio.ensure_future(cache.get("k", lambda: upstream.fetch(clock[0])))
    await asyncio.sleep(0.01)
    impatient.cancel()
    patient = asyncio.ensure_future(cache.get("k", lambda: upstream.fetch(clock[0])))
    await asyncio.sleep(0.01)
    upstream.gate.set()
    assert (await patient).value == "token-1" and upstream.calls == 1
