"""The aiohttp application: one catch-all route that serves views of the tree.

Request checks (X-Forwarded-For, Host, Metadata-Flavor, method, query values) come first; then
the tree answers. Only `token` and `identity` leaves go elsewhere: to the token service.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from . import admin, tokens_http
from .store import STORE, Store
from .tree import TEXT, BadQuery, Rendered

log = logging.getLogger("emulator")

COMMON_HEADERS = {
    "Metadata-Flavor": "Google",
    "Server": "Metadata Server for VM",
    "X-XSS-Protection": "0",
    "X-Frame-Options": "SAMEORIGIN",
}
HTML = "text/html; charset=UTF-8"
V1 = "/computeMetadata/v1"
KNOWN_HOSTS = frozenset({"localhost", "metadata.google.internal", "metadata"})
BOOLEANS = {"true": True, "false": False}

ALLOWED_HOSTS = web.AppKey("allowed_hosts", set)


@dataclass(frozen=True)
class Query:
    recursive: bool
    alt: str | None
    wait: bool
    last_etag: str | None
    timeout: int | None


def parse_query(query) -> Query:
    """The parameters the server acts on; unknown ones are ignored as on the real server."""
    alt = query.get("alt")
    if alt is not None and alt not in ("json", "text"):
        raise BadQuery(f"invalid value for alt: {alt!r}; use alt=json or alt=text")
    timeout = query.get("timeout_sec")
    if timeout is not None:
        if not timeout.isdigit():
            raise BadQuery(f"invalid value for timeout_sec: {timeout!r}; "
                           "use a whole number of seconds, e.g. timeout_sec=60")
        timeout = int(timeout)
    return Query(flag(query, "recursive"), alt, flag(query, "wait_for_change"),
                 query.get("last_etag"), timeout)


def flag(query, name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    try:
        return BOOLEANS[value.lower()]
    except KeyError:
        raise BadQuery(f"invalid value for {name}: {value!r}; use {name}=true or "
                       f"{name}=false") from None


def error_page(status: int, reason: str, message: str) -> web.Response:
    """The Google-style HTML error page the real server sends for 403 and 404."""
    body = (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        '  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">\n'
        f"  <title>Error {status} ({reason})!!1</title>\n"
        f"  <p><b>{status}.</b> <ins>That’s an error.</ins>\n"
        f"  <p>{message}  <ins>That’s all we know.</ins>\n"
    )
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": HTML})


def not_found(request: web.Request) -> web.Response:
    url = html.escape(request.path)
    return error_page(404, "Not Found", f"The requested URL <code>{url}</code> was not found "
                      "on this server.")


def forbidden(request: web.Request, why: str) -> web.Response:
    url = html.escape(request.path_qs)
    return error_page(403, "Forbidden", f"Your client does not have permission to get URL "
                      f"<code>{url}</code> from this server. {html.escape(why)}")


def text(status: int, message: str, **headers: str) -> web.Response:
    body = message if message.endswith("\n") else message + "\n"
    return web.Response(status=status, body=body.encode(),
                        headers={"Content-Type": TEXT, **headers})


def respond(rendered: Rendered, query_string: str = "") -> web.Response:
    headers = {"Content-Type": rendered.content_type}
    if rendered.etag:
        headers["ETag"] = rendered.etag
    if rendered.location is not None:
        location = rendered.location + ("?" + query_string if query_string else "")
        headers["Location"] = location
        return web.Response(status=301, body=location.encode(), headers=headers)
    return web.Response(status=rendered.status, body=rendered.body, headers=headers)


def host_allowed(host: str | None, allowed: set[str]) -> bool:
    """Refuse DNS rebinding: a browser page on another name must not reach the tokens."""
    if not host or "*" in allowed:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").rstrip(".").lower()
    if name in KNOWN_HOSTS or name in allowed:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def handle(request: web.Request) -> web.StreamResponse:
    if not host_allowed(request.host, request.app[ALLOWED_HOSTS]):
        return forbidden(request, f"Host {request.host!r} is not a name of this emulator "
                         "(refused against DNS rebinding); add it to emulator.allowed-hosts.")
    path = request.path
    if path.startswith("/emulator/"):
        return await emulator_route(request)
    if "X-Forwarded-For" in request.headers:
        return forbidden(request, "Request had a X-Forwarded-For header and was refused: "
                         "the metadata server does not serve proxied requests.")
    if (path == V1 or path.startswith(V1 + "/")) and \
            request.headers.get("Metadata-Flavor") != "Google":
        return forbidden(request, "Missing Metadata-Flavor:Google header.")
    try:
        query = parse_query(request.query)
        store = request.app[STORE]
        rendered = store.snapshot.render(path, query.recursive, query.alt)
        if rendered is None:
            return not_found(request)
        if rendered.computed is not None:
            return await tokens_http.respond(request, rendered.computed)
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed()
        if query.wait and rendered.location is None:
            if rendered.content_type == TEXT and path.endswith("/") and not query.recursive:
                raise BadQuery("wait_for_change on a directory needs recursive=true")
            rendered = await wait_for_change(store, path, query, rendered)
            if rendered is None:
                return not_found(request)
        return respond(rendered, request.query_string)
    except BadQuery as exc:
        return text(400, str(exc))


def method_not_allowed() -> web.Response:
    return text(405, "Method not allowed: the metadata server answers GET (and HEAD).",
                Allow="GET, HEAD")


async def wait_for_change(store: Store, path: str, query: Query,
                          rendered: Rendered) -> Rendered | None:
    """Hang until the value's ETag differs from `last_etag` (or from the current one), then
    answer with the new value. Only `timeout_sec` or the client ends the wait early."""
    last = query.last_etag if query.last_etag is not None else rendered.etag
    deadline = None if query.timeout is None else time.monotonic() + query.timeout
    while rendered is not None and rendered.etag == last:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if remaining == 0.0 or not await store.wait_changed(remaining):
            break
        rendered = store.snapshot.render(path, query.recursive, query.alt)
    return rendered


async def emulator_route(request: web.Request) -> web.StreamResponse:
    """Paths of the emulator itself: health, the token verification documents, admin API."""
    route = EMULATOR_ROUTES.get(request.path)
    if route is not None:
        return await route(request)
    if request.path.startswith(admin.PREFIX):
        return await admin.handle(request)
    return not_found(request)


async def health(request: web.Request) -> web.Response:
    return text(200, "ok")


EMULATOR_ROUTES: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    "/emulator/health": health,
    **tokens_http.PUBLIC_ROUTES,
}


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The real server's header set, on every response; replaces aiohttp's own `Server`."""
    response.headers.update(COMMON_HEADERS)


@web.middleware
async def never_bare_500(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:
        log.exception("unexpected error serving %s", request.path)
        return text(500, f"The emulator failed on this request ({type(exc).__name__}); this is "
                    "a bug in gce-metadata-emulator, please report it with the log.")


def make_app(store: Store, allowed_hosts: tuple[str, ...] = ()) -> web.Application:
    app = web.Application(middlewares=[never_bare_500])
    app[STORE] = store
    app[ALLOWED_HOSTS] = {h.lower() for h in allowed_hosts}
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_response_prepare.append(add_common_headers)
    return app
