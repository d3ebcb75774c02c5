"""Contract of the vendor HTTP client's fast path (`src/mediagate/net/http.py`) with httpx, httpx-aiohttp
and aiohttp.

`VendorHTTPClient` is httpx's `AsyncClient` on our own `AiohttpTransport` (httpx's public transport
seam), with a direct path: a plain request (no auth, no redirects to follow, no hooks) is built by
httpx's `build_request` and handed to the transport without httpx's `send`. That leans on:

- the signatures of `AsyncClient.request` / `build_request` / `send` (the override passes every
  argument through) and of `AsyncBaseTransport.handle_async_request`;
- `send` doing nothing else for a plain request than handing it to the transport, reading the
  answer, extracting cookies and logging — checked here by comparing both paths on the wire and in
  the `httpx.Response` they give;
- `httpx_aiohttp.transport.map_aiohttp_exceptions` and the aiohttp `ClientSession.request` keywords.

Each assertion says what to revisit when it fails: a new httpx, httpx-aiohttp or aiohttp release that
breaks one of these is caught here, before production (the upper bounds in pyproject.toml name this
file). `MEDIAGATE_FAST_PATHS=false` turns the whole thing off (stock `httpx.AsyncClient`).
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from mediagate.config import Settings
from mediagate.net import http as vendor_http
from mediagate.net.http import (
    AiohttpTransport,
    DownloadTooLarge,
    VendorHTTPClient,
    download,
    vendor_http_client,
)

REVISIT = "revisit src/mediagate/net/http.py (VendorHTTPClient / AiohttpTransport) for this httpx release"
REVISIT_AIOHTTP = "revisit src/mediagate/net/http.py (AiohttpTransport) for this aiohttp / httpx-aiohttp release"

#: the parameters `VendorHTTPClient.request` passes through to `build_request` / `send`
REQUEST_PARAMS = [
    "self",
    "method",
    "url",
    "content",
    "data",
    "files",
    "json",
    "params",
    "headers",
    "cookies",
    "auth",
    "follow_redirects",
    "timeout",
    "extensions",
]
BUILD_PARAMS = [p for p in REQUEST_PARAMS if p not in ("auth", "follow_redirects")]


# --- a loopback server that records the raw bytes of every request ---------------------------------

BIG = b"v" * (vendor_http.EAGER_BODY_BYTES + 1000)


class Recorder:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Recorder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding") == "chunked":
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        chunk = await reader.readexactly(size + 2)
                        body += chunk[:-2]
                        if size == 0:
                            break
                self.raw.append(head + body)
                writer.write(self.answer(lines[0].split(" ")[1]))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @staticmethod
    def answer(path: str) -> bytes:
        def reply(status: str, body: bytes, *headers: str) -> bytes:
            head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", *headers]
            return ("\r\n".join(head) + "\r\n\r\n").encode() + body

        if path.startswith("/zipped"):
            return reply(
                "200 OK", gzip.compress(b'{"zipped": true}'), "content-type: application/json", "content-encoding: gzip"
            )
        if path.startswith("/cookie"):
            return reply("200 OK", b"{}", "content-type: application/json", "set-cookie: session=abc; Path=/")
        if path.startswith("/redirect"):
            return reply("302 Found", b"", "location: /zipped")
        if path.startswith("/big"):
            return reply("200 OK", BIG, "content-type: video/mp4")
        if path.startswith("/failing"):
            return reply(
                "429 Too Many Requests", b'{"error": "slow down"}', "content-type: application/json", "retry-after: 3"
            )
        return reply(
            "200 OK",
            '{"ok": true, "café": "☕"}'.encode(),
            "content-type: application/json; charset=utf-8",
            "x-multi: a",
            "x-multi: b",
        )


def normalized(raw: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """(request line, header pairs lower-cased and sorted, body) of one raw request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = sorted((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return lines[0], pairs, body


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder() as running:
        yield running


def same_response(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, REVISIT
    assert a.headers.multi_items() == b.headers.multi_items(), REVISIT
    assert a.content == b.content and a.text == b.text and a.encoding == b.encoding, REVISIT
    assert a.http_version == b.http_version and a.reason_phrase == b.reason_phrase, REVISIT
    assert a.request.method == b.request.method and a.request.url == b.request.url, REVISIT
    assert a.request.headers.multi_items() == b.request.headers.multi_items(), REVISIT
    assert a.is_closed and b.is_closed and a.is_stream_consumed == b.is_stream_consumed, REVISIT
    assert a.elapsed.total_seconds() >= 0 and a.history == b.history == [], REVISIT


# --- the private/semi-public surface: names and signatures ----------------------------------------


def test_httpx_signatures_the_direct_path_mirrors() -> None:
    assert list(inspect.signature(httpx.AsyncClient.request).parameters) == REQUEST_PARAMS, (
        f"httpx.AsyncClient.request changed its parameters: {REVISIT} (VendorHTTPClient.request must pass them all)"
    )
    assert list(inspect.signature(VendorHTTPClient.request).parameters) == REQUEST_PARAMS, REVISIT
    assert list(inspect.signature(httpx.AsyncClient.build_request).parameters) == BUILD_PARAMS, (
        f"httpx.AsyncClient.build_request changed its parameters: {REVISIT}"
    )
    send = inspect.signature(httpx.AsyncClient.send).parameters
    assert list(send) == ["self", "request", "stream", "auth", "follow_redirects"], f"httpx's send changed: {REVISIT}"
    assert list(inspect.signature(httpx.AsyncBaseTransport.handle_async_request).parameters) == ["self", "request"], (
        f"httpx's transport interface changed: {REVISIT}"
    )
    assert httpx.USE_CLIENT_DEFAULT is inspect.signature(httpx.AsyncClient.request).parameters["auth"].default, REVISIT
    for name in ("auth", "event_hooks", "is_closed", "cookies", "timeout"):
        assert isinstance(getattr(httpx.AsyncClient, name), property), f"AsyncClient.{name} is gone: {REVISIT}"
    assert httpx.AsyncClient().follow_redirects is False, REVISIT
    for cls, name in ((httpx.Response, "elapsed"), (httpx.Response, "request"), (httpx.HTTPError, "request")):
        attribute = getattr(cls, name)
        assert isinstance(attribute, property) and attribute.fset is not None, f"{cls.__name__}.{name}: {REVISIT}"
    assert issubclass(httpx.ByteStream, httpx.AsyncByteStream), REVISIT


def test_aiohttp_and_httpx_aiohttp_surface() -> None:
    from httpx_aiohttp.transport import map_aiohttp_exceptions

    keywords = inspect.signature(aiohttp.ClientSession._request).parameters
    for name in ("headers", "data", "allow_redirects", "auto_decompress", "compress", "timeout", "server_hostname"):
        assert name in keywords, f"aiohttp's ClientSession.request lost {name!r}: {REVISIT_AIOHTTP}"
    timeout = inspect.signature(aiohttp.ClientTimeout).parameters
    assert {"sock_connect", "sock_read", "connect"} <= set(timeout), REVISIT_AIOHTTP
    assert {"keepalive_timeout", "ssl", "limit"} <= set(inspect.signature(aiohttp.TCPConnector).parameters), (
        REVISIT_AIOHTTP
    )
    assert issubclass(aiohttp.DummyCookieJar, aiohttp.abc.AbstractCookieJar), REVISIT_AIOHTTP
    # what the transport relies on map_aiohttp_exceptions for: aiohttp's errors become httpx's
    for raised, expected in (
        (aiohttp.ServerTimeoutError("t"), httpx.TimeoutException),
        (aiohttp.ClientPayloadError("p"), httpx.ReadError),
        (aiohttp.ClientConnectionError("c"), httpx.TransportError),
    ):
        with pytest.raises(expected):
            with map_aiohttp_exceptions():
                raise raised


# --- behaviour: the fast paths give what httpx's stock client gives --------------------------------


async def test_the_same_bytes_on_the_wire_and_the_same_response(recorder: Recorder) -> None:
    """Direct path, the public seam alone (`send` on our transport) and httpx's stock client."""
    body = {"model": "seedance", "prompt": "a café at dusk", "n": 1}
    headers = {"Authorization": "Bearer k", "X-Trace": "1"}
    fast = VendorHTTPClient(timeout=5)
    seam = VendorHTTPClient(timeout=5)
    seam.direct = False
    stock = httpx.AsyncClient(timeout=5)
    direct_calls: list[httpx.Request] = []
    original = fast.fast_transport.read_whole

    async def spy(request: httpx.Request) -> httpx.Response:
        direct_calls.append(request)
        return await original(request)

    fast.fast_transport.read_whole = spy  # type: ignore[method-assign]  # a spy on the transport method, put back by the test
    try:
        for method, path, kwargs in (
            ("POST", "/echo", {"json": body, "headers": headers}),
            ("POST", "/echo", {"content": b"raw bytes", "headers": headers}),
            ("GET", "/echo", {"headers": headers}),
            ("DELETE", "/echo", {}),
            ("GET", "/zipped", {}),
            ("GET", "/failing", {}),
        ):
            responses = []
            for client in (fast, seam, stock):
                recorder.raw.clear()
                responses.append(await client.request(method, recorder.url + path, **kwargs))
                (raw,) = recorder.raw
                responses[-1].extensions["raw"] = normalized(raw)
            assert len(direct_calls) == 1, f"{method} {path} did not take the direct path: {REVISIT}"
            direct_calls.clear()
            for response in responses[:2]:
                if method == "DELETE":  # aiohttp adds `Content-Length: 0` to a body-less DELETE/PUT/PATCH
                    _line, pairs, _sent = response.extensions["raw"]
                    pairs.remove(("content-length", "0"))
                assert response.extensions["raw"] == responses[2].extensions["raw"], (
                    f"{method} {path}: the fast path sent other bytes than httpx's own client: {REVISIT}"
                )
                same_response(response, responses[2])
        assert responses[0].json() == {"error": "slow down"}
    finally:
        for client in (fast, seam, stock):
            await client.aclose()


async def test_requests_needing_more_go_through_send(recorder: Recorder) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        direct_calls: list[httpx.Request] = []
        original = client.fast_transport.read_whole

        async def spy(request: httpx.Request) -> httpx.Response:
            direct_calls.append(request)
            return await original(request)

        client.fast_transport.read_whole = spy  # type: ignore[method-assign]  # a spy on the transport method, put back by the test
        redirected = await client.get(f"{recorder.url}/redirect", follow_redirects=True)
        assert redirected.json() == {"zipped": True} and len(redirected.history) == 1
        not_followed = await client.get(f"{recorder.url}/redirect")
        assert not_followed.status_code == 302 and not_followed.next_request is None  # (direct: not built)
        authed = await client.get(f"{recorder.url}/echo", auth=("u", "p"))
        assert authed.request.headers["authorization"].startswith("Basic ")
        in_url = await client.get(recorder.url.replace("http://", "http://u:p@") + "/echo")
        assert in_url.request.headers["authorization"].startswith("Basic ")
        assert len(direct_calls) == 1  # only the redirect not followed
        with_params = await client.get(f"{recorder.url}/echo", params={"a": "1 2"})
        assert with_params.request.url.query == b"a=1+2"  # (build_request handles params on the direct path)


async def test_cookies_errors_and_streams(recorder: Recorder) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        await client.get(f"{recorder.url}/cookie")
        assert client.cookies.get("session") == "abc", f"cookies set by a vendor are lost: {REVISIT}"
        recorder.raw.clear()
        await client.get(f"{recorder.url}/echo")
        assert ("cookie", "session=abc") in normalized(recorder.raw[0])[1], REVISIT
        with pytest.raises(httpx.TransportError) as refused:
            await client.get("http://127.0.0.1:9/refused")
        assert refused.value.request.url.port == 9, REVISIT
        # streaming (httpx's `send(stream=True)` on the transport): small bodies read whole, big ones streamed
        async with client.stream("GET", f"{recorder.url}/big") as streamed:
            assert b"".join([chunk async for chunk in streamed.aiter_raw()]) == BIG
        async with client.stream("GET", f"{recorder.url}/zipped") as small:
            assert gzip.decompress(b"".join([c async for c in small.aiter_raw()])) == b'{"zipped": true}'

        async def upload() -> AsyncIterator[bytes]:
            yield b"part one, "
            yield b"part two"

        recorder.raw.clear()
        await client.post(f"{recorder.url}/echo", content=upload())
        assert recorder.raw[0].endswith(b"part one, part two"), REVISIT


@pytest.mark.parametrize("fast_paths", [True, False])
async def test_vendor_http_client_and_download_in_both_modes(recorder: Recorder, fast_paths: bool) -> None:
    settings = Settings(fast_paths=fast_paths, provider_request_timeout_seconds=7)
    client = vendor_http_client(settings)
    try:
        assert isinstance(client, VendorHTTPClient) is fast_paths
        assert client.timeout == httpx.Timeout(7)
        if isinstance(client, VendorHTTPClient):
            assert client.fast_transport.limits == vendor_http.VENDOR_LIMITS
        response = await download(client, f"{recorder.url}/redirect", max_bytes=1000)
        assert response.status_code == 200 and response.json() == {"zipped": True}
        assert str(response.request.url).endswith("/zipped")
        assert (await download(client, f"{recorder.url}/big", max_bytes=len(BIG))).content == BIG
        with pytest.raises(DownloadTooLarge):
            await download(client, f"{recorder.url}/big", max_bytes=len(BIG) - 1)
    finally:
        await client.aclose()


def test_a_proxy_in_the_environment_gives_the_stock_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    client: Any = vendor_http_client(Settings(fast_paths=True))
    assert not isinstance(client, VendorHTTPClient)  # httpx's own proxy handling applies
    with pytest.raises(TypeError):
        VendorHTTPClient(transport=AiohttpTransport())
