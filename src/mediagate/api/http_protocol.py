"""uvicorn's httptools protocol, with bounds on how long and how large a request's headers may be.

uvicorn (0.55) bounds one thing about a connection: after a response, an idle keep-alive connection is
closed after `timeout_keep_alive`. Nothing bounds the rest, so any client can hold a connection (a file
descriptor, a protocol object, a parser) for as long as it likes:

- a connection that is opened and sends nothing (the keep-alive timer is armed only after a response);
- a request whose headers arrive one byte every few seconds ("slowloris": every byte cancels the
  keep-alive timer, and nothing else is armed until a response has been sent);
- headers that never end: httptools (llhttp) has no size limit, and uvicorn appends every header and
  URL byte to the request in memory (160 MB of headers on one connection: +160 MiB RSS).

`HeaderBoundProtocol` closes each of them:

- a new connection gets uvicorn's own keep-alive timer at once (idle connections are closed after
  `Settings.http_keepalive_seconds`, whether or not they have sent a request yet);
- from the first byte of a request, its headers must be complete within `header_timeout`
  (`Settings.http_header_timeout_seconds`), else `408 Request Timeout` and the connection is closed;
- and within `max_header_bytes` (`MAX_HEADER_BYTES`), else `431 Request Header Fields Too Large`.

Bodies are not timed here: a slow upload is the app's to wait for (its size is bounded by
`api/body_limit.py`); a deadline for a whole request belongs to a reverse proxy (docs/security.md).

Cost per request: a clock read and three attribute writes. There is no timer per request: one timer
per connection is armed when a header read starts and none is pending; when it fires it checks the
header read *now* in progress and re-arms for what is left of it, so a busy keep-alive connection arms
about one timer per `header_timeout`.

This leans on uvicorn's internals, fenced like the other fast paths (docs/architecture.md, "Fast paths
and their fences"): an upper bound on uvicorn in pyproject.toml, and the contract test
`tests/integration/test_http_timeouts.py`, which asserts the names used here exist on
`HttpToolsProtocol` and that the bounds hold on a real server.
"""

from __future__ import annotations

import asyncio
import http
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("mediagate.api.http")

#: the largest request line + headers accepted (h11, uvicorn's other parser, stops at 16 KiB; nginx at 32 KiB)
MAX_HEADER_BYTES = 64 * 1024

#: what this module uses of `HttpToolsProtocol` (checked by the contract test): methods it overrides or
#: calls, and attributes it reads or sets
RELIED_ON_METHODS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_message_complete",
    "timeout_keep_alive_handler",
)
RELIED_ON_ATTRIBUTES = ("loop", "transport", "cycle", "timeout_keep_alive", "timeout_keep_alive_task")


_base = HttpToolsProtocol  # called directly, not through super(): ~0.1 µs a call on the hot path


class HeaderBoundProtocol(HttpToolsProtocol):
    """Pass `header_bound_protocol(timeout)` as `uvicorn.Config(http=…)` (`api/serving.py` does)."""

    header_timeout: float = 10.0
    max_header_bytes: int = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_headers = True  #: the next bytes are a request line and headers
        self._header_started: float | None = None  #: loop time of the first byte of the headers being read
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's signature
        super().connection_made(transport)
        # idle from the start: closed after the keep-alive timeout unless a request begins (uvicorn's
        # data_received cancels this timer, as it does after a response)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        if not self._reading_headers:
            _base.data_received(self, data)
            return
        if self._header_started is None:  # (also for bytes that begin no message: CRLFs between requests)
            self._start_header_clock()
        self._header_bytes += len(data)
        _base.data_received(self, data)
        # still in the headers after all this data (headers completed in this chunk reset the count)
        if self._reading_headers and self._header_bytes > self.max_header_bytes and not self.transport.is_closing():
            log.debug("closing a connection whose request headers passed %d bytes", self.max_header_bytes)
            self._refuse(431, "Request header fields too large")

    def on_message_begin(self) -> None:
        _base.on_message_begin(self)
        if self._header_started is None:  # a request that begins inside a chunk, after the one before it
            self._start_header_clock()

    def _start_header_clock(self) -> None:
        self._header_started = self.loop.time()
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._check_header_time)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_started = None
        self._header_bytes = 0
        _base.on_headers_complete(self)

    def on_message_complete(self) -> None:
        _base.on_message_complete(self)
        self._reading_headers = True  # whatever comes next is the next request

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _check_header_time(self) -> None:
        self._header_timer = None
        started = self._header_started
        if started is None or self.transport.is_closing():
            return  # no header read in progress: the next one arms the timer again
        left = started + self.header_timeout - self.loop.time()
        if left > 0:  # a later request's headers, begun after the timer was armed
            self._header_timer = self.loop.call_later(left, self._check_header_time)
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # a pipelined request still arriving while the previous response is being sent: finish that
            # response, then close (uvicorn's own graceful-shutdown move)
            cycle.keep_alive = False
            return
        log.debug("closing a connection whose request headers took over %.1f s", self.header_timeout)
        self._refuse(408, "Request header timeout")

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def header_bound_protocol(header_timeout: float, max_header_bytes: int = MAX_HEADER_BYTES) -> type[HeaderBoundProtocol]:
    """A `HeaderBoundProtocol` class with these bounds (uvicorn builds one protocol per connection)."""

    class Bounded(HeaderBoundProtocol):
        pass

    Bounded.header_timeout = header_timeout
    Bounded.max_header_bytes = max_header_bytes
    Bounded.__name__ = Bounded.__qualname__ = "HeaderBoundProtocol"
    return Bounded
