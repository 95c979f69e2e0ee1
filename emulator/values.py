"""What a person may put into the tree (a config file, an admin API body), and how it becomes
served text. One rule for both, so neither can hand a view something it cannot render.

Scalars become what the real server serves: booleans `TRUE`/`FALSE`, null the empty text,
floats and dates their text; whole numbers stay numbers (JSON numbers in recursive output)
within the 64-bit range the real server's ids use. Anything else is refused with its key path.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any, NoReturn

MAX_DEPTH = 32  # levels of nesting; the real tree has 6
MAX_VALUES = 100_000  # values, aliases expanded: a YAML alias bomb stops here
INT_LOW, INT_HIGH = -(2**63), 2**64 - 1

Fail = Callable[[str, str], NoReturn]


def join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def bound(doc: Any, fail: Fail) -> None:
    """Refuse a document too deep or too large before anything walks it recursively: a YAML
    alias bomb expands here, and the walk stops at MAX_VALUES instead of running for hours."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    seen = 0
    while stack:
        node, key, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            fail("", f"more than {MAX_VALUES:,} values once YAML aliases are expanded; "
                 "an alias bomb? write the values out")
        if depth > MAX_DEPTH:
            fail(key, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            stack.extend((value, join(key, str(name)), depth + 1) for name, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, f"{key}[{i}]", depth + 1) for i, value in enumerate(node))


def scalar(value: Any, key: str, fail: Fail) -> str | int:
    """One leaf value as the tree holds it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        if not INT_LOW <= value <= INT_HIGH:
            fail(key, "a whole number beyond 64 bits; quote it to serve it as text")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(key, f"{value!r} is not a number that can be served; quote it to serve it as "
                 "text")
        return repr(value)
    if isinstance(value, datetime.date):  # an explicit !!timestamp; plain dates stay text
        return value.isoformat()
    if isinstance(value, bytes):
        fail(key, "binary data (!!binary) cannot be served; give the text itself")
    if isinstance(value, set):
        fail(key, "a set (!!set) cannot be served; give a list")
    if isinstance(value, tuple):
        fail(key, "ordered pairs (!!omap, !!pairs) cannot be served; give a mapping")
    fail(key, f"a value of type {type(value).__name__} cannot be served; give text")


def name(value: Any, key: str, fail: Fail) -> str:
    """A directory entry's name: reachable as one path segment."""
    if not isinstance(value, str):
        fail(join(key, str(value)), "keys must be text; quote it")
    if not value or "/" in value or value in (".", ".."):
        fail(join(key, value), "a key must be a non-empty name without '/' (it is one segment "
             "of a URL path)")
    return value


def tree_value(value: Any, key: str, fail: Fail) -> Any:
    """A whole subtree: mappings are directories, lists of mappings numbered directories,
    lists of values leaf lists. `bound` must have accepted it first."""
    if isinstance(value, dict):
        return {name(k, key, fail): tree_value(v, join(key, k), fail) for k, v in value.items()}
    if isinstance(value, list):
        mappings = [isinstance(item, dict) for item in value]
        if any(mappings) and not all(mappings):
            fail(key, "a list holds either mappings (a numbered directory) or values, not both")
        if any(isinstance(item, list) for item in value):
            fail(key, "a list of lists cannot be served; use a list of mappings")
        return [tree_value(v, f"{key}[{i}]", fail) for i, v in enumerate(value)]
    return scalar(value, key, fail)
