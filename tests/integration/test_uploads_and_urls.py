"""Uploads (validated by content, size- and pixel-limited) and the SSRF guard on user URLs."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
import pytest
from PIL import Image

from mediagate.gateway import Gateway
from mediagate.net.urlguard import UnsafeURL, URLGuard
from tests.helpers import make_principal, wait_http


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A real decompression bomb: a 1-bit side×side PNG of zeros, ~100 KB compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


async def upload(client: httpx.AsyncClient, key: str, data: bytes, name: str = "x.png") -> httpx.Response:
    return await client.post("/api/v1/uploads", headers=auth(key), files={"file": (name, data, "image/png")})


async def test_png_upload_round_trips_into_an_image_to_video_task(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await upload(client, key, png_bytes(), "portrait.png")
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert (data["format"], data["width"], data["height"]) == ("png", 64, 48)
    served = await client.get(data["url"])
    assert served.status_code == 200 and served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-type"] == "image/png"
    created = await client.post(
        "/api/v1/generations",
        headers=auth(key),
        json={"model": "seedance 2.0", "prompt": "she smiles", "image_urls": [data["url"]], "aspect_ratio": "adaptive"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["task_type"] == "image_to_video"
    task = await wait_http(client, key, created.json()["data"]["id"])
    assert task["status"] == "completed"


async def test_decompression_bomb_is_refused_without_inflating(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    bomb = png_bomb()
    assert len(bomb) < 2_000_000
    response = await upload(client, key, bomb)
    assert response.status_code == 400
    assert "900000000 pixels" in response.json()["error"]["message"].replace(",", "")


async def test_renamed_text_file_is_refused(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await upload(client, key, b"hello, I am not an image\n" * 10, "cat.png")
    assert response.status_code == 400 and "PNG, JPEG or WebP" in response.json()["error"]["message"]


async def test_truncated_png_is_refused(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await upload(client, key, png_bytes(400, 400)[:200])
    assert response.status_code == 400


async def test_oversize_upload_is_413(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await upload(client, key, png_bytes() + b"\x00" * (25 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://[::ffff:10.0.0.1]/x.png",
        "http://localhost:8080/x.png",
        "http://100.64.0.1/x.png",
        "file:///etc/passwd",
    ],
)
@pytest.mark.parametrize("field", ["image_urls", "callback_url"])
async def test_private_urls_are_refused_at_request_time(
    gateway: Gateway, client: httpx.AsyncClient, url: str, field: str
) -> None:
    _, key = await make_principal(gateway, test=True)
    body = {"model": "seedance 2.0", "prompt": "x", field: [url] if field == "image_urls" else url}
    response = await client.post("/api/v1/generations", headers=auth(key), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and error["field"].startswith(field)


async def test_hostname_resolving_to_private_address_is_refused() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"evil.test": ["93.184.216.34", "10.1.2.3"]}.get(host, [])

    with pytest.raises(UnsafeURL, match=r"private address 10\.1\.2\.3"):
        await URLGuard(resolver=resolver).check("https://evil.test/a.png")


async def test_redirect_to_a_private_address_is_refused_hop_by_hop() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://10.0.0.5/secret"})

    async def resolver(host: str, port: int) -> list[str]:
        return {"public.test": ["8.8.8.8"]}[host]

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(UnsafeURL, match=r"10\.0\.0\.5"):
            await URLGuard(resolver=resolver).fetch(http, "http://public.test/img.png", max_bytes=1000)
    assert len(seen) == 1
    assert seen[0].url.host == "8.8.8.8" and seen[0].headers["host"] == "public.test"  # pinned to the checked IP


async def test_allow_private_urls_lets_loopback_through() -> None:
    checked = await URLGuard(allow_private=True).check("http://127.0.0.1:9/x")
    assert checked is not None and checked.address == "127.0.0.1"


async def test_unresolvable_hosts_pass_request_time_checks_but_not_connections() -> None:
    guard = URLGuard()
    assert await guard.check("https://no-such-host.invalid/a.png", unresolvable_ok=True) is None
    with pytest.raises(UnsafeURL, match="could not be resolved"):
        await guard.check("https://no-such-host.invalid/a.png")
