"""The vendor HTTP client's direct path (`mediagate.net.http`): a plain request sends exactly what httpx's
full `send` sends, and answers with the same `httpx.Response` (decoding, errors, cookies)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.net.http import DownloadTooLarge, VendorHTTPClient
from mediagate.testing.server import ThreadedServer

seen: list[dict[str, Any]] = []


async def echo(request: Request) -> Response:
    body = await request.body()
    seen.append(
        {"method": request.method, "headers": request.headers.items(), "body": body, "query": request.url.query}
    )
    return JSONResponse({"ok": True, "len": len(body)})


async def zipped(request: Request) -> Response:
    return Response(
        gzip.compress(b'{"zipped": true}'), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
    )


async def failing(request: Request) -> Response:
    return JSONResponse({"error": {"code": "Throttled"}}, status_code=429, headers={"Retry-After": "3"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return JSONResponse({})


async def redirect(request: Request) -> Response:
    return Response(status_code=302, headers={"Location": "/zipped"})


async def big(request: Request) -> Response:
    return Response(b"x" * 100_000, media_type="video/mp4")


async def cookie(request: Request) -> Response:
    response = JSONResponse({})
    response.set_cookie("session", "abc")
    return response


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "DELETE"]),
            Route("/zipped", zipped),
            Route("/failing", failing),
            Route("/slow", slow),
            Route("/cookie", cookie),
            Route("/redirect", redirect),
            Route("/big", big),
        ]
    )
    with ThreadedServer(app) as running:
        yield running


def normalized(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in headers)


async def test_direct_path_sends_what_httpx_sends(server: ThreadedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    client = VendorHTTPClient(timeout=5)
    plain = httpx.AsyncClient(timeout=5)
    try:
        body = {"model": "seedance", "prompt": "a café at dusk", "n": 1}
        headers = {"Authorization": "Bearer k", "X-Trace": "1"}
        seen.clear()
        calls = []
        original = client.fast_transport.read_whole

        async def spy(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            return await original(request)

        monkeypatch.setattr(client.fast_transport, "read_whole", spy)
        direct = await client.post(f"{server.url}/echo", json=body, headers=headers)
        assert len(calls) == 1  # it did take the direct path
        reference = await plain.post(f"{server.url}/echo", json=body, headers=headers)
        assert direct.status_code == reference.status_code == 200
        assert direct.json() == reference.json()
        sent, expected = seen
        assert sent["body"] == expected["body"]
        assert json.loads(sent["body"]) == body
        # the same headers, but for the User-Agent both send httpx's
        assert normalized(sent["headers"]) == normalized(expected["headers"])
        assert direct.request.method == "POST" and str(direct.request.url) == f"{server.url}/echo"
        assert direct.headers["content-type"] == "application/json"
    finally:
        await client.aclose()
        await plain.aclose()


async def test_bytes_body_and_other_methods(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        seen.clear()
        assert (await client.request("POST", f"{server.url}/echo", content=b"raw")).json() == {"ok": True, "len": 3}
        assert (await client.delete(f"{server.url}/echo")).status_code == 200
        assert [s["method"] for s in seen] == ["POST", "DELETE"]


async def test_requests_needing_more_take_httpx_full_path(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        seen.clear()
        response = await client.get(f"{server.url}/echo", params={"a": "1 2"})
        assert response.status_code == 200
        assert seen[0]["query"] == "a=1+2"


async def test_compressed_answers_are_decoded(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        response = await client.get(f"{server.url}/zipped")
        assert response.json() == {"zipped": True}


async def test_errors_are_httpx_errors(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        response = await client.get(f"{server.url}/failing")
        assert response.status_code == 429 and response.headers["retry-after"] == "3"
        with pytest.raises(httpx.HTTPStatusError):
            response.raise_for_status()
        with pytest.raises(httpx.TimeoutException):
            await client.get(f"{server.url}/slow", timeout=0.3)
        with pytest.raises(httpx.TransportError):
            await client.get("http://127.0.0.1:9/refused")


async def test_cookies_set_by_a_vendor_are_kept(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        await client.get(f"{server.url}/cookie")
        assert client.cookies.get("session") == "abc"
        seen.clear()
        await client.get(f"{server.url}/echo")  # with cookies to send: the full path sends them
        assert ("cookie", "session=abc") in seen[0]["headers"]


async def test_download_follows_redirects_decodes_and_limits(server: ThreadedServer) -> None:
    async with VendorHTTPClient(timeout=5) as client:
        response = await client.download(f"{server.url}/redirect", max_bytes=1000)
        assert response.status_code == 200 and response.json() == {"zipped": True}
        assert str(response.request.url).endswith("/zipped")
        assert len((await client.download(f"{server.url}/big", max_bytes=100_000)).content) == 100_000
        with pytest.raises(DownloadTooLarge):
            await client.download(f"{server.url}/big", max_bytes=99_999)
        client.cookies.set("c", "1")  # the full path (httpx's stream) behaves the same
        assert (await client.download(f"{server.url}/redirect", max_bytes=1000)).json() == {"zipped": True}
        with pytest.raises(DownloadTooLarge):
            await client.download(f"{server.url}/big", max_bytes=99_999)
