"""The current tree and its change signal.

The tree served is the config's tree with what was set at run time (the admin API, guest
attributes) laid over it, so a config reload keeps what a test set. A write copies only the
directories on its path and records itself in a tree of overrides, so it costs its path's
depth, not the number of earlier writes. Every replacement wakes every watcher at once (one
shared future, no polling); each watcher then compares its own path's ETag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from .defaults import freeze
from .tree import Computed, Indexed, JsonLeaf, Snapshot, Verbatim, child, children, is_dir

log = logging.getLogger("gce_metadata_emulator")
DELETE = object()
ROOTS = ("instance", "project", "universe")


class PathError(ValueError):
    """A path or value that cannot be set or deleted; the message says why."""


class Override:
    """One path of the overrides tree: the value set there (if any) and what was set below it
    later. `count` and `size` total the text values at and below it, for limits."""

    __slots__ = ("children", "count", "size", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.children: dict[str, Override] = {}
        self.count = 0
        self.size = 0


class Overrides:
    def __init__(self) -> None:
        self.root = Override()

    def put(self, names: list[str], value: Any) -> None:
        """Record a write; what was set below that path is superseded by it."""
        path = [self.root]
        for name in names:
            path.append(path[-1].children.setdefault(name, Override()))
        target = path[-1]
        count, size = measure(value)
        delta_count, delta_size = count - target.count, size - target.size
        target.value, target.children = value, {}
        for node in path:
            node.count += delta_count
            node.size += delta_size

    def totals(self, names: list[str]) -> tuple[int, int]:
        """(values, bytes) set at and below a path."""
        node = self.root
        for name in names:
            node = node.children.get(name)
            if node is None:
                return 0, 0
        return node.count, node.size

    def items(self) -> Iterator[tuple[list[str], Any]]:
        """Every write still in effect, parents before children (the order to apply them)."""
        stack: list[tuple[list[str], Override]] = [([], self.root)]
        while stack:
            names, node = stack.pop()
            if node.value is not None:
                yield names, node.value
            stack.extend(([*names, name], below) for name, below in
                         reversed(node.children.items()))


def measure(value: Any) -> tuple[int, int]:
    if value is DELETE or value is None:
        return 0, 0
    if isinstance(value, dict):
        totals = [measure(v) for v in value.values()]
        return sum(t[0] for t in totals), sum(t[1] for t in totals)
    if isinstance(value, list):
        return 1, sum(len(str(item).encode()) for item in value)
    return 1, len(str(value).encode())


class Store:
    def __init__(self, base: dict) -> None:
        self._base = base
        self._overrides = Overrides()
        self.snapshot = Snapshot(base)
        self._changed: asyncio.Future[None] | None = None
        self.watchers = 0  # wait_for_change requests now hanging

    def replace_base(self, base: dict) -> None:
        """A new config tree: what was set at run time is laid over it again; a write that no
        longer fits the new tree is dropped with a warning."""
        self._base = base
        root = base
        kept = Overrides()
        for names, value in self._overrides.items():
            try:
                root = with_value(root, ["computeMetadata", "v1", *names], value)
                kept.put(names, value)
            except PathError as exc:
                log.warning("dropped the run-time change of %s: it does not fit the reloaded "
                            "config (%s)", "/".join(names), exc)
        self._overrides = kept
        self._publish(root)

    def set(self, path: str, value: Any) -> None:
        """Set (or with DELETE remove) the node at a path like `instance/attributes/role`."""
        names = split(path)
        root = with_value(self.snapshot.root, ["computeMetadata", "v1", *names], value)
        self._overrides.put(names, value)
        self._publish(root)

    def totals(self, path: str) -> tuple[int, int]:
        """(values, bytes) written at run time at and below a path."""
        return self._overrides.totals(split(path))

    def reset(self) -> None:
        self._overrides = Overrides()
        self._publish(self._base)

    @property
    def overrides(self) -> dict[str, Any]:
        return {"/".join(names): value for names, value in self._overrides.items()}

    async def wait_changed(self, timeout: float | None) -> bool:
        """Wait for the next replacement of the tree; False when the timeout ran out first."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        self.watchers += 1
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), timeout)
        except TimeoutError:
            return False
        finally:
            self.watchers -= 1
        return True

    def _publish(self, root: dict) -> None:
        self.snapshot = Snapshot(root)
        waiting, self._changed = self._changed, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)


def split(path: str) -> list[str]:
    """The names of a path below computeMetadata/v1/, checked."""
    path = path.strip("/")
    for prefix in ("computeMetadata/v1/", "computeMetadata/v1"):
        path = path.removeprefix(prefix)
    if not path:
        raise PathError("name a key below computeMetadata/v1/, e.g. instance/attributes/role")
    names = path.split("/")
    if names[0] not in ROOTS:
        raise PathError(f"{path!r} is not below instance/, project/ or universe/")
    if any(name in ("", ".", "..") for name in names):
        raise PathError(f"{path!r} has an empty, '.' or '..' segment")
    if "service-accounts" in names:
        raise PathError("service accounts come from the config file's service-accounts key; "
                        "edit the file (it is reloaded while serving)")
    return names


def with_value(node: Any, names: list[str], value: Any) -> Any:
    """A copy of `node` with the value at `names` replaced; only the directories on the path
    are copied, untouched branches are shared."""
    name, rest = names[0], names[1:]
    if isinstance(node, Indexed):
        below = child(node, name)
        if below is None:
            raise PathError(f"{name!r}: no entry with that index")
        if not rest and value is DELETE:
            raise PathError(f"{name!r}: entries of a numbered directory cannot be deleted")
        copy = Indexed(node)
        copy[int(name)] = with_value(below, rest, value) if rest else fitted(below, value, name,
                                                                              node)
        return copy
    if not isinstance(node, dict):
        raise PathError(f"{name!r}: its parent is a value, not a directory")
    below = node.get(name)
    if rest:
        if below is None:
            if value is DELETE:
                return node
            below = Verbatim() if isinstance(node, Verbatim) else {}
        replaced = with_value(below, rest, value)
    elif value is DELETE:
        if below is None:
            return node
        guard(below, name)
        copy = type(node)(node)
        del copy[name]
        return copy
    else:
        replaced = fitted(below, value, name, node)
    copy = type(node)(node)
    copy[name] = replaced
    return copy


def fitted(existing: Any, value: Any, name: str, parent: Any) -> Any:
    """A new value in the shape of the node it replaces: a directory stays a directory of
    the same kind (user keys stay uncamelCased), a value stays a value, JSON stays JSON."""
    guard(existing, name)
    if isinstance(existing, Indexed):
        if not isinstance(value, list):
            raise PathError(f"{name!r} is a numbered directory; send a JSON list")
        return Indexed(freeze(item) for item in value)
    if isinstance(existing, dict):
        if not isinstance(value, dict):
            raise PathError(f"{name!r} is a directory; send a JSON object or set its keys one "
                            "by one")
        return freeze(Verbatim(value) if isinstance(existing, Verbatim) else value, name)
    if isinstance(existing, JsonLeaf):
        return JsonLeaf(value)
    if isinstance(value, dict) and existing is not None:
        raise PathError(f"{name!r} is a value, not a directory")
    if isinstance(parent, Verbatim) and isinstance(value, dict | list):
        raise PathError(f"{name!r}: attribute values are text, not {type(value).__name__}s")
    return freeze(value, name)


def guard(node: Any, name: str) -> None:
    """`token` and `identity` are computed: nothing may replace or remove them."""
    if holds_computed(node):
        raise PathError(f"{name!r} holds service accounts, whose token and identity are "
                        "computed; set the keys beside them one by one")


def holds_computed(node: Any) -> bool:
    if isinstance(node, Computed):
        return True
    return is_dir(node) and any(holds_computed(value) for _, value in children(node))
