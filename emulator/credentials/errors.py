"""The one error type of the credentials layer, carrying the status a metadata client acts on:
403 fails fast (permissions, re-login), 503 is retried (passing upstream faults)."""

from __future__ import annotations


class TokenError(Exception):
    """`message` is complete for a client (it includes the fix); `fix` is the command alone;
    `detail` is what happened, without the fix (doctor prints the fix on a row of its own)."""

    def __init__(self, status: int, message: str, fix: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fix = fix
        self.detail = detail or message


def permission(message: str, fix: str | None = None, detail: str | None = None) -> TokenError:
    return TokenError(403, message, fix, detail)


def sentence(text: str) -> str:
    """Text ending in one full stop, whatever upstream ended it with."""
    return text.rstrip(" .") + "."


def unavailable(message: str) -> TokenError:
    return TokenError(503, message)
