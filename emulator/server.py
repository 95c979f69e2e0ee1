"""The HTTP server: one handler that serves views of the tree.

Request checks (Host, X-Forwarded-For, Metadata-Flavor, method, query values) come first; then
the tree answers. Only `token` and `identity` leaves go elsewhere: to the token service.
It runs on aiohttp's low-level server: the tree walk is the routing, so an aiohttp router and
application would only add work to every request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from aiohttp import web

from . import admin, bodies, inspector, tokens_http
from .control import Control
from .credentials.service import TokenService
from .hosts import HostGuard
from .profiles import GCE, GKE_FORBIDDEN, PROFILES, Profile
from .requestlog import RequestLog
from .responses import (
    COMMON_HEADERS,
    FLAVOR_MISSING,
    forbidden,
    method_not_allowed,
    not_found,
    reply,
    text,
)
from .store import DELETE, PathError, Store
from .tree import JSON, TEXT, BadQuery, Rendered

log = logging.getLogger("gce_metadata_emulator")

V1 = "/computeMetadata/v1"
HEALTH = "/emulator/health"
INSPECTOR = "/emulator/"
GUEST = V1 + "/instance/guest-attributes/"
GUEST_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
GUEST_VALUE_LIMIT = 100 * 1024  # bytes of one value
GUEST_KEYS_LIMIT = 1000  # keys in all namespaces
GUEST_BYTES_LIMIT = 10 * 1024 * 1024  # bytes of all values
TIMEOUT_LIMIT = 3600  # seconds a wait_for_change may ask for
TIMEOUT = re.compile(r"^[0-9]{1,10}$")
BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class Query:
    recursive: bool
    alt: str | None
    wait: bool
    last_etag: str | None
    timeout: int | None


def parse_query(query) -> Query:
    """The parameters the server acts on; unknown ones are ignored as on the real server."""
    if not query:
        return PLAIN
    alt = query.get("alt")
    if alt is not None and alt not in ("json", "text"):
        raise BadQuery(f"invalid value for alt: {alt!r}; use alt=json or alt=text")
    timeout = query.get("timeout_sec")
    if timeout is not None:
        if not TIMEOUT.match(timeout) or int(timeout) > TIMEOUT_LIMIT:
            raise BadQuery(f"invalid value for timeout_sec: {timeout[:40]!r}; use a whole "
                           f"number of seconds up to {TIMEOUT_LIMIT}, e.g. timeout_sec=60")
        timeout = int(timeout)
    return Query(flag(query, "recursive"), alt, flag(query, "wait_for_change"),
                 query.get("last_etag"), timeout)


PLAIN = Query(False, None, False, None, None)


def flag(query, name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    try:
        return BOOLEANS[value.lower()]
    except KeyError:
        raise BadQuery(f"invalid value for {name}: {value!r}; use {name}=true or "
                       f"{name}=false") from None


def respond(rendered: Rendered, query_string: str = "",
            base: dict[str, str] = COMMON_HEADERS) -> web.Response:
    if rendered.location is not None:
        location = rendered.location + ("?" + query_string if query_string else "")
        return reply(301, location.encode(), rendered.content_type, base, Location=location)
    if rendered.etag:
        return reply(rendered.status, rendered.body, rendered.content_type, base,
                     ETag=rendered.etag)
    return reply(rendered.status, rendered.body, rendered.content_type, base)


class MetadataServer:
    """The request handler, holding what every request needs."""

    def __init__(self, store: Store, tokens: TokenService, hosts: HostGuard,
                 admin_reach: str = "loopback", profile: str = "gce",
                 log_size: int = 1000) -> None:
        self.store = store
        self.tokens = tokens
        self.hosts = hosts
        self.admin_reach = admin_reach  # emulator.admin: who may use the control API
        self.control = Control(store)
        self.log = RequestLog(log_size)
        self.use_profile(profile)

    def use_profile(self, name: str) -> None:
        """Answers with the profile's header set; 2xx answers are built with it, others are
        reworded after (as_profile)."""
        self.profile: Profile = PROFILES[name]
        self.base = {**COMMON_HEADERS, "Server": self.profile.server}

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """Every request; an unexpected failure is a 500 that says it is a bug, never a bare
        one."""
        started = time.perf_counter()
        try:
            response = await self.serve(request)
            if self.profile is not GCE and response.status >= 300:
                response = as_profile(self.profile, response)
            if self.log.enabled and not request.path.startswith("/emulator/"):
                self.log.add(request.remote, request.method, request.path,
                             request.query_string, response.status, started,
                             getattr(response, "detail", None), getattr(response, "why", None))
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.exception("unexpected error serving %s", request.path)
            return text(500, f"The emulator failed on this request ({type(exc).__name__}); "
                        "this is a bug in gce-metadata-emulator, please report it with the log.")

    async def serve(self, request: web.BaseRequest) -> web.StreamResponse:
        if not self.hosts(request.host):
            return forbidden(request, f"Host {request.host!r} is not a name of this emulator "
                             "(refused against DNS rebinding); add it to "
                             "emulator.allowed-hosts.")
        path = request.path
        if path.startswith("/emulator/"):
            return await self.emulator_route(request)
        headers = request.headers
        if self.profile.flavor_on_root and headers.get("Metadata-Flavor") != "Google":
            return forbidden(request, FLAVOR_MISSING)
        if "X-Forwarded-For" in headers:
            return forbidden(request, "Request had a X-Forwarded-For header and was refused: "
                             "the metadata server does not serve proxied requests.")
        if path.startswith(V1) and headers.get("Metadata-Flavor") != "Google" and (
                len(path) == len(V1) or path[len(V1)] == "/"):
            return forbidden(request, FLAVOR_MISSING)
        if self.control.active:
            fault = self.control.take("tree")
            if fault is not None:
                response = await injected(fault)
                if response is not None:
                    return response
        try:
            if request.method in ("PUT", "DELETE") and path.startswith(GUEST):
                if not self.profile.guest_attributes:
                    return not_found(request)
                return await self.guest_attribute(request)
            query = parse_query(request.query if request.query_string else None)
            rendered = self.store.snapshot.render(path, query.recursive, query.alt)
            if rendered is None:
                return not_found(request)
            computed = rendered.computed
            if computed is not None:
                if self.control.active:
                    fault = self.control.take(computed.kind, computed.account)
                    if fault is not None:
                        response = await injected(fault)
                        if response is not None:
                            return response
                if computed.kind == "token" and query is PLAIN and request.method == "GET":
                    body = self.tokens.cached_access_body(computed.account)
                    if body is not None:  # the hot path: answered without an await
                        response = reply(200, body, JSON, self.base)
                        response.detail = self.tokens.cached_details.get(computed.account)
                        return response
                return await tokens_http.respond(request, self.tokens, computed,
                                                 self.profile.identity_type, self.base)
            if request.method not in ("GET", "HEAD"):
                return method_not_allowed()
            if query.wait and rendered.location is None:
                if path.endswith("/") and not query.recursive:
                    raise BadQuery("wait_for_change on a directory needs recursive=true")
                rendered = await wait_for_change(self.store, path, query, rendered)
                if rendered is None:
                    return not_found(request)
            return respond(rendered, request.query_string, self.base)
        except BadQuery as exc:
            return text(400, str(exc))

    async def guest_attribute(self, request: web.BaseRequest) -> web.Response:
        """The part of the tree the VM writes: PUT (or DELETE) guest-attributes/NAMESPACE/KEY
        with the value as the body, as guest agents do. Bounded in keys and bytes; a write
        costs its path, whatever the number of keys."""
        names = request.path[len(GUEST):].split("/")
        if len(names) != 2 or not all(GUEST_NAME.match(name) for name in names):
            raise BadQuery("guest attributes are written at guest-attributes/NAMESPACE/KEY; "
                           "names are letters, digits, - and _ (at most 128)")
        key = "instance/guest-attributes/" + "/".join(names)
        try:
            if request.method == "DELETE":
                self.store.set(key, DELETE)
                return reply(200, b"", TEXT)
            body = await bodies.read(request, GUEST_VALUE_LIMIT, "a guest attribute value")
            value = bodies.text_of(body, "a guest attribute value")
            keys, size = self.store.totals("instance/guest-attributes")
            old_keys, old_size = self.store.totals(key)
            if keys - old_keys + 1 > GUEST_KEYS_LIMIT:
                return text(400, f"at most {GUEST_KEYS_LIMIT} guest attributes in all; delete "
                            "some first (DELETE .../guest-attributes/NAMESPACE/KEY)")
            if size - old_size + len(body) > GUEST_BYTES_LIMIT:
                return text(413, f"guest attribute values total at most {GUEST_BYTES_LIMIT:,} "
                            "bytes; delete some first")
            self.store.set(key, value)
        except bodies.BodyError as exc:
            return exc.response()
        except PathError as exc:
            return text(400, str(exc))
        return reply(200, b"", TEXT)

    async def emulator_route(self, request: web.BaseRequest) -> web.StreamResponse:
        """Paths of the emulator itself: health, the token verification documents, admin."""
        path = request.path
        if path == HEALTH:
            return text(200, "ok")
        public = tokens_http.PUBLIC_ROUTES.get(path)
        if public is not None:
            return await public(request, self.tokens)
        if path.startswith(admin.PREFIX):
            refused = admin.reachable(request, self.admin_reach)
            if refused is not None:
                return forbidden(request, refused)
            return await admin.handle(request, self)
        if path == INSPECTOR:
            refused = admin.reachable(request, self.admin_reach)
            if refused is not None:
                return forbidden(request, refused)
            return inspector.page()
        return not_found(request)


PLAIN_TEXT = "text/plain; charset=utf-8"


async def injected(fault) -> web.Response | None:
    """A fault's answer after its latency; None when it only adds latency."""
    if fault.latency:
        await asyncio.sleep(fault.latency)
    if fault.status is None:
        return None
    return text(fault.status, f"Fault {fault.id} injected by the emulator: {fault.kind} answers "
                f"{fault.status} (see /emulator/v1/faults; clear with DELETE there).")


def as_profile(profile: Profile, response: web.StreamResponse) -> web.StreamResponse:
    """A response other than a 2xx as another platform's server words it: its Server header;
    GKE's (a Go server) refusals and 404s as one line of plain text; Cloud Run's 403 without
    Metadata-Flavor."""
    status = response.status
    if profile.plain_errors and status in (403, 404) and \
            response.content_type == "text/html":
        why = getattr(response, "why", "")
        message = GKE_FORBIDDEN if why == FLAVOR_MISSING else (
            f"GKE Metadata Server encountered an error: {why}" if status == 403 else "Not Found")
        return web.Response(status=status, body=(message + "\n").encode(), headers={
            "Content-Type": PLAIN_TEXT, "X-Content-Type-Options": "nosniff",
            "Server": profile.server})
    response.headers["Server"] = profile.server
    if status == 403 and not profile.forbidden_has_flavor:
        response.headers.popall("Metadata-Flavor", None)
    return response


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
