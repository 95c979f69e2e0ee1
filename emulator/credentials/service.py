"""The token service: which account, which scopes, which cache key; the upstream mints.

Two upstreams share one interface: IAM impersonation with the developer's ADC, and the local
signer. The cache in front of either makes one upstream call per need.
"""

from __future__ import annotations

import time
from typing import Protocol

from ..config import ServiceAccount, Settings
from ..defaults import accounts_of, instance_identity
from .cache import Token, TokenCache
from .errors import TokenError
from .signing import Signing, local_access_token


class Upstream(Protocol):
    name: str

    async def access_token(self, account: ServiceAccount, scopes: tuple[str, ...],
                           lifetime: int) -> Token: ...

    async def id_token(self, account: ServiceAccount, audience: str, full: bool,
                       claims: dict) -> Token: ...


class LocalUpstream:
    """Tokens without any credentials, for CI and compose sidecars."""

    name = "local"

    def __init__(self, signing: Signing) -> None:
        self.signing = signing

    async def access_token(self, account: ServiceAccount, scopes: tuple[str, ...],
                           lifetime: int) -> Token:
        return Token(*local_access_token(lifetime))

    async def id_token(self, account: ServiceAccount, audience: str, full: bool,
                       claims: dict) -> Token:
        """Signed on the loop (0.5 ms): a signing thread would wait for the GIL from a busy
        loop for longer than the signature takes (measured with bench/bench_soak.py)."""
        signer = await self.signing.get()
        return Token(*signer.id_token(account.email, audience, claims))


class TokenService:
    def __init__(self, settings: Settings, upstream: Upstream, signing: Signing) -> None:
        self.upstream = upstream
        self.signing = signing  # the local key: local ID tokens, and the JWKS that verify them
        self.started = int(time.time())
        self.cache = TokenCache(settings.emulator.token_refresh_margin,
                                settings.emulator.token_cache_size)
        self.update(settings)

    @property
    def mode(self) -> str:
        return self.upstream.name

    @property
    def source(self) -> str:
        """Who minted a token, as error messages name it."""
        return "IAM" if self.mode == "impersonate" else "the local signer"

    async def close(self) -> None:
        close = getattr(self.upstream, "close", None)
        if close is not None:
            await close()

    def update(self, settings: Settings) -> None:
        """A reloaded config: new accounts and lifetimes; tokens already minted stay valid."""
        self.settings = settings
        self.accounts = {a.email: a for a in accounts_of(settings)}
        self.default_scopes = {a.email: scope_set(a.scopes) for a in self.accounts.values()}
        self.default_keys = {email: ("access", email, scopes)
                             for email, scopes in self.default_scopes.items()}
        # the request log's detail of a cached default token, built once per account
        self.cached_details = {email: ("token", email, scopes, True)
                               for email, scopes in self.default_scopes.items()}
        self.cache.margin = settings.emulator.token_refresh_margin
        self.cache.size = settings.emulator.token_cache_size

    def stats(self) -> dict:
        """Tokens minted by IAM are upstream calls; local ones are not."""
        local = self.mode == "local"
        return {"token_mode": self.mode, "upstream_calls": 0 if local else self.cache.fetches,
                "local_mints": self.cache.fetches if local else 0,
                "cached_tokens": len(self.cache)}

    def account(self, email: str) -> ServiceAccount:
        try:
            return self.accounts[email]
        except KeyError:
            raise TokenError(404, f"service account {email} is not configured") from None

    def cached_access_body(self, email: str) -> bytes | None:
        """The token endpoint's answer for the account's default scopes when the cache can
        give it at once: no await, no fetch, for the request every client makes most."""
        key = self.default_keys.get(email)
        if key is None:
            return None
        now = time.time()
        token = self.cache.peek(key, now)
        return None if token is None else token.access_body(now)

    def access_key(self, email: str, scopes: tuple[str, ...] | None) -> tuple:
        wanted = scope_set(scopes) if scopes else self.default_scopes[email]
        return self.default_keys[email] if wanted is self.default_scopes[email] else (
            "access", email, wanted)

    def is_cached(self, key: tuple) -> bool:
        """Whether the next answer for this key comes from the cache (the request log)."""
        return self.cache.peek(key, time.time()) is not None

    async def access_token(self, email: str, scopes: tuple[str, ...] | None) -> Token:
        account = self.account(email)
        key = self.access_key(email, scopes)
        lifetime = self.settings.emulator.token_lifetime
        return await self.cache.get(
            key, lambda: self.upstream.access_token(account, key[2], lifetime), self.source)

    async def id_token(self, email: str, audience: str, full: bool, licenses: bool) -> Token:
        account = self.account(email)
        claims = self.compute_engine_claims(account, licenses) if full else {}
        return await self.cache.get(
            ("identity", email, audience, full, licenses),
            lambda: self.upstream.id_token(account, audience, full, claims), self.source)

    def cache_state(self) -> list[dict]:
        """What is cached, for the inspector page: kind, account, scopes or audience, and the
        seconds left. Never a token."""
        now = time.time()
        out = []
        for key, token in self.cache.items():
            entry = {"kind": key[0], "account": key[1],
                     "expires_in": max(0, int(token.expiry - now))}
            entry["scopes" if key[0] == "access" else "audience"] = (
                list(key[2]) if key[0] == "access" else key[2])
            out.append(entry)
        return out

    def compute_engine_claims(self, account: ServiceAccount, licenses: bool) -> dict:
        """What format=full adds on a real VM; only local tokens can carry the last claim."""
        name, zone, iid = instance_identity(self.settings)
        engine = {"instance_creation_timestamp": self.started, "instance_id": str(iid),
                  "instance_name": name, "project_id": self.settings.project_id,
                  "project_number": self.settings.numeric_project_id, "zone": zone}
        if licenses:
            engine["license_id"] = ["2147286739765738111"]
        return {"email": account.email, "email_verified": True,
                "google": {"compute_engine": engine}}


def scope_set(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """Scopes as a cache key: order and repetition do not make another token."""
    return tuple(sorted(set(scopes)))
