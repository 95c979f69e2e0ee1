"""Request bodies (guest attributes, the admin API): read within a size and a time bound. A
body that is larger, slower or other than its headers say is the client's error, answered
413 or 400, never a 500."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from .connections import one_line
from .responses import text

READ_TIMEOUT = 30.0


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        """The refusal; the connection closes after it (the rest of the body is not read)."""
        response = text(self.status, self.message)
        response.force_close()
        return response


async def read(request: web.BaseRequest, limit: int, what: str) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, f"{what} is at most {limit:,} bytes; this one is "
                        f"{request.content_length:,}")
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            body = await request.content.read(limit + 1)
    except RequestPayloadError as exc:
        detail = one_line(exc.__cause__ or exc)
        raise BodyError(400, f"the request body cannot be read: {detail}; send it without a "
                        "Content-Encoding, or encoded as that header says") from None
    except TimeoutError:
        raise BodyError(408, f"the request body did not arrive within {READ_TIMEOUT:.0f} s") \
            from None
    if len(body) > limit:
        raise BodyError(413, f"{what} is at most {limit:,} bytes")
    return body


def text_of(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError(400, f"{what} must be UTF-8 text") from None
