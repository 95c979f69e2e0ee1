"""The one error type of the credentials layer, carrying the status a metadata client acts on:
403 fails fast (permissions, re-login), 503 is retried (passing upstream faults)."""

from __future__ import annotations


class TokenError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def permission(message: str) -> TokenError:
    return TokenError(403, message)


def unavailable(message: str) -> TokenError:
    return TokenError(503, message)
