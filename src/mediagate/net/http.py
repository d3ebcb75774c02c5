"""The one HTTP client every vendor call, output download and webhook goes through.

httpx's API (what the adapters are written against) on aiohttp's connection pool and C parser
(`httpx-aiohttp`): a vendor call costs a third of the CPU of httpx's own transport, and a tenth of it
under thousands of concurrent polls, where httpcore's pool scans its connections on every request.

Two more per-request costs of httpx are trimmed, without changing what a request does: parsed URLs are
cached (httpx re-parses, and re-validates character by character, the URL string of every request, and a
poll loop asks for the same URL again and again), and a response is only handed to the cookie jar when
it sets a cookie (the jar's http.cookiejar machinery took a seventh of a vendor call's CPU to find none).
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

#: distinct URLs kept parsed (a poll URL per job in flight); the cache is emptied when full
URL_CACHE_SIZE = 50_000


class _Cookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class VendorHTTPClient(HttpxAiohttpClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._urls: dict[str, httpx.URL] = {}
        self._cookies = _Cookies(self._cookies)

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
