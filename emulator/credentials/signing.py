"""The local signing key, made when first needed: generating an RSA key and importing
cryptography cost start-up time and memory that a client asking only for metadata or access
tokens never needs. Made once, in a thread, so the loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .local import LocalSigner

ACCESS_TOKEN_PREFIX = "ya29.LOCAL-EMULATOR-TOKEN."


def local_access_token(lifetime: int) -> tuple[str, float]:
    """An opaque access token, visibly local; Google APIs reject it. No key needed."""
    return ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(48), time.time() + lifetime


class Signing:
    def __init__(self, signer: LocalSigner | None = None) -> None:
        self._signer = signer
        self._making: asyncio.Future[LocalSigner] | None = None

    @property
    def made(self) -> bool:
        return self._signer is not None

    async def get(self) -> LocalSigner:
        if self._signer is not None:
            return self._signer
        if self._making is None:
            from .local import LocalSigner

            self._making = asyncio.ensure_future(asyncio.to_thread(LocalSigner))
        self._signer = await asyncio.shield(self._making)
        return self._signer
