"""The control API: change served values while running (a maintenance event, an attribute a
test flips), list and drop those changes. Values set here survive config reloads.

Values obey the config file's rule (values.py), within a size and a nesting bound; nothing
here can replace the computed `token` and `identity` leaves (store.py refuses it).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any, NoReturn

from aiohttp import web

from . import bodies, values
from .control import ControlError
from .requestlog import as_json
from .responses import document, reply, text
from .store import DELETE, PathError
from .tree import JSON, is_dir

PREFIX = "/emulator/v1/"
METADATA = PREFIX + "metadata/"
OVERRIDES = PREFIX + "overrides"
STATS = PREFIX + "stats"
BODY_LIMIT = 1024 * 1024


def reachable(request: web.BaseRequest, reach: str) -> str | None:
    """Why the control API refuses this client, or None. `loopback`, the default, keeps it
    from the network even when the server is bound to every address (a container, a VM)."""
    if reach == "off":
        return "the control API is switched off (emulator.admin: off)"
    if reach == "network" or is_loopback(request.remote):
        return None
    return (f"the control API answers clients on this machine only, not {request.remote} "
            "(emulator.admin: loopback); set emulator.admin: network to drive it from other "
            "hosts, e.g. from the other services of a compose file")


def is_loopback(remote: str | None) -> bool:
    if not remote:  # a unix socket
        return True
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class BadValue(Exception):
    pass


def refuse(key: str, message: str) -> NoReturn:
    raise BadValue(f"{key}: {message}" if key else message)


def reject_constant(name: str) -> NoReturn:
    raise BadValue(f"{name} is not a value that can be served; send a number or quote it")


def parse_value(raw: bytes, content_type: str, path: str) -> Any:
    """The body as a tree value: JSON when the request says so, else the text itself."""
    text_value = bodies.text_of(raw, "the value")
    if content_type != JSON:
        return text_value
    try:
        value = json.loads(text_value, parse_constant=reject_constant)
    except RecursionError:
        raise BadValue(f"nested more than {values.MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise BadValue(f"the body is not valid JSON: {exc}") from None
    values.bound(value, refuse)
    return values.tree_value(value, path, refuse)


async def handle(request: web.BaseRequest, server) -> web.StreamResponse:
    """The control API: `server` is the MetadataServer (its store, tokens, control, log)."""
    path, method = request.path, request.method
    route = ROUTES.get(path)
    try:
        if route is not None:
            allowed, endpoint = route
            if method not in allowed:
                return text(405, f"use {' or '.join(allowed)} on {path}",
                            Allow=", ".join(allowed))
            return await endpoint(request, server)
        for prefix, endpoint in PREFIXED:
            if path.startswith(prefix) and len(path) > len(prefix):
                return await endpoint(request, server, path[len(prefix):])
    except bodies.BodyError as exc:
        return exc.response()
    except (BadValue, PathError, ControlError) as exc:
        return text(400, str(exc))
    return text(404, f"no admin endpoint {path}; see README.md, section Control API")


async def json_body(request: web.BaseRequest) -> dict:
    raw = await bodies.read(request, BODY_LIMIT, "a control request")
    if not raw.strip():
        return {}
    try:
        body = json.loads(bodies.text_of(raw, "the body"), parse_constant=reject_constant)
    except RecursionError:
        raise BadValue(f"nested more than {values.MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise BadValue(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadValue("send a JSON object, e.g. {\"after\": \"5s\"}")
    return body


async def stats(request: web.BaseRequest, server) -> web.Response:
    return document({"watchers": server.store.watchers, **server.tokens.stats()})


async def overrides(request: web.BaseRequest, server) -> web.Response:
    if request.method == "DELETE":
        server.store.reset()
    return document({"overrides": {k: ("<deleted>" if v is DELETE else v)
                                   for k, v in server.store.overrides.items()}})


async def metadata(request: web.BaseRequest, server, key: str) -> web.Response:
    store = server.store
    if request.method == "GET":
        name = key.strip("/")
        if name not in store.overrides:
            return text(404, f"no override at {name}; GET {OVERRIDES} lists them")
        value = store.overrides[name]
        return document({"path": name, "deleted": value is DELETE,
                         "value": None if value is DELETE else value})
    if request.method == "PUT":
        raw = await bodies.read(request, BODY_LIMIT, "an admin value")
        value = parse_value(raw, request.content_type, key.strip("/"))
    elif request.method == "DELETE":
        value = DELETE
    else:
        return text(405, "use PUT (set a value), DELETE (remove it) or GET (the override)",
                    Allow="GET, PUT, DELETE")
    store.set(key, value)
    path = "/computeMetadata/v1/" + key.strip("/")
    node = store.snapshot.node(path)
    served = None if node is None else store.snapshot.render(
        path + "/" if is_dir(node) else path, is_dir(node), None)
    return document({"path": key.strip("/"), "deleted": node is None,
                     "etag": None if served is None else served.etag})


async def faults(request: web.BaseRequest, server) -> web.Response:
    control = server.control
    if request.method == "POST":
        fault = control.add_fault(await json_body(request))
        return document(fault.as_json(), status=201)
    if request.method == "DELETE":
        control.clear_faults()
    control.expire()
    return document({"faults": [f.as_json() for f in control.faults]})


async def fault(request: web.BaseRequest, server, ident: str) -> web.Response:
    if request.method != "DELETE":
        return text(405, "use DELETE to clear one fault", Allow="DELETE")
    if not ident.isdigit() or not server.control.clear_faults(int(ident)):
        return text(404, f"no fault {ident}; GET {FAULTS} lists them")
    return document({"cleared": int(ident)})


async def scenarios(request: web.BaseRequest, server) -> web.Response:
    if request.method == "DELETE":
        server.control.cancel()
    return document({"scheduled": [s.as_json() for s in server.control.scheduled.values()]})


async def scenario(request: web.BaseRequest, server, name: str) -> web.Response:
    if request.method != "POST":
        return text(405, "use POST to trigger a scenario", Allow="POST")
    item = server.control.schedule(name, await json_body(request))
    return document(item.as_json(), status=201)


async def requests(request: web.BaseRequest, server) -> web.Response:
    if request.method == "DELETE":
        server.log.clear()
        return document({"requests": []})
    limit = request.query.get("limit", "")
    if limit and not limit.isdigit():
        raise BadValue(f"limit: expected a whole number, got {limit[:20]!r}")
    return document({"requests": server.log.recent(int(limit) if limit else None)})


async def stream(request: web.BaseRequest, server) -> web.StreamResponse:
    """Server-Sent Events: one `data:` line of JSON per request as it is answered; a comment
    every 15 s keeps proxies from closing an idle stream."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(b": request log of gce-metadata-emulator\n\n")
    with server.log.subscribe() as queue:
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(b"data: " + json.dumps(as_json(entry)).encode() + b"\n\n")


async def tree(request: web.BaseRequest, server) -> web.Response:
    rendered = server.store.snapshot.render("/computeMetadata/v1/", True, "json")
    return reply(200, rendered.body, JSON)


async def accounts(request: web.BaseRequest, server) -> web.Response:
    tokens = server.tokens
    return document({"token_mode": tokens.mode, "profile": server.profile.name,
                     "accounts": list(tokens.accounts), "cached": tokens.cache_state()})


async def reset(request: web.BaseRequest, server) -> web.Response:
    """Everything a test changed: overrides, faults, scheduled scenarios, the request log."""
    server.store.reset()
    server.control.reset()
    server.log.clear()
    return document({"reset": True})


FAULTS = PREFIX + "faults"
ROUTES = {
    STATS: (("GET",), stats),
    OVERRIDES: (("GET", "DELETE"), overrides),
    FAULTS: (("GET", "POST", "DELETE"), faults),
    PREFIX + "scenarios": (("GET", "DELETE"), scenarios),
    PREFIX + "requests": (("GET", "DELETE"), requests),
    PREFIX + "requests/stream": (("GET",), stream),
    PREFIX + "tree": (("GET",), tree),
    PREFIX + "accounts": (("GET",), accounts),
    PREFIX + "reset": (("POST",), reset),
}
PREFIXED = ((METADATA, metadata), (FAULTS + "/", fault), (PREFIX + "scenarios/", scenario))
