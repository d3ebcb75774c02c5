"""A fast fake of OpenAI's image API, the upstream of bench/anchor_litellm.py.

The wire format of `POST /v1/images/generations` (what `mediagate.testing.fakes.openai` speaks, and
what mediagate's adapter and LiteLLM's OpenAI provider send), answering at once with one pre-made PNG
(1024x1024, grayscale, 4 KB) — the Starlette fake of the tests draws a new image per request, far
too slow for this:

    POST /v1/images/generations  JSON {model, prompt, n, size, response_format, …}
        → {"created", "data": [{"b64_json"} | {"url"}] × n}     (Authorization: Bearer --api-key)
        `url` when response_format is "url" (dall-e's default is url; gpt-image-* always b64_json)
    GET  /files/{name}.png   → the PNG (what a `url` answer points at)
    GET  /_bench/stats       → {"generations", "downloads", "errors"}

Two servers for the same handler (`--server`):

- `uvicorn` (default): a plain Starlette app on uvicorn (uvloop + httptools, no access log) — the stack
  a typical Python service, and bench/baseline.py, runs on; ~0.2–0.3 ms per request at one connection;
- `raw`: bench/fake_vendor.py's raw asyncio HTTP/1.1 protocol — ~10× cheaper per request (a floor:
  no real HTTP service answers faster).

    python bench/anchor_upstream.py --port 9200 --api-key sk-upstream [--server raw]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import struct
import sys
import time
import zlib
from typing import Any

GENERATIONS = b"/v1/images/generations"
FILES = b"/files/"


def make_png(width: int = 1024, height: int = 1024) -> bytes:
    """A valid 8-bit grayscale PNG (a diagonal band on grey), built with zlib alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = bytearray()
    for y in range(height):
        row = bytearray(b"\x80" * width)
        start = (y * width) // height
        row[start : start + 16] = b"\xff" * len(row[start : start + 16])
        rows += b"\x00" + row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class Upstream:
    """The `handle(method, path, headers, body)` object that fake_vendor's `HTTPProtocol` calls."""

    def __init__(self, api_key: str, png: bytes) -> None:
        self.auth = f"Bearer {api_key}".encode()
        self.png = png
        self.b64 = base64.b64encode(png).decode("ascii")
        self.ids = itertools.count(1)
        self.generations = 0
        self.downloads = 0
        self.errors = 0
        self.base_url = ""

    def handle(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes, bytes]:
        if path == GENERATIONS and method == b"POST":
            if headers.get(b"authorization") != self.auth:
                return self.error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
            return self.generate(body)
        if path.startswith(FILES) and method == b"GET":
            self.downloads += 1
            return 200, b"image/png", self.png
        if path == b"/_bench/stats":
            stats = {"generations": self.generations, "downloads": self.downloads, "errors": self.errors}
            return 200, b"application/json", json.dumps(stats).encode()
        return self.error(404, "Invalid URL", "invalid_request_error")

    def generate(self, body: bytes) -> tuple[int, bytes, bytes]:
        try:
            data = json.loads(body)
        except ValueError:
            return self.error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not isinstance(data, dict) or not data.get("prompt"):
            return self.error(400, "Missing required parameter: 'prompt'.", "invalid_request_error")
        model = str(data.get("model") or "dall-e-2")
        count = int(data.get("n") or 1)
        as_url = data.get("response_format") == "url" and not model.startswith("gpt-image")
        items: list[dict[str, Any]] = []
        for _ in range(count):
            if as_url:
                items.append({"url": f"{self.base_url}/files/img-{next(self.ids):08d}.png"})
            else:
                items.append({"b64_json": self.b64})
        payload: dict[str, Any] = {"created": int(time.time()), "data": items}
        if model.startswith("gpt-image"):
            payload.update({"output_format": "png", "size": str(data.get("size") or "1024x1024")})
            payload["usage"] = {"input_tokens": 10, "output_tokens": 4160, "total_tokens": 4170}
        self.generations += 1
        return 200, b"application/json", json.dumps(payload).encode()

    def error(self, status: int, message: str, kind: str, code: str | None = None) -> tuple[int, bytes, bytes]:
        self.errors += 1
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return status, b"application/json", json.dumps(body).encode()


def create_app(upstream: Upstream) -> Any:
    """The Starlette app: every route hands the request to `upstream.handle`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
        status, content_type, payload = upstream.handle(
            request.method.encode(), request.url.path.encode(), headers, body
        )
        return Response(payload, status_code=status, media_type=content_type.decode())

    return Starlette(
        routes=[
            Route("/v1/images/generations", endpoint, methods=["POST"]),
            Route("/files/{name}", endpoint, methods=["GET"]),
            Route("/_bench/stats", endpoint, methods=["GET"]),
        ]
    )


def serve_uvicorn(host: str, port: int, api_key: str) -> None:
    import uvicorn

    upstream = Upstream(api_key, make_png())
    upstream.base_url = f"http://{host}:{port}"
    print(f"fake OpenAI images upstream (uvicorn) on {upstream.base_url}", flush=True)
    uvicorn.run(create_app(upstream), host=host, port=port, log_level="warning", access_log=False)


async def serve(host: str, port: int, api_key: str) -> None:
    from fake_vendor import HTTPProtocol

    upstream = Upstream(api_key, make_png())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HTTPProtocol(upstream), host, port, backlog=4096)  # type: ignore[arg-type]  # fake_vendor.HTTPProtocol takes a duck-typed handler
    upstream.base_url = f"http://{host}:{server.sockets[0].getsockname()[1]}"
    print(f"fake OpenAI images upstream (raw asyncio) on {upstream.base_url}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="sk-upstream")
    parser.add_argument("--server", choices=("uvicorn", "raw"), default="uvicorn")
    args = parser.parse_args(argv)
    if args.server == "uvicorn":
        serve_uvicorn(args.host, args.port, args.api_key)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from loadgen import run_loop

    try:
        run_loop(serve(args.host, args.port, args.api_key))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
