"""The inspector page, `GET /emulator/`: one self-contained HTML file (no CDN, no build step)
that shows the live request log, the tree, the accounts and their cached tokens, and has
buttons for the scenarios and faults. It reads the control API like any other client."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

from .responses import COMMON_HEADERS


@cache
def html() -> bytes:
    return (Path(__file__).with_name("inspector.html")).read_bytes()


def page() -> web.Response:
    return web.Response(body=html(), headers={
        **COMMON_HEADERS, "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        # the page is its own: no script or style from anywhere else
        "Content-Security-Policy": "default-src 'self'; img-src data:; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'"})
