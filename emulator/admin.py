"""The control API: change served values while running (a maintenance event, an attribute a
test flips), list and drop those changes. Values set here survive config reloads.

Values obey the config file's rule (values.py), within a size and a nesting bound; nothing
here can replace the computed `token` and `identity` leaves (store.py refuses it).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, NoReturn

from aiohttp import web

from . import bodies, values
from .credentials.service import TokenService
from .responses import document, text
from .store import DELETE, PathError, Store
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


async def handle(request: web.BaseRequest, store: Store, tokens: TokenService) -> web.Response:
    path, method = request.path, request.method
    if path == STATS:
        return document({"watchers": store.watchers, **tokens.stats()})
    if path == OVERRIDES:
        if method == "GET":
            return document({"overrides": {k: ("<deleted>" if v is DELETE else v)
                                           for k, v in store.overrides.items()}})
        if method == "DELETE":
            store.reset()
            return document({"overrides": {}})
        return text(405, "use GET or DELETE on " + OVERRIDES, Allow="GET, DELETE")
    if not path.startswith(METADATA):
        return text(404, f"no admin endpoint {path}; see README.md, section Admin API")
    key = path[len(METADATA):]
    try:
        if method == "PUT":
            raw = await bodies.read(request, BODY_LIMIT, "an admin value")
            value = parse_value(raw, request.content_type, key.strip("/"))
        elif method == "DELETE":
            value = DELETE
        else:
            return text(405, "use PUT (set a value) or DELETE (remove it)", Allow="PUT, DELETE")
        store.set(key, value)
    except bodies.BodyError as exc:
        return exc.response()
    except (BadValue, PathError) as exc:
        return text(400, str(exc))
    path = "/computeMetadata/v1/" + key.strip("/")
    node = store.snapshot.node(path)
    served = None if node is None else store.snapshot.render(
        path + "/" if is_dir(node) else path, is_dir(node), None)
    return document({"path": key.strip("/"), "deleted": node is None,
                     "etag": None if served is None else served.etag})
