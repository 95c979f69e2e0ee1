"""The request log: the last N requests the metadata server answered, for a test to assert on
and for the inspector page to stream. Entries hold what a client asked and what it got, never
a token: query values that may carry a credential are replaced before anything is kept.

Adding an entry is cheap (a tuple into a deque); entries become JSON only when read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlencode

SECRET_KEYS = re.compile(r"token|key|secret|password|assertion|code|credential|signature",
                         re.I)
REDACTED = "REDACTED"
QUEUE_LIMIT = 1000  # events a slow reader may lag behind before it is dropped


def redacted_target(path: str, query: str) -> str:
    if not query:
        return path
    pairs = [(k, REDACTED if SECRET_KEYS.search(k) else v)
             for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs, safe='/:,')}"


class RequestLog:
    def __init__(self, size: int = 1000) -> None:
        self.entries: deque[tuple] = deque(maxlen=max(size, 1))
        self.enabled = size > 0
        self.ids = itertools.count(1)
        self.listeners: set[asyncio.Queue] = set()

    def resize(self, size: int) -> None:
        if self.entries.maxlen != max(size, 1):
            self.entries = deque(self.entries, maxlen=max(size, 1))
        self.enabled = size > 0

    def add(self, client: str | None, method: str, path: str, query: str, status: int,
            started: float, detail: tuple | None = None, why: str | None = None) -> None:
        """detail: (kind, account, scopes or audience, cached) of a token or identity answer;
        why: the check that refused a 403."""
        if not self.enabled:
            return
        entry = (next(self.ids), time.time(), client, method, path, query, status,
                 (time.perf_counter() - started) * 1000, detail, why)
        self.entries.append(entry)
        if self.listeners:
            for queue in list(self.listeners):
                try:
                    queue.put_nowait(entry)
                except asyncio.QueueFull:  # a reader that stopped reading: let it go
                    self.listeners.discard(queue)

    def clear(self) -> None:
        self.entries.clear()

    def recent(self, limit: int | None = None) -> list[dict]:
        entries = list(self.entries)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [as_json(e) for e in entries]

    @contextlib.contextmanager
    def subscribe(self):
        queue: asyncio.Queue = asyncio.Queue(QUEUE_LIMIT)
        self.listeners.add(queue)
        try:
            yield queue
        finally:
            self.listeners.discard(queue)


def as_json(entry: tuple) -> dict[str, Any]:
    number, wall, client, method, path, query, status, latency, detail, why = entry
    out: dict[str, Any] = {
        "id": number,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall))
        + f".{int(wall % 1 * 1000):03d}Z",
        "client": client, "method": method, "path": redacted_target(path, query),
        "status": status, "latency_ms": round(latency, 3),
    }
    if detail is not None:
        kind, account, asked, cached = detail
        out[kind] = {"account": account, "cached": cached,
                     ("audience" if kind == "identity" else "scopes"):
                     asked if isinstance(asked, str) else list(asked or ())}
    if why:
        out["refused"] = why
    return out
