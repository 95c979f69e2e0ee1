"""Redaction of credentials from text that came from elsewhere (an upstream error body, an
exception message) before it reaches a client's error message or the log. An upstream that
echoes the request must not leak the developer's refresh token or the caller's access token.
"""

from __future__ import annotations

import re

HIDDEN = "<redacted>"
PATTERNS = [
    # PEM private keys, whole or cut short
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|.*)",
                re.S), HIDDEN),
    # a named secret in JSON, a form or a query string: keep the name, hide the value
    (re.compile(r"""(?ix)
        (["']?(?:client_secret|refresh_token|access_token|accessToken|id_token|private_key|
               assertion|subject_token|password|rapt_token|signedJwt|signedBlob)["']?
        \s*(?:=|:|%3D)\s*["']?)
        [^"'&\s,;}]+"""), r"\1" + HIDDEN),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 " + HIDDEN),
    (re.compile(r"\bya29\.[0-9A-Za-z_\-.~+/]+=*"), "ya29." + HIDDEN),  # Google access tokens
    (re.compile(r"\b1//[0-9A-Za-z_\-]+"), "1//" + HIDDEN),  # Google refresh tokens
    (re.compile(r"\beyJ[0-9A-Za-z_\-]{8,}(?:\.[0-9A-Za-z_\-]*){0,2}"), HIDDEN),  # JWTs
    (re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]+"), HIDDEN),  # OAuth client secrets
]


def redact(text: str, limit: int | None = None) -> str:
    """`text` with credentials hidden, then cut to `limit` characters (cut after redacting, so
    a token cut in half is still recognised)."""
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text


TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)


def summary(body: str, limit: int = 300) -> str:
    """An upstream body as a message can quote it: an HTML page by its title, anything else
    redacted and cut short."""
    if "<html" in body[:500].lower() or "<!doctype" in body[:100].lower():
        title = TITLE.search(body)
        named = " ".join(title.group(1).split())[:100] if title else ""
        return f"an HTML page{f' titled {named!r}' if named else ''}"
    return redact(" ".join(body.split()), limit)
