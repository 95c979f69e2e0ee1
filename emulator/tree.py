"""The metadata tree and every wire view of it: listing, recursive JSON, alt=text, ETag.

A tree is plain Python data, built once and never mutated: a change builds a new tree and a
new `Snapshot`. That is what lets a snapshot memoise every rendering it has produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TEXT = "application/text"
JSON = "application/json"


class Verbatim(dict):
    """A directory of user-chosen keys (attribute names, account emails): never camelCased."""


class Indexed(list):
    """A directory of numbered entries (`disks/`, `network-interfaces/`), listed as `0/`, `1/`."""


@dataclass(frozen=True)
class JsonLeaf:
    """A leaf whose plain value is served as JSON, as the real server does for `instance/tags`."""

    value: Any


@dataclass(frozen=True)
class Computed:
    """A leaf computed on each request (`token`, `identity` of an account); left out of
    recursive output, as on the real server."""

    kind: str
    account: str


def is_dir(node: Any) -> bool:
    return isinstance(node, dict | Indexed)


def children(node: dict | Indexed) -> Iterator[tuple[str, Any]]:
    """Entries in the order the real server lists them: names sorted, indexes counted."""
    if isinstance(node, dict):
        return iter(sorted(node.items()))
    return ((str(i), child) for i, child in enumerate(node))


def child(node: Any, name: str) -> Any:
    """The child called `name`, or None. Indexes are canonical decimals only (`01` is not `1`)."""
    if isinstance(node, dict):
        return node.get(name)
    if isinstance(node, Indexed) and name.isdigit() and str(int(name)) == name:
        index = int(name)
        return node[index] if index < len(node) else None
    return None


def camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_json(node: Any) -> Any:
    """The recursive=true value of a node: built-in keys camelCased, user keys as written."""
    if isinstance(node, dict):
        keep = isinstance(node, Verbatim)
        return {
            (key if keep else camel(key)): to_json(value)
            for key, value in sorted(node.items())
            if not isinstance(value, Computed)
        }
    if isinstance(node, list):
        return [to_json(item) for item in node]
    if isinstance(node, JsonLeaf):
        return node.value
    return node


def scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return ""
    return str(value)


def leaf_text(node: Any) -> tuple[str, str]:
    """The plain view of a leaf: (body, content type). Lists are one item a line."""
    if isinstance(node, JsonLeaf):
        return json.dumps(node.value, separators=(",", ":")), JSON
    if isinstance(node, list):
        return "".join(scalar_text(item) + "\n" for item in node), TEXT
    return scalar_text(node), TEXT


def listing(node: dict | Indexed) -> str:
    return "".join(name + ("/" if is_dir(value) else "") + "\n" for name, value in children(node))


def text_lines(node: Any, prefix: str = "") -> Iterator[str]:
    """alt=text of a recursive directory: one `path/with/dashes value` line a leaf value."""
    for name, value in children(node):
        if isinstance(value, Computed):
            continue
        path = prefix + name
        if is_dir(value):
            yield from text_lines(value, path + "/")
        elif isinstance(value, list | JsonLeaf):
            items = value.value if isinstance(value, JsonLeaf) else value
            for item in items if isinstance(items, list) else [items]:
                yield f"{path} {scalar_text(item)}"
        else:
            yield f"{path} {scalar_text(value)}"


def etag(body: bytes) -> str:
    """16 lowercase hex digits of the served bytes: what a client got changes exactly when
    they do (Google's own old emulator hashed the body too). Views sort names, so a body is
    canonical."""
    return hashlib.blake2b(body, digest_size=8).hexdigest()


@dataclass(frozen=True)
class Rendered:
    """One answer of the tree: what the HTTP layer sends, before the common headers."""

    status: int
    body: bytes
    content_type: str
    etag: str | None = None
    location: str | None = None
    computed: Computed | None = None


def value(body: str, content_type: str) -> Rendered:
    """A 200 with its ETag."""
    raw = body.encode()
    return Rendered(200, raw, content_type, etag(raw))


class BadQuery(ValueError):
    """A request the tree can answer only with 400: the message says what to send instead."""


class Snapshot:
    """An immutable tree with a memo of its renderings; replaced whole on every change."""

    def __init__(self, root: dict) -> None:
        self.root = root
        self._memo: dict[tuple[str, bool, str | None], Rendered | None] = {}

    def render(self, path: str, recursive: bool, alt: str | None) -> Rendered | None:
        """The answer for a path under the root, or None when the path does not exist.

        Raises BadQuery for `alt` on a plain listing. Results are memoised: the tree never
        changes, and paths that miss are not remembered (so the memo stays bounded).
        """
        key = (path, recursive, alt)
        found = self._memo.get(key)
        if found is None:
            found = self._render(path, recursive, alt)
            if found is not None:
                self._memo[key] = found
        return found

    def node(self, path: str) -> Any:
        node: Any = self.root
        for name in path.strip("/").split("/") if path.strip("/") else []:
            node = child(node, name)
            if node is None:
                return None
        return node

    def _render(self, path: str, recursive: bool, alt: str | None) -> Rendered | None:
        node = self.node(path)
        if node is None:
            return None
        trailing = path.endswith("/")
        if is_dir(node):
            if not trailing and path not in ("", "/"):
                target = path + "/"
                return Rendered(301, target.encode(), TEXT, location=target)
            if not recursive:
                if alt is not None:
                    raise BadQuery(
                        f"alt={alt} needs recursive=true on a directory: "
                        f"ask for {path}?recursive=true&alt={alt}"
                    )
                return value(listing(node), TEXT)
            if alt == "text":
                return value("".join(line + "\n" for line in text_lines(node)), TEXT)
            return value(json.dumps(to_json(node), separators=(",", ":")), JSON)
        if trailing:
            return None
        if isinstance(node, Computed):
            return Rendered(200, b"", TEXT, computed=node)
        if alt == "json":
            return value(json.dumps(to_json(node), separators=(",", ":")), JSON)
        return value(*leaf_text(node))
