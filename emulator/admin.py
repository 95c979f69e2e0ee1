"""The control API: change served values while running (a maintenance event, an attribute a
test flips), list and drop those changes. Values set here survive config reloads."""

from __future__ import annotations

import json

from aiohttp import web

from .store import DELETE, STORE, PathError, Store
from .tree import JSON, TEXT, etag

PREFIX = "/emulator/v1/"
METADATA = PREFIX + "metadata/"
OVERRIDES = PREFIX + "overrides"


async def handle(request: web.Request) -> web.Response:
    store: Store = request.app[STORE]
    path, method = request.path, request.method
    if path == OVERRIDES:
        if method == "GET":
            return answer(200, {"overrides": {k: ("<deleted>" if v is DELETE else v)
                                              for k, v in store.overrides.items()}})
        if method == "DELETE":
            store.reset()
            return answer(200, {"overrides": {}})
        return refuse(405, "use GET or DELETE on " + OVERRIDES, Allow="GET, DELETE")
    if not path.startswith(METADATA):
        return refuse(404, f"no admin endpoint {path}; see README.md, section Admin API")
    key = path[len(METADATA):]
    if method == "PUT":
        raw = await request.read()
        try:
            value = json.loads(raw) if request.content_type == JSON else raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            return refuse(400, f"the body is not valid {request.content_type}: {exc}")
        if isinstance(value, bool) or value is None:
            value = {True: "TRUE", False: "FALSE", None: ""}[value]
    elif method == "DELETE":
        value = DELETE
    else:
        return refuse(405, "use PUT (set a value) or DELETE (remove it)", Allow="PUT, DELETE")
    try:
        store.set(key, value)
    except PathError as exc:
        return refuse(400, str(exc))
    node = store.snapshot.node("/computeMetadata/v1/" + key.strip("/"))
    return answer(200, {"path": key.strip("/"), "deleted": node is None,
                        "etag": None if node is None else etag(node)})


def answer(status: int, doc: dict) -> web.Response:
    return web.Response(status=status, body=json.dumps(doc).encode(),
                        headers={"Content-Type": JSON})


def refuse(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, body=(message + "\n").encode(),
                        headers={"Content-Type": TEXT, **headers})
