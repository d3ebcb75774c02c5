"""The one HTTP client every vendor call, output download and webhook goes through.

`vendor_http_client(settings)` builds it. Two modes (`MEDIAGATE_FAST_PATHS`, docs/architecture.md,
"Fast paths and their fences"):

- **fast** (the default): `VendorHTTPClient`, an `httpx.AsyncClient` — what the adapters are written
  against — on `AiohttpTransport`, an `httpx.AsyncBaseTransport` (httpx's public transport seam) that
  sends each request on aiohttp's connection pool and C parser. httpcore's pool scans its connections
  on every request: under thousands of concurrent polls a vendor call cost ~2.5 ms of CPU on httpx's
  own transport, ~0.35 ms on aiohttp's (docs/benchmarks.md). The transport hands aiohttp the request's
  raw header pairs (httpx's `Headers` object made aiohttp decode every header again on each access),
  keeps aiohttp from adding a header of its own, and runs aiohttp without its cookie jar (httpx keeps
  the cookies).

  On top of that, a *plain* request (no auth, no redirect to follow, no event hooks: every vendor
  submission and poll) takes a direct path: `request` builds it with httpx's own `build_request` and
  hands it straight to the transport, which reads the answer whole into an `httpx.Response` —
  skipping `send`'s auth, redirect and hook machinery, which has nothing to do for it, and the async
  generators that stream a body into a response: a vendor call then costs ~0.6× the CPU of the same
  call through `send` on the same transport (docs/benchmarks.md, "Round 4"). Two more per-request
  costs of httpx are trimmed on that path, without changing what a request does: URL strings are
  parsed once (cached: httpx re-parses, and re-validates character by character, the URL of every
  request, and a poll loop asks for the same URL again and again), and a response is only handed to
  the cookie jar when it sets a cookie (the jar's `http.cookiejar` machinery took a seventh of a vendor
  call's CPU to find none).
  Anything else (auth, redirects, hooks, streaming) goes through httpx's `send`, on the same transport.
- **stock**: `httpx.AsyncClient` on httpx's own transport. Also what the fast mode falls back to when
  the environment names a proxy (`HTTP(S)_PROXY`, `ALL_PROXY`): httpx's own proxy handling then applies.

Both take the same timeout and pool limits, and `download` works on either.

No private name of httpx is used. What the direct path assumes — that `AsyncClient.request`,
`build_request` and `send` keep their parameters, that `send` does nothing else for a plain request,
and that the answer is the one httpx's own client gives (same bytes on the wire, same `Response`) — is
asserted by `tests/unit/test_contract_httpx.py`, with `httpx_aiohttp.transport.map_aiohttp_exceptions`
(aiohttp's errors as httpx's) and the aiohttp keywords used; the upper bounds in pyproject.toml name it.
(Until round 4 the client overrode httpx's private `_merge_url` and `_init_transport` and read
`_transport`, `_mounts`, `_auth`, `_event_hooks`, `_cookies`.)
"""

from __future__ import annotations

import logging
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from httpx import USE_CLIENT_DEFAULT
from httpx_aiohttp.transport import map_aiohttp_exceptions

if TYPE_CHECKING:
    from mediagate.config import Settings

#: distinct URLs kept parsed (a poll URL per job in flight); the cache is emptied when full
URL_CACHE_SIZE = 50_000
#: a response body up to this size (by Content-Length) is read whole by the transport in one call;
#: larger ones, and bodies of unknown length, are streamed (outputs are downloaded under a size limit)
EAGER_BODY_BYTES = 256 * 1024
#: the pool of the vendor client, in both modes
VENDOR_LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=500)

#: methods aiohttp gives a `Content-Type: application/octet-stream` when the request has none: httpx
#: sends none then, so neither may we (aiohttp's other automatic headers — Accept, Accept-Encoding,
#: User-Agent — are always in httpx's request already)
_DEFAULT_CONTENT_TYPE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NO_CONTENT_TYPE = ("Content-Type",)

_log = logging.getLogger("httpx")  # where httpx logs its requests; the direct path logs them there too


class DownloadTooLarge(Exception):
    """A download went past its size limit (`download`)."""


class _Body(httpx.AsyncByteStream):
    """A streamed aiohttp response body, as httpx's response stream."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with map_aiohttp_exceptions():
            async for chunk in self._answer.content.iter_chunked(1 << 16):
                yield chunk

    async def aclose(self) -> None:
        self._answer.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface on an aiohttp `ClientSession` (HTTP/1.1; no proxies).

    Redirects, auth, cookies and hooks stay with httpx's client; this only sends one request and
    returns its response (its body read whole when small, else streamed)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits = VENDOR_LIMITS,
        verify: ssl.SSLContext | str | bool = True,
        trust_env: bool = True,
    ) -> None:
        self.limits = limits
        self.ssl_context = httpx.create_ssl_context(verify=verify, trust_env=trust_env)
        self.session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        """The aiohttp session, made on first use (inside the running loop, which it belongs to)."""
        limit = self.limits.max_connections
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=limit if limit is not None else 100,
        )
        # aiohttp's own cookie jar is off: httpx keeps the cookies (the jar would only re-parse and
        # filter them on every request)
        self.session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
        return self.session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        given: dict[str, float | None] = request.extensions.get("timeout") or {}
        key = (given.get("connect"), given.get("read"), given.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
        return timeout

    def _send(self, request: httpx.Request) -> Any:
        """aiohttp's request for `request` (awaitable: the answer, its body not read yet)."""
        session = self.session if self.session is not None else self._open()
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:  # a streamed upload: aiohttp sends it chunked itself
            data = request.stream
            request.headers.pop("transfer-encoding", None)
        url = request.url
        if url.userinfo:  # (httpx has turned it into an Authorization header; aiohttp refuses both)
            url = url.copy_with(userinfo=b"")
        # (raw pairs: httpx's `Headers` decodes every name and value again on each access)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        skip = None
        if request.method in _DEFAULT_CONTENT_TYPE_METHODS and not any(k.lower() == "content-type" for k, _ in headers):
            skip = _NO_CONTENT_TYPE
        return session.request(
            request.method,
            str(url),
            headers=headers,
            skip_auto_headers=skip,
            data=data,
            allow_redirects=False,  # httpx's client follows them (or not)
            auto_decompress=False,  # httpx decodes
            compress=False,
            timeout=self._timeout(request),
            server_hostname=request.extensions.get("sni_hostname"),
        )

    @staticmethod
    def _extensions(answer: aiohttp.ClientResponse) -> dict[str, Any]:
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        return extensions

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's transport interface: the response's body is streamed (read whole first when it is
        small: `EAGER_BODY_BYTES`)."""
        stream: httpx.AsyncByteStream
        try:
            with map_aiohttp_exceptions():
                answer: aiohttp.ClientResponse = await self._send(request)
                length = answer.content_length
                if length is not None and length <= EAGER_BODY_BYTES:
                    try:
                        stream = httpx.ByteStream(await answer.read())
                    finally:
                        answer.release()
                else:
                    stream = _Body(answer)
        except httpx.RequestError as exc:
            exc.request = request  # (as httpx's client does for its transports' errors)
            raise
        return httpx.Response(
            answer.status, headers=answer.raw_headers, stream=stream, extensions=self._extensions(answer)
        )

    async def read_whole(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and read the whole answer: a loaded `httpx.Response` for `request`, decoded on
        access as httpx's own (the direct path of `VendorHTTPClient`)."""
        try:
            with map_aiohttp_exceptions():
                answer: aiohttp.ClientResponse = await self._send(request)
                try:
                    payload = await answer.read()
                finally:
                    answer.release()
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=payload,
            request=request,
            extensions=self._extensions(answer),
        )

    async def aclose(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()


class VendorHTTPClient(httpx.AsyncClient):
    """`httpx.AsyncClient` on `AiohttpTransport`, with a direct path for plain requests (module
    docstring). `limits`, `verify` and `trust_env` go to the transport; every other argument is httpx's
    (but `transport`, `mounts` and `proxy`: this client has exactly one transport)."""

    #: whether plain requests take the direct path (False: every request goes through httpx's `send`)
    direct = True

    def __init__(
        self,
        *,
        limits: httpx.Limits = VENDOR_LIMITS,
        verify: ssl.SSLContext | str | bool = True,
        trust_env: bool = True,
        **kwargs: Any,
    ) -> None:
        for name in ("transport", "mounts", "proxy"):
            if kwargs.get(name) is not None:
                raise TypeError(f"VendorHTTPClient takes no {name!r}: use httpx.AsyncClient")
        self.fast_transport = AiohttpTransport(limits=limits, verify=verify, trust_env=trust_env)
        super().__init__(transport=self.fast_transport, trust_env=trust_env, **kwargs)
        self._encoding = kwargs.get("default_encoding", "utf-8")
        self._urls: dict[str, httpx.URL] = {}

    def _url(self, url: httpx.URL | str) -> httpx.URL | str:
        """The URL string parsed once (cached): httpx parses and validates it on every request."""
        if not isinstance(url, str):
            return url
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = parsed
        return parsed

    def _plain(self, auth: Any, follow_redirects: Any, cookies: Any) -> bool:
        """Whether `send` has nothing to do for a request with these options but hand it to the
        transport and read the answer: no auth, no redirect to follow, no event hooks."""
        return (
            self.direct
            and auth is USE_CLIENT_DEFAULT
            and follow_redirects is USE_CLIENT_DEFAULT
            and cookies is None
            and self.auth is None
            and not self.follow_redirects
            and not self.event_hooks["request"]
            and not self.event_hooks["response"]
            and not self.is_closed
        )

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: Any = None,
        data: Any = None,
        files: Any = None,
        json: Any = None,
        params: Any = None,
        headers: Any = None,
        cookies: Any = None,
        auth: Any = USE_CLIENT_DEFAULT,
        follow_redirects: Any = USE_CLIENT_DEFAULT,
        timeout: Any = USE_CLIENT_DEFAULT,
        extensions: Any = None,
    ) -> httpx.Response:
        """httpx's `request`: `build_request`, then `send` — or, for a plain request (`_plain`), the
        transport directly, the answer read whole in one call (what `send` would do for it, less its
        auth, redirect and hook machinery)."""
        plain = self._plain(auth, follow_redirects, cookies)
        request = self.build_request(
            method,
            self._url(url) if plain else url,
            content=content,
            data=data,
            files=files,
            json=json,
            params=params,
            headers=headers,
            cookies=cookies,
            timeout=timeout,
            extensions=extensions,
        )
        if not plain or request.url.userinfo:  # (credentials in the URL: httpx's BasicAuth)
            return await self.send(request, auth=auth, follow_redirects=follow_redirects)
        start = time.perf_counter()
        response = await self.fast_transport.read_whole(request)
        response.elapsed = timedelta(seconds=time.perf_counter() - start)
        response.default_encoding = self._encoding
        if "set-cookie" in response.headers:  # (the jar's machinery costs a seventh of a call to find none)
            self.cookies.extract_cookies(response)
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                'HTTP Request: %s %s "HTTP/1.1 %d %s"',
                request.method,
                request.url,
                response.status_code,
                response.reason_phrase,
            )
        return response

    async def download(self, url: str, *, headers: dict[str, str] | None = None, max_bytes: int) -> httpx.Response:
        """`download(self, …)`."""
        return await download(self, url, headers=headers, max_bytes=max_bytes)


def _proxies_in_environment() -> bool:
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def vendor_http_client(settings: Settings) -> httpx.AsyncClient:
    """The shared client for vendor calls, output downloads and webhooks: `VendorHTTPClient` when
    `settings.fast_paths` (and no proxy is configured in the environment), else a stock
    `httpx.AsyncClient`; the same timeout and pool limits either way."""
    timeout = settings.provider_request_timeout_seconds
    if settings.fast_paths and not _proxies_in_environment():
        return VendorHTTPClient(timeout=timeout, limits=VENDOR_LIMITS)
    return httpx.AsyncClient(timeout=timeout, limits=VENDOR_LIMITS)


async def download(
    client: httpx.AsyncClient, url: str, *, headers: dict[str, str] | None = None, max_bytes: int
) -> httpx.Response:
    """GET `url` on any `httpx.AsyncClient`, following redirects, its body read whole into the
    returned `httpx.Response` (decoded on access, as usual); raises `DownloadTooLarge` once more than
    `max_bytes` came over the wire."""
    async with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > max_bytes:
                raise DownloadTooLarge(url)
            chunks.append(chunk)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=b"".join(chunks),
            request=response.request,
            extensions=response.extensions,
        )
