"""The global request-body limit (`api/body_limit.py`) on a real server: 413 in every dialect's envelope,
declared or streamed, never buffered, nothing written; uploads under the larger limit still work.

Two servers: one with small limits (4 KiB JSON, 64 KiB any body) for the envelopes, one with the
defaults (1 MiB JSON, 25 MiB any body) for a 100 MB body and a 20 MiB upload.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mediagate.api.app import create_app
from mediagate.api.body_limit import BodyLimit
from mediagate.config import Settings
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings

MiB = 1024 * 1024
JSON_LIMIT = 4096
REQUEST_LIMIT = 64 * 1024
ADMIN = {"Authorization": "Bearer admin-secret"}


class Running:
    def __init__(self, server: ThreadedServer, key: str) -> None:
        self.server = server
        self.url = server.url
        self.key = key
        self.auth = {"Authorization": f"Bearer {key}"}


def _start(settings: Settings) -> tuple[ThreadedServer, str]:
    server = ThreadedServer(create_app(settings)).start()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        account = http.post(
            "/api/v1/admin/accounts", json={"name": "limits", "plan": "enterprise", "credits": 1000}, headers=ADMIN
        ).json()["data"]
        key = http.post(f"/api/v1/admin/accounts/{account['id']}/keys", json={"mode": "test"}, headers=ADMIN).json()[
            "data"
        ]["key"]
    return server, key


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    settings = fast_settings(
        tmp_path_factory.mktemp("small"), json_max_bytes=JSON_LIMIT, request_max_bytes=REQUEST_LIMIT
    )
    server, key = _start(settings)
    try:
        yield Running(server, key)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    server, key = _start(fast_settings(tmp_path_factory.mktemp("default")))
    try:
        yield Running(server, key)
    finally:
        server.stop()


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes of JSON-ish filler in chunks of one reused buffer (httpx sends an iterator chunked)."""
    block = b" " * size
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


# --- the envelopes ---------------------------------------------------------------------------------


def rest(body: dict[str, Any]) -> None:
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "4 KiB" in body["error"]["message"]


def openai(body: dict[str, Any]) -> None:
    error = body["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "payload_too_large", None)
    assert "4 KiB" in error["message"]


def digen_new(body: dict[str, Any]) -> None:
    assert body["error"]["code"] == "payload_too_large" and "4 KiB" in body["error"]["message"]


def digen_old(body: dict[str, Any]) -> None:
    assert body["errCode"] == 413 and "4 KiB" in body["errMsg"]


def graphql(body: dict[str, Any]) -> None:
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["mediagateCode"] == "PAYLOAD_TOO_LARGE"
    assert error["extensions"]["status"] == 413
    assert "4 KiB" in error["message"]


DIALECTS = [
    ("/api/v1/generations", rest),  # the hot route, a plain Starlette endpoint
    ("/api/v1/admin/accounts", rest),  # a FastAPI route (its body reading turns any exception into a 400)
    ("/files/nothing-here", rest),  # no route for POST at all: still the REST envelope
    ("/v1/images/generations", openai),  # the hot route (its catch-all answers any exception as a 500)
    ("/v1/videos", openai),  # a FastAPI route inside OpenAIRoute's catch-all
    ("/b/v1/video/generate", digen_new),
    ("/v2/tools/text_to_image", digen_old),
    ("/graphql", graphql),
]


CASES = [(path, check, False) for path, check in DIALECTS] + [
    (path, check, True)
    for path, check in DIALECTS
    if not path.startswith("/files/")  # (a route that reads)
]


@pytest.mark.parametrize(
    ("path", "check", "streamed"), CASES, ids=[f"{p}-{'chunked' if s else 'declared'}" for p, _, s in CASES]
)
def test_a_json_body_past_the_limit_is_a_413_in_the_routes_envelope(
    small: Running, path: str, check: Any, streamed: bool
) -> None:
    """Declared (Content-Length): refused before reading. Streamed (chunked, no length): the read that
    passes the limit fails inside the route — through its catch-alls — and the 413 is still in its
    dialect."""
    size = JSON_LIMIT + 1
    content: Any = chunks(size, 1000) if streamed else b" " * size
    headers = {**small.auth, **ADMIN} if "admin" in path else small.auth
    response = httpx.post(
        small.url + path, content=content, headers={**headers, "Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413, response.text
    assert response.headers["connection"] == "close"
    check(response.json())


def test_a_streamed_body_no_route_reads_gets_the_routes_own_answer(small: Running) -> None:
    """The streamed limit is enforced on reading: what no route reads costs no memory (the server
    drops it) and gets the answer the route would give anyway."""
    response = httpx.post(small.url + "/files/nothing-here", content=chunks(10 * REQUEST_LIMIT), headers=small.auth)
    assert response.status_code == 405


def test_a_body_with_no_content_type_gets_the_json_limit(small: Running) -> None:
    """FastAPI parses a body without a Content-Type as JSON: it is not an upload."""
    response = httpx.post(small.url + "/api/v1/generations", content=b" " * (JSON_LIMIT + 1), headers=small.auth)
    assert response.status_code == 413
    rest(response.json())


def test_an_oversized_generation_with_a_valid_key_writes_nothing(small: Running) -> None:
    with httpx.Client(base_url=small.url, headers=small.auth, timeout=10) as http:
        before = http.get("/api/v1/account").json()["data"]
        prompt = "a lighthouse " * 400  # ~5 KiB: valid JSON, valid request, too large
        body = {"model": "flux-pro-1.1", "prompt": prompt}
        assert http.post("/api/v1/generations", json=body).status_code == 413
        response = http.post(
            "/api/v1/generations",
            content=iter([json.dumps(body).encode()]),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert http.get("/api/v1/tasks").json()["data"]["tasks"] == []
        assert http.get("/api/v1/account").json()["data"] == before


def png_of(size: int) -> bytes:
    """A valid PNG of about `size` bytes: random RGB pixels, stored uncompressed."""
    side = max(8, int((size / 3) ** 0.5))
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, format="PNG", compress_level=0)
    return out.getvalue()


UPLOADS = [
    ("/api/v1/uploads", rest),
    ("/b/v1/upload", digen_new),
    ("/v1/images/edits", openai),
]


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize(("path", "check"), UPLOADS, ids=[p for p, _ in UPLOADS])
def test_an_upload_past_the_request_limit_is_a_413(small: Running, path: str, check: Any, streamed: bool) -> None:
    """Streamed past the limit, the multipart parser's read fails: the upload routes' `except
    Exception` (malformed multipart → 400) must not swallow it."""
    request = httpx.Request(
        "POST", small.url + path, files={"file" if "edits" not in path else "image": ("x.png", png_of(100_000))}
    )
    body = request.read()
    assert len(body) > REQUEST_LIMIT
    headers = {**small.auth, "Content-Type": request.headers["content-type"]}
    content: Any = iter([body[i : i + 8192] for i in range(0, len(body), 8192)]) if streamed else body
    response = httpx.post(small.url + path, content=content, headers=headers, timeout=10)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert "64 KiB" in error["message"]
    assert error["code"] in ("PAYLOAD_TOO_LARGE", "payload_too_large")


def test_an_upload_over_the_json_limit_is_not_held_to_it(small: Running) -> None:
    data = png_of(20_000)
    assert JSON_LIMIT < len(data) < REQUEST_LIMIT
    response = httpx.post(small.url + "/api/v1/uploads", files={"file": ("x.png", data)}, headers=small.auth)
    assert response.status_code == 201, response.text


def test_a_chunked_body_within_the_limit_is_served(small: Running) -> None:
    body = b'{"query": "{ __typename }"}'
    response = httpx.post(
        small.url + "/graphql", content=iter([body[:5], body[5:]]), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


def read_response(sock: socket.socket, deadline: float, linger: float = 0.0) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, closed) of one Content-Length-framed response; `closed` when the server
    closed the connection within `linger` seconds after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        piece = sock.recv(65536)
        assert piece, f"connection closed before a response: {data!r}"
        data += piece
    head, _, rest_ = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest_) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        piece = sock.recv(65536)
        assert piece, "connection closed inside a response"
        rest_ += piece
    body, extra = rest_[:length], rest_[length:]
    closed = False
    if linger and not extra:
        try:
            sock.settimeout(linger)
            closed = sock.recv(65536) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
    return int(lines[0].split()[1]), headers, body, closed


def test_a_content_length_that_lies_delivers_only_what_it_declares(tmp_path: Path) -> None:
    """Declared small, sent big: the server frames the body by its length (what lets `BodyLimit` skip
    counting declared bodies). The app reads exactly the declared bytes; the rest is parsed as a next
    request, which is no HTTP: 400, closed."""
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        seen.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = fast_settings(tmp_path, json_max_bytes=JSON_LIMIT)
    with ThreadedServer(BodyLimit(app, settings=settings), settings=settings) as server:
        head = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(head.encode() + b"{" * 100)
            assert read_response(sock, time.monotonic() + 5)[:1] == (200,)
            sock.sendall(b"{" * (10 * JSON_LIMIT))  # (alone, so the first answer is not cut off by the 400)
            status, _, _, closed = read_response(sock, time.monotonic() + 5, linger=2)
        assert (status, closed) == (400, True)
    assert seen == [100]


def test_a_client_waiting_for_100_continue_is_refused_at_once(small: Running) -> None:
    head = (
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10 * MiB}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection((small.server.host, small.server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(head.encode())
        status, _, _, closed = read_response(sock, started + 3, linger=2)
        assert status == 413  # (not 100 Continue)
        assert closed and time.monotonic() - started < 2  # not left waiting for a body that will not come


# --- a 100 MB body ---------------------------------------------------------------------------------


def send_big(url: str, path: str, total: int, *, declared: bool) -> tuple[int, dict[str, Any], float]:
    """POST `total` bytes from one reused 256 KiB buffer (a sender thread) while reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    framing = f"Content-Length: {total}" if declared else "Transfer-Encoding: chunked"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
    block = b" " * (256 * 1024)
    piece = block if declared else b"%x\r\n" % len(block) + block + b"\r\n"
    sock = socket.create_connection((host, int(port)), timeout=10)

    def sender() -> None:
        try:
            sock.sendall(head)
            for _ in range(total // len(block)):
                sock.sendall(piece)
            if not declared:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading: expected

    thread = threading.Thread(target=sender, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        status, _, body, _ = read_response(sock, started + 10)
        elapsed = time.monotonic() - started
    finally:
        sock.close()
        thread.join(timeout=10)
    return status, json.loads(body), elapsed


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
def test_a_client_that_sends_its_whole_body_before_reading_still_sees_the_413(default: Running, declared: bool) -> None:
    """As Python's `requests` does. Closing on unread data would reset the connection and lose the
    413 in the client's buffer; the server reads and drops the rest of the body first."""
    total = 8 * MiB
    framing = f"Content-Length: {total}" if declared else "Transfer-Encoding: chunked"
    head = f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    block = b" " * MiB
    piece = block if declared else b"%x\r\n" % len(block) + block + b"\r\n"
    for _ in range(3):
        with socket.create_connection((default.server.host, default.server.port), timeout=10) as sock:
            sock.sendall(head.encode())
            for _ in range(total // len(block)):
                sock.sendall(piece)
            if not declared:
                sock.sendall(b"0\r\n\r\n")
            status, headers, _, closed = read_response(sock, time.monotonic() + 5, linger=6)
        assert (status, headers["connection"], closed) == (413, "close", True)


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "chunked"])
def test_a_100_mb_unauthenticated_graphql_body_is_refused_fast_in_flat_memory(default: Running, declared: bool) -> None:
    """Issue 16 item 5: 100 MB to /graphql was read and parsed (+280 MiB RSS). Now: a 413 within a
    second or so, and the (in-process) server's RSS grows by a few MiB at most."""
    send_big(default.url, "/graphql", 4 * MiB, declared=declared)  # warm up every path once
    before = rss_mib()
    status, body, elapsed = send_big(default.url, "/graphql", 100 * MiB, declared=declared)
    grown = rss_mib() - before
    assert status == 413, body
    assert body["errors"][0]["extensions"]["mediagateCode"] == "PAYLOAD_TOO_LARGE"
    assert elapsed < 3, f"the 413 took {elapsed:.1f} s"
    assert grown < 8, f"RSS grew by {grown:.1f} MiB"
    assert httpx.get(default.url + "/healthz").status_code == 200


def test_an_upload_of_20_mib_still_works(default: Running) -> None:
    """`upload_max_bytes` (20 MiB) fits under `request_max_bytes` (25 MiB), multipart overhead and all."""
    data = png_of(20 * MiB - 64 * 1024)
    assert 19 * MiB < len(data) <= 20 * MiB
    response = httpx.post(
        default.url + "/api/v1/uploads", files={"file": ("big.png", data)}, headers=default.auth, timeout=30
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["bytes"] == len(data)


# --- the cost on the hot routes --------------------------------------------------------------------


def scope(method: str, headers: list[tuple[bytes, bytes]], path: str = "/api/v1/generations") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": headers}


@pytest.mark.parametrize(
    ("method", "headers", "wrapped"),
    [
        ("GET", [(b"host", b"x"), (b"authorization", b"Bearer k")], False),
        ("POST", [(b"content-type", b"application/json"), (b"content-length", b"120")], False),
        ("POST", [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")], True),
    ],
    ids=["get", "declared", "chunked"],
)
async def test_receive_is_wrapped_only_for_bodies_of_no_declared_length(
    tmp_path: Path, method: str, headers: list[tuple[bytes, bytes]], wrapped: bool
) -> None:
    """The hot routes pay a header scan: `receive` itself is handed on untouched unless the body is
    chunked."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent")

    middleware = BodyLimit(app, settings=fast_settings(tmp_path))
    await middleware(scope(method, headers), receive, send)
    assert (seen[0] is not receive) is wrapped
