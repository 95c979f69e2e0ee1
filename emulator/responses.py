"""Every response the emulator sends is built here, so each carries the real server's header
set (one `Metadata-Flavor`, its own `Server`) without a per-request hook."""

from __future__ import annotations

import html
import json

from aiohttp import web

from .tree import JSON, TEXT

COMMON_HEADERS = {
    "Metadata-Flavor": "Google",
    "Server": "Metadata Server for VM",
    "X-XSS-Protection": "0",
    "X-Frame-Options": "SAMEORIGIN",
}
HTML = "text/html; charset=UTF-8"


def reply(status: int, body: bytes, content_type: str, base: dict[str, str] = COMMON_HEADERS,
          **headers: str) -> web.Response:
    """base: the header set of the server being emulated (a profile's Server header)."""
    return web.Response(status=status, body=body,
                        headers={**base, "Content-Type": content_type, **headers})


def text(status: int, message: str, **headers: str) -> web.Response:
    """A plain-text message: what Python clients put into their exception, so it says what to
    do next."""
    return reply(status, (message.rstrip("\n") + "\n").encode(), TEXT, **headers)


def document(doc: dict, status: int = 200, **headers: str) -> web.Response:
    return reply(status, json.dumps(doc, indent=2).encode(), JSON, **headers)


def error_page(status: int, reason: str, message: str) -> web.Response:
    """The Google-style HTML error page the real server sends for 403 and 404."""
    body = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        f"  <title>Error {status} ({reason})!!1</title>\n"
        f"  <p><b>{status}.</b> <ins>That’s an error.</ins>\n"
        f"  <p>{message}  <ins>That’s all we know.</ins>\n"
    )
    return reply(status, body.encode(), HTML)


def not_found(request: web.Request) -> web.Response:
    return error_page(404, "Not Found", f"The requested URL <code>{html.escape(request.path)}"
                      "</code> was not found on this server.")


FLAVOR_MISSING = "Missing Metadata-Flavor:Google header."


def forbidden(request: web.Request, why: str) -> web.Response:
    page = error_page(403, "Forbidden", "Your client does not have permission to get URL "
                      f"<code>{html.escape(request.path_qs)}</code> from this server. "
                      f"{html.escape(why)}")
    page.why = why  # for profiles whose server words its refusals otherwise
    return page


def method_not_allowed(allow: str = "GET, HEAD") -> web.Response:
    return text(405, f"Method not allowed here: use {allow}.", Allow=allow)
