"""The Host header check, after aws-vault's metadata server: a browser page that rebinds its
own name to this machine's address must not reach the tokens. IP addresses and the names a
metadata server is known by pass; others only when configured."""

from __future__ import annotations

import ipaddress


class HostGuard:
    """Refuses DNS rebinding: a browser page under another name must not reach the tokens.
    Decisions are remembered per Host value (few distinct values reach a metadata server)."""

    KNOWN = frozenset({"localhost", "metadata.google.internal", "metadata"})
    MEMORY = 1024

    def __init__(self, allowed: tuple[str, ...] = ()) -> None:
        self.allow(allowed)

    def allow(self, allowed: tuple[str, ...]) -> None:
        self.allowed = frozenset(h.lower().rstrip(".") for h in allowed)
        self._seen: dict[str | None, bool] = {}

    def __call__(self, host: str | None) -> bool:
        verdict = self._seen.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._seen) < self.MEMORY:
                self._seen[host] = verdict
        return verdict

    def _judge(self, host: str | None) -> bool:
        if not host or "*" in self.allowed:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").rstrip(".").lower()
        if name in self.KNOWN or name in self.allowed:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
