"""The one HTTP client every vendor call, output download and webhook goes through.

httpx's API (what the adapters are written against) on aiohttp's connection pool and C parser
(`httpx-aiohttp`): a vendor call costs a third of the CPU of httpx's own transport, and a tenth of it
under thousands of concurrent polls, where httpcore's pool scans its connections on every request.

On top of that, the plain requests the adapters make (`request`/`get`/`post`/… with a JSON or bytes body
and headers: every vendor submission and poll) take a direct path: the `httpx.Request` is built exactly
as `build_request` builds it (same URL, headers, body), handed straight to the aiohttp session, and
the body read into an `httpx.Response` — skipping `send`'s auth, redirect and hook machinery, which has
nothing to do for them (the client has no auth, follows no redirects, has no hooks), and aiohttp's own
cookie jar (httpx keeps the cookies). That halves the CPU of a vendor call (docs/benchmarks.md). Any
request that needs more (query params, form data, files, cookies to send, auth, redirects, per-request
extensions, streaming) goes through httpx's full `send` as before.

Two more per-request costs of httpx are trimmed, without changing what a request does: parsed URLs are
cached (httpx re-parses, and re-validates character by character, the URL string of every request, and a
poll loop asks for the same URL again and again), and a response is only handed to the cookie jar when
it sets a cookie (the jar's http.cookiejar machinery took a seventh of a vendor call's CPU to find none).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import aiohttp
import httpx
from httpx._client import USE_CLIENT_DEFAULT, UseClientDefault
from httpx._types import HeaderTypes, RequestContent, TimeoutTypes
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

#: distinct URLs kept parsed (a poll URL per job in flight); the cache is emptied when full
URL_CACHE_SIZE = 50_000

_log = logging.getLogger("httpx")  # where httpx logs its requests; the direct path logs them there too


class DownloadTooLarge(Exception):
    """A download went past its size limit (`VendorHTTPClient.download`)."""


class _Cookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _Transport(AiohttpTransport):
    """httpx-aiohttp's transport on a session without aiohttp's cookie jar (httpx keeps the cookies;
    aiohttp's jar would only re-parse and filter them on every request)."""

    def get_client(self) -> aiohttp.ClientSession:
        if isinstance(self.client, aiohttp.ClientSession):
            return self.client
        limit = self.limits.max_connections
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=limit if limit is not None else 100,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


class VendorHTTPClient(HttpxAiohttpClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._urls: dict[str, httpx.URL] = {}
        self._cookies = _Cookies(self._cookies)
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return _Transport(verify=verify, cert=cert, trust_env=trust_env, http1=http1, http2=http2, limits=limits)

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if not isinstance(url, str):
            return super()._merge_url(url)
        merged = self._urls.get(url)
        if merged is None:
            merged = super()._merge_url(url)
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = merged
        return merged

    def _direct(self) -> bool:
        """Whether a request without extra options can skip httpx's `send` (see the module docstring)."""
        return (
            isinstance(self._transport, _Transport)
            and not self._mounts
            and self._auth is None
            and not self._event_hooks["request"]
            and not self._event_hooks["response"]
            and not self._cookies.jar
        )

    async def download(self, url: str, *, headers: dict[str, str] | None = None, max_bytes: int) -> httpx.Response:
        """GET `url` following redirects, its body read whole (an `httpx.Response`); raises
        `DownloadTooLarge` past `max_bytes`. The direct path when possible, else httpx's `stream`."""
        if not self._direct():
            async with self.stream("GET", url, headers=headers, follow_redirects=True) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise DownloadTooLarge(url)
                    chunks.append(chunk)
                return httpx.Response(
                    response.status_code, headers=response.headers, content=b"".join(chunks), request=response.request
                )
        request = httpx.Request(
            "GET",
            self._merge_url(url),
            headers=self._merge_headers(headers),
            extensions={"timeout": self.timeout.as_dict()},
        )
        return await self._send_direct(request, self.timeout, redirects=True, max_bytes=max_bytes)

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: RequestContent | None = None,
        json: Any | None = None,
        headers: HeaderTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = USE_CLIENT_DEFAULT,
        **kwargs: Any,
    ) -> httpx.Response:
        """httpx's `request`; plain requests (see the module's docstring) take the direct path."""
        direct = (
            # (`get`, `post`, … pass every argument, unset ones as None or USE_CLIENT_DEFAULT)
            all(v is None or isinstance(v, UseClientDefault) for v in kwargs.values())
            and isinstance(content, bytes | str | None)
            and not self.follow_redirects
            and self._direct()
        )
        if not direct:
            return await super().request(
                method, url, content=content, json=json, headers=headers, timeout=timeout, **kwargs
            )
        chosen = self.timeout if isinstance(timeout, UseClientDefault) else httpx.Timeout(timeout)
        request = httpx.Request(
            method,
            self._merge_url(url),
            headers=self._merge_headers(headers),
            content=content,
            json=json,
            extensions={"timeout": chosen.as_dict()},
        )
        return await self._send_direct(request, chosen)

    async def _send_direct(
        self, request: httpx.Request, timeout: httpx.Timeout, *, redirects: bool = False, max_bytes: int | None = None
    ) -> httpx.Response:
        transport = self._transport
        assert isinstance(transport, _Transport)
        if not isinstance(transport.client, aiohttp.ClientSession):
            transport.client = transport.get_client()
        key = (timeout.connect, timeout.read, timeout.pool)
        client_timeout = self._timeouts.get(key)
        if client_timeout is None:
            client_timeout = aiohttp.ClientTimeout(
                sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
            )
            self._timeouts[key] = client_timeout
        body = request.content or None
        with map_aiohttp_exceptions():
            async with transport.client.request(
                request.method,
                str(request.url),
                # (raw pairs: httpx's `Headers` decodes every name and value again on each access)
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=body,
                allow_redirects=redirects,
                max_redirects=20,  # httpx's limit
                auto_decompress=False,  # httpx decodes, as on the full path
                compress=False,
                timeout=client_timeout,
            ) as answer:
                if max_bytes is None:
                    payload = await answer.read()
                else:
                    parts: list[bytes] = []
                    size = 0
                    async for part in answer.content.iter_chunked(1 << 16):
                        size += len(part)
                        if size > max_bytes:
                            raise DownloadTooLarge(str(request.url))
                        parts.append(part)
                    payload = b"".join(parts)
                if answer.history:  # redirected: the response is for the last URL
                    request = httpx.Request(request.method, str(answer.url), headers=request.headers)
                extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
                if answer.reason:
                    extensions["reason_phrase"] = answer.reason.encode()
                response = httpx.Response(
                    answer.status, headers=answer.raw_headers, content=payload, request=request, extensions=extensions
                )
        self._cookies.extract_cookies(response)
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                'HTTP Request: %s %s "HTTP/1.1 %d %s"',
                request.method,
                request.url,
                response.status_code,
                response.reason_phrase,
            )
        return response
