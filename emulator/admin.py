"""The control API: change served values while running (a maintenance event, an attribute a
test flips), list and drop those changes. Values set here survive config reloads."""

from __future__ import annotations

import json

from aiohttp import web

from .credentials.service import TokenService
from .responses import document, text
from .store import DELETE, PathError, Store
from .tree import JSON, etag

PREFIX = "/emulator/v1/"
METADATA = PREFIX + "metadata/"
OVERRIDES = PREFIX + "overrides"
STATS = PREFIX + "stats"


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
    if method == "PUT":
        raw = await request.read()
        try:
            value = json.loads(raw) if request.content_type == JSON else raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            return text(400, f"the body is not valid {request.content_type}: {exc}")
        if isinstance(value, bool) or value is None:
            value = {True: "TRUE", False: "FALSE", None: ""}[value]
    elif method == "DELETE":
        value = DELETE
    else:
        return text(405, "use PUT (set a value) or DELETE (remove it)", Allow="PUT, DELETE")
    try:
        store.set(key, value)
    except PathError as exc:
        return text(400, str(exc))
    node = store.snapshot.node("/computeMetadata/v1/" + key.strip("/"))
    return document({"path": key.strip("/"), "deleted": node is None,
                        "etag": None if node is None else etag(node)})
