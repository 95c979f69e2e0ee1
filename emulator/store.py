"""The current tree and its change signal.

The tree served is the config's tree with the admin API's overrides laid over it, so a config
reload keeps what a test set through the admin API. Every replacement wakes every watcher at
once (one shared future, no polling); each watcher then compares its own path's ETag.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .defaults import freeze
from .tree import Indexed, JsonLeaf, Snapshot, Verbatim, child, is_dir

DELETE = object()


class PathError(ValueError):
    """An admin path that cannot be set or deleted; the message says why."""


class Store:
    def __init__(self, base: dict) -> None:
        self._base = base
        self._overrides: dict[str, Any] = {}
        self.snapshot = Snapshot(base)
        self._changed: asyncio.Future[None] | None = None
        self.watchers = 0  # wait_for_change requests now hanging

    def replace_base(self, base: dict) -> None:
        """A new config tree: overrides are laid over it again."""
        self._base = base
        self._publish()

    def set(self, path: str, value: Any) -> None:
        """Set (or with DELETE remove) the node at a path like `instance/attributes/role`."""
        path = normalise(path)
        overrides = {**self._overrides, path: value}
        apply_overrides(self._base, overrides)  # raises PathError before anything changes
        self._overrides = overrides
        self._publish()

    def reset(self) -> None:
        self._overrides = {}
        self._publish()

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self._overrides)

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

    def _publish(self) -> None:
        self.snapshot = Snapshot(apply_overrides(self._base, self._overrides))
        waiting, self._changed = self._changed, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)


def normalise(path: str) -> str:
    path = path.strip("/")
    for prefix in ("computeMetadata/v1/", "computeMetadata/v1"):
        path = path.removeprefix(prefix)
    if not path:
        raise PathError("name a key below computeMetadata/v1/, e.g. instance/attributes/role")
    if path.split("/")[0] not in ("instance", "project", "universe"):
        raise PathError(f"{path!r} is not below instance/, project/ or universe/")
    if "/service-accounts" in f"/{path}":
        raise PathError("service accounts come from the config file's service-accounts key; "
                        "edit the file (it is reloaded while serving)")
    return path


def apply_overrides(base: dict, overrides: dict[str, Any]) -> dict:
    root = base
    for path, value in overrides.items():
        root = with_value(root, ["computeMetadata", "v1", *path.split("/")], value)
    return root


def with_value(node: Any, names: list[str], value: Any) -> Any:
    """A copy of `node` with the value at `names` replaced; untouched branches are shared."""
    name, rest = names[0], names[1:]
    if isinstance(node, Indexed):
        below = child(node, name)
        if below is None:
            raise PathError(f"{name!r}: no entry with that index")
        copy = Indexed(node)
        if rest:
            copy[int(name)] = with_value(below, rest, value)
        elif value is DELETE:
            raise PathError(f"{name!r}: entries of a numbered directory cannot be deleted")
        else:
            copy[int(name)] = freeze(value)
        return copy
    if not isinstance(node, dict):
        raise PathError(f"{name!r}: its parent is a value, not a directory")
    copy = type(node)(node)
    if rest:
        below = node.get(name)
        if below is None:
            if value is DELETE:
                return node
            below = Verbatim() if isinstance(node, Verbatim) else {}
        copy[name] = with_value(below, rest, value)
    elif value is DELETE:
        copy.pop(name, None)
    else:
        if is_dir(node.get(name)) and not isinstance(value, dict | list):
            raise PathError(f"{name!r} is a directory; set its keys one by one")
        if isinstance(node, Verbatim) and isinstance(value, dict | list):
            raise PathError(f"{name!r}: attribute values are text, not {type(value).__name__}s")
        if isinstance(node.get(name), JsonLeaf):  # e.g. tags: a new value is served as JSON too
            copy[name] = JsonLeaf(value)
        else:
            copy[name] = freeze(value, name)
    return type(node)(sorted(copy.items()))
