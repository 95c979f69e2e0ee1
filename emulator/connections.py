"""Connections: aiohttp's low-level server with the limits a server left running for hours
needs.

- An idle keep-alive connection closes after `idle_timeout` (aiohttp's keep-alive timer; a
  hanging `wait_for_change` is a request in progress, never idle).
- A request whose headers have not all arrived `header_timeout` after its first bytes is cut
  off: a slow or stalled client cannot hold a connection open byte by byte.
- A malformed request is the client's problem: a 400 with the real server's headers, and one
  warning line in the log, not a traceback.
- Running out of file descriptors refuses connections (the kernel queues them meanwhile) and
  says so once every few seconds; serving resumes as soon as descriptors free up.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from .responses import text

log = logging.getLogger("gce_metadata_emulator")
CLIENT_ERRORS = (HttpProcessingError, RequestPayloadError)


class Connection(RequestHandler):
    __slots__ = ("_header_handle", "_header_mark", "_header_timeout")

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_handle: asyncio.TimerHandle | None = None
        self._header_mark: tuple[int, float] = (0, 0.0)

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._cancel_header_timer()
        elif self._header_handle is None and not self._request_in_progress:
            self._header_mark = (self._request_count, self._next_keepalive_close_time)
            self._header_handle = self._loop.call_later(self._header_timeout,
                                                        self._header_timed_out)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_handle is not None:
            self._header_handle.cancel()
            self._header_handle = None

    def _header_timed_out(self) -> None:
        """Close only if nothing completed since the first bytes: no request was parsed, no
        response was sent (which re-arms the keep-alive timer), and none is being handled."""
        self._header_handle = None
        idle = self._waiter is not None and not self._waiter.done()
        if idle and not self._request_in_progress and self._header_mark == (
                self._request_count, self._next_keepalive_close_time):
            log.debug("closed a connection whose request headers did not arrive within %s s",
                      self._header_timeout)
            self.force_close()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse, with the real server's headers."""
        if status == 500 or not isinstance(exc, CLIENT_ERRORS):
            return super().handle_error(request, status, exc, message)
        log.warning("malformed HTTP request from %s answered with %s: %s", request.remote,
                    status, one_line(exc))
        response = text(status, f"Bad request: {one_line(exc)}")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, CLIENT_ERRORS):
            log.warning("request body not readable (%s); connection closed", one_line(exc))
            return
        super().log_exception(*args, **kwargs)


def one_line(exc: BaseException, limit: int = 200) -> str:
    said = " ".join(str(getattr(exc, "message", None) or exc).split())
    return said if len(said) <= limit else said[:limit] + "..."


class Server(web.Server):
    """web.Server whose connections are `Connection`s."""

    def __init__(self, handler: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return Connection(self, loop=self._loop, header_timeout=self._header_timeout,
                          **self._kwargs)


class DescriptorGuard:
    """A loop exception handler: an accept() that fails for want of file descriptors is one
    line every `every` seconds, not a traceback each time asyncio retries."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._last = 0.0
        self.refused = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                                       errno.ENOMEM):
            self.refused += 1
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
                log.warning("out of file descriptors (%s; limit %s): new connections wait "
                            "until some close. Raise the limit (ulimit -n) or close idle "
                            "clients", exc.strerror, soft)
            return
        loop.default_exception_handler(context)


def raise_descriptor_limit() -> int:
    """Raise the soft limit of open files to the hard limit, as Go's runtime does; the new soft
    limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (hard, 1 << 20, 10240):
        if wanted == resource.RLIM_INFINITY or wanted <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            return wanted
        except (ValueError, OSError):
            continue
    return soft
