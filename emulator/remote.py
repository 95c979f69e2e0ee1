"""A client of the control API of a running emulator: what the CLI verbs and the pytest
fixture's handle call, so a test drives an in-process emulator and a compose sidecar the same
way. Standard library only (no event loop, nothing to import at start)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from .verbs import default_url

V1 = "computeMetadata/v1/"


class RemoteError(Exception):
    """The control API refused a call, or nothing answers; the message says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def metadata_path(path: str) -> str:
    """A path below computeMetadata/v1/, however it was written."""
    path = path.strip().lstrip("/")
    return path[len(V1):] if path.startswith(V1) else path


class Remote:
    def __init__(self, url: str | None = None, timeout: float = 10) -> None:
        url = (url or default_url()).rstrip("/")
        self.url = url if "://" in url else f"http://{url}"
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, text: str | None = None) -> Any:
        """The JSON answer of the control API at /emulator/v1/PATH."""
        data, headers = None, {}
        if text is not None:
            data, headers = text.encode(), {"Content-Type": "text/plain"}
        elif body is not None:
            data, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.url}/emulator/v1/{path}", data=data,
                                         headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            message = exc.read().decode(errors="replace").strip()
            raise RemoteError(exc.code, f"{method} {path}: {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(0, f"no emulator answers at {self.url} ({reason}); start one, "
                              "or give its address with --url") from None

    # -- values

    def set(self, path: str, value: Any) -> dict:
        """Serve `value` at `path` (below computeMetadata/v1/): text as it is, anything else
        as JSON (a number, a list, a directory)."""
        key = metadata_path(path)
        if isinstance(value, str):
            return self.call("PUT", f"metadata/{key}", text=value)
        return self.call("PUT", f"metadata/{key}", body=value)

    def delete(self, path: str) -> dict:
        return self.call("DELETE", f"metadata/{metadata_path(path)}")

    def override(self, path: str) -> Any:
        return self.call("GET", f"metadata/{metadata_path(path)}")

    def overrides(self) -> dict:
        return self.call("GET", "overrides")["overrides"]

    # -- scenarios and faults

    def trigger(self, event: str, after: float | str = 0, at: str | None = None,
                duration: float | str | None = None, kind: str | None = None) -> dict:
        body: dict[str, Any] = {"at": at} if at is not None else {"after": after}
        if duration is not None:
            body["duration"] = duration
        if kind is not None:
            body["kind"] = kind
        return self.call("POST", f"scenarios/{event}", body=body)

    def fault(self, kind: str, status: int | None = 503, count: int | None = None,
              latency: float | str = 0, account: str | None = None,
              duration: float | str | None = None) -> dict:
        body: dict[str, Any] = {"kind": kind, "latency": latency}
        for name, value in (("status", status), ("count", count), ("account", account),
                            ("duration", duration)):
            if value is not None:
                body[name] = value
        return self.call("POST", "faults", body=body)

    def fail_next(self, kind: str, status: int | None = 503, count: int = 1,
                  latency: float | str = 0, account: str | None = None) -> dict:
        """The next `count` requests of `kind` (token or identity) answer `status` after
        `latency`. An outage of the whole tree is fault("tree", duration="30s")."""
        return self.fault(kind, status, count, latency, account)

    def faults(self) -> list[dict]:
        return self.call("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self.call("DELETE", "faults")

    # -- the request log

    def requests(self, limit: int | None = None) -> list[dict]:
        return self.call("GET", "requests" + (f"?limit={limit}" if limit is not None else ""))[
            "requests"]

    def follow(self) -> Iterator[dict]:
        """Requests as they are answered (the Server-Sent Events stream), until interrupted."""
        request = urllib.request.Request(f"{self.url}/emulator/v1/requests/stream")
        try:
            resp = urllib.request.urlopen(request, timeout=None)
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(0, f"no emulator answers at {self.url} "
                              f"({getattr(exc, 'reason', exc)})") from None
        with resp:
            for raw in resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    yield json.loads(line[6:])

    def reset(self) -> None:
        """Overrides, faults, scheduled scenarios and the request log, all gone."""
        self.call("POST", "reset", body={})
