"""The global request-body limit: one pure-ASGI middleware, refusing with 413 in the route's envelope.

Two limits (docs/security.md, "Transport: request bodies, headers and connections"):

- `Settings.request_max_bytes` (25 MiB) for a `multipart/form-data` body — uploads, the only bodies
  that carry files;
- `Settings.json_max_bytes` (1 MiB) for every other body, and for every `/graphql` request whatever its
  type. Not only `application/json`: FastAPI parses a body without a `Content-Type` as JSON, and
  `POST /v1/videos` parses any body that is not a form, so "not an upload" is what "may be parsed as
  JSON" comes to.

How a body is counted, cheapest first:

- no `Content-Length` and no `Transfer-Encoding` (a GET, a DELETE …): there is no body; the request
  goes through untouched — `receive` is not even wrapped;
- a `Content-Length` over the limit: refused at once, before a byte of the body is read;
- a `Content-Length` within the limit (every ordinary client, and the hot routes): also untouched. The
  HTTP server frames the body by that length — it never delivers more than it declares (a client that
  sends more has sent the start of its next request, which the parser reads as such), so there is
  nothing left to count (`tests/integration/test_body_limits.py` checks uvicorn keeps to that);
- `Transfer-Encoding: chunked` (no length declared): `receive` is wrapped and counts the bytes as they
  stream; the read that passes the limit raises `BodyTooLarge` instead of returning, so the app never
  holds more than the limit plus one read, and this middleware answers 413 if the app had not started
  its response.

Every refusal closes the connection (`Connection: close`), but not at once: a client that writes its
whole body before it reads (Python's `requests`, most simple clients) would otherwise see a reset
instead of the 413 — closing a socket with unread data sends a TCP RST, which discards the answer
waiting in the client's buffer (measured: 2 in 5 `requests.post` of 8 MiB lost it). So the 413 is sent
first, then the rest of the body is read and dropped — at most `request_max_bytes` more, for at most
`DRAIN_SECONDS` — and then the connection closes, cleanly when the whole body was read. Nothing read
is kept: memory stays flat whatever the client sends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response

from mediagate.api import errors as rest_errors
from mediagate.api.digen.errors import Failure, new_api_error, old_api_error
from mediagate.api.graphql.errors import extensions_for
from mediagate.api.openai import errors as openai_errors
from mediagate.errors import ErrorCode, PayloadTooLarge

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from mediagate.config import Settings

_MULTIPART = b"multipart/form-data"
_CLOSE = {"Connection": "close"}
#: how long a refused body is read (and dropped) after the 413, so the client sees the 413 (see above)
DRAIN_SECONDS = 5.0


class BodyTooLarge(BaseException):
    """Raised by the wrapped `receive` once a streamed body passes its limit.

    A `BaseException`, like `asyncio.CancelledError`, on purpose: the routes' catch-alls (`except
    Exception` in FastAPI's body reading, in the multipart upload routes, in the OpenAI and DigenAI
    route wrappers) would otherwise turn it into a 400 or a 500 in their envelope; this way it reaches
    `BodyLimit`, which answers 413 in the right one. `finally` blocks and context managers still run.
    """

    def __init__(self, limit: int, upload: bool) -> None:
        super().__init__(refusal_message(limit, upload))
        self.limit = limit
        self.upload = upload


class BodyLimit:
    """`app.add_middleware(BodyLimit, settings=settings)`: see the module's docstring."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.request_max_bytes = settings.request_max_bytes
        self.json_max_bytes = settings.json_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        content_type = b""
        for name, value in scope["headers"]:  # lower-cased names (ASGI)
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        if length is None and not chunked:  # no body at all: the GETs
            await self.app(scope, receive, send)
            return
        upload = content_type[:19].lower() == _MULTIPART and not _is_graphql(scope)
        limit = self.request_max_bytes if upload else self.json_max_bytes
        if not chunked and length is not None and length.isdigit():
            declared = int(length)
            if declared > limit:
                # a client waiting for `100 Continue` sends nothing more: no body to drain
                expects = any(n == b"expect" and v.lower() == b"100-continue" for n, v in scope["headers"])
                drain = 0 if expects else declared
                await self._refuse(scope, receive, send, limit, upload, drain)
                return
            await self.app(scope, receive, send)  # framed by the server: it delivers no more than that
            return
        await self._counted(scope, receive, send, limit, upload)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int, upload: bool) -> None:
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            if received > limit:  # the app read on after the refusal
                raise BodyTooLarge(limit, upload)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:  # the app answered before it read its body: nothing left to do but drop the line
                raise
            await self._refuse(scope, receive, send, exc.limit, exc.upload, self.request_max_bytes)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int, upload: bool, drain: int) -> None:
        """The 413, then up to `drain` bytes of the body read and dropped, then the connection closed."""
        response = refusal(scope, limit, upload)
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        budget = min(drain, self.request_max_bytes)
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                while budget > 0:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        break
                    budget -= len(message.get("body", b""))
        except TimeoutError:
            pass  # a slow sender: close on it
        await send({"type": "http.response.body", "body": b"", "more_body": False})  # the server closes now


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def refusal_message(limit: int, upload: bool) -> str:
    if upload:
        return f"Request body is larger than the {_size(limit)} limit"
    return (
        f"Request body is larger than the {_size(limit)} limit for a JSON body "
        "(files go in a multipart/form-data upload)"
    )


def _path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_graphql(scope: Scope) -> bool:
    path = _path(scope)
    return path == "/graphql" or path.startswith("/graphql/")


def refusal(scope: Scope, limit: int, upload: bool) -> Response:
    """The 413 in the envelope of the route the request was for (REST for any path of no dialect)."""
    message = refusal_message(limit, upload)
    path = _path(scope)
    if _is_graphql(scope):
        error = {"message": message, "extensions": extensions_for(PayloadTooLarge(message))}
        return JSONResponse({"data": None, "errors": [error]}, status_code=413, headers=_CLOSE)
    if path.startswith("/v1/"):
        status, kind, code = openai_errors.MAPPING[ErrorCode.PAYLOAD_TOO_LARGE]
        return openai_errors.envelope(message, status, type=kind, code=code, headers=_CLOSE)
    if path.startswith(("/b/v1/", "/v2/tools/", "/v6/video/")):
        failure = Failure(413, ErrorCode.PAYLOAD_TOO_LARGE, message, None, dict(_CLOSE))
        return new_api_error(failure) if path.startswith("/b/v1/") else old_api_error(failure)
    return rest_errors.envelope(ErrorCode.PAYLOAD_TOO_LARGE.value, message, 413, dict(_CLOSE))
