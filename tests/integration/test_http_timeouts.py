"""Slow and idle connections (`api/http_protocol.py`, `api/serving.py`) on a real server on 127.0.0.1,
with test-shortened timeouts — and the contract with uvicorn's internals the protocol relies on.

If a test named `test_contract_*` fails after a uvicorn upgrade: `mediagate/api/http_protocol.py`
needs revisiting (and the upper bound on uvicorn in pyproject.toml stays until it has been).
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click.testing
import httpx
import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.server import ServerState

from mediagate.api import http_protocol
from mediagate.api.app import create_app
from mediagate.api.http_protocol import RELIED_ON_ATTRIBUTES, RELIED_ON_METHODS, HeaderBoundProtocol
from mediagate.api.serving import server_options
from mediagate.config import Settings
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings

HEADER_TIMEOUT = 1.0
KEEPALIVE = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    settings = fast_settings(
        tmp_path_factory.mktemp("timeouts"),
        http_header_timeout_seconds=HEADER_TIMEOUT,
        http_keepalive_seconds=KEEPALIVE,
    )
    with ThreadedServer(create_app(settings)) as running:
        yield running


def connect(server: ThreadedServer) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=5)


def wait_closed(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """(seconds until the server closed the connection or None after `limit`, what it sent meanwhile)."""
    started = time.monotonic()
    received = b""
    while (left := limit - (time.monotonic() - started)) > 0:
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return time.monotonic() - started, received
        if not piece:
            return time.monotonic() - started, received
        received += piece
    return None, received


SLOW_START = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def slowloris(
    sock: socket.socket, every: float, limit: float, start: bytes = SLOW_START, byte: bytes = b"a"
) -> tuple[float | None, bytes]:
    """Send `start`, then one byte per `every` seconds: (seconds until closed or None, what came back)."""
    sock.sendall(start)
    started = time.monotonic()
    received = b""
    sock.settimeout(every)
    while time.monotonic() - started < limit:
        try:
            sock.sendall(byte)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started, received
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started, received
        if not piece:
            return time.monotonic() - started, received
        received += piece
    return None, received


SLOW_STARTS = {
    "new-connection": (SLOW_START, b"a"),
    # the slow request begins in the same packet as a complete one before it
    "after-a-request": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + SLOW_START, b"a"),
    # bytes that begin no request at all (the parser skips CRLFs between requests)
    "crlf-only": (b"\r\n", b"\r\n"),
}


@pytest.mark.parametrize("how", list(SLOW_STARTS))
def test_slow_headers_are_cut_off_while_a_normal_client_is_served(server: ThreadedServer, how: str) -> None:
    result: dict[str, Any] = {}

    def slow() -> None:
        start, byte = SLOW_STARTS[how]
        with connect(server) as sock:
            result["closed"], result["answer"] = slowloris(sock, 0.2, HEADER_TIMEOUT + 3, start, byte)

    thread = threading.Thread(target=slow)
    thread.start()
    statuses: list[int] = []
    with httpx.Client(base_url=server.url, timeout=5) as http:
        while thread.is_alive() and len(statuses) < 200:
            statuses.append(http.get("/healthz").status_code)
            time.sleep(0.02)
    thread.join(timeout=10)
    assert statuses and set(statuses) == {200}
    assert result["closed"] is not None, "the slow client was never cut off"
    assert HEADER_TIMEOUT * 0.8 <= result["closed"] <= HEADER_TIMEOUT + 1.5
    answer = result["answer"]
    if how == "after-a-request":
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        answer = answer[answer.index(b"}") + 1 :]
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in answer


def test_a_new_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(server: ThreadedServer) -> None:
    with connect(server) as sock:
        closed, received = wait_closed(sock, KEEPALIVE + 2)
    assert closed is not None and KEEPALIVE * 0.8 <= closed <= KEEPALIVE + 1 and received == b""


def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(server: ThreadedServer) -> None:
    with connect(server) as sock:
        for _ in range(2):  # the first request, and one after the timer was armed and cancelled again
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK")
        closed, _ = wait_closed(sock, KEEPALIVE + 2)
    assert closed is not None and KEEPALIVE * 0.8 <= closed <= KEEPALIVE + 1


def test_a_slow_body_is_not_cut_off_by_the_header_timer(server: ThreadedServer) -> None:
    """Headers at once, then the body over 1.5 header timeouts: answered normally."""
    body = b'{"query": "{ __typename }"}' + b" " * 13
    head = f"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(head.encode())
        for i in range(0, len(body), 4):
            time.sleep(HEADER_TIMEOUT * 1.5 / (len(body) / 4))
            sock.sendall(body[i : i + 4])
        sock.settimeout(5)
        answer = b""
        while not answer.endswith(b"}"):
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'{"data":{"__typename":"Query"}}')


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_headers_that_never_end_are_refused_in_flat_memory(server: ThreadedServer) -> None:
    """httptools has no header size limit of its own: uvicorn kept every byte (160 MB of headers =
    +160 MiB RSS). Past 64 KiB: 431, closed; the (in-process) server's memory stays flat."""
    before = rss_mib()
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Flood: " + b"a" * 4000 + b"\r\n"

        def flood() -> None:
            try:
                for _ in range(8000):  # 32 MB
                    sock.sendall(line)
            except OSError:
                pass  # closed on us: expected

        thread = threading.Thread(target=flood)
        thread.start()
        closed, received = wait_closed(sock, 5)
        thread.join(timeout=10)
    assert closed is not None and closed < 2
    assert received.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert rss_mib() - before < 8


async def lifespan_or(scope: Any, receive: Any, send: Any) -> bool:
    """Answer the lifespan protocol; True when `scope` was it."""
    if scope["type"] != "lifespan":
        return False
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})
    return True


def test_a_pipelined_request_arriving_slowly_lets_the_response_before_it_finish(tmp_path: Path) -> None:
    """A request's headers left unfinished behind a response still being sent: that response is
    completed, then the connection closes (no 408 cutting it off)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if await lifespan_or(scope, receive, send):
            return
        await asyncio.sleep(0.8)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"slow"})

    settings = fast_settings(tmp_path, http_header_timeout_seconds=0.3, http_keepalive_seconds=5)
    with ThreadedServer(app, settings=settings) as running, connect(running) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo")
        closed, received = wait_closed(sock, 3)
    assert closed is not None and 0.7 < closed < 2
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\n\r\nslow")
    assert b"connection: close" in received


def test_headers_just_under_the_size_limit_are_served(server: ThreadedServer) -> None:
    big = "a" * (http_protocol.MAX_HEADER_BYTES - 1024)
    response = httpx.get(server.url + "/healthz", headers={"X-Big": big})
    assert response.status_code == 200


def test_serve_and_the_test_server_start_uvicorn_with_the_same_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediagate.cli import server as cli_server

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cli_server, "tune_gc", lambda: None)  # (it would freeze this test process's collector)
    monkeypatch.setenv("MEDIAGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDIAGATE_HTTP_HEADER_TIMEOUT_SECONDS", "3.5")
    monkeypatch.setenv("MEDIAGATE_HTTP_KEEPALIVE_SECONDS", "2.5")
    result = click.testing.CliRunner().invoke(cli_server.serve, ["--port", "0"])
    assert result.exit_code == 0, result.output
    (served,) = calls
    assert issubclass(served["http"], HeaderBoundProtocol)
    assert (served["http"].header_timeout, served["timeout_keep_alive"]) == (3.5, 2.5)

    settings = fast_settings(tmp_path, http_header_timeout_seconds=3.5, http_keepalive_seconds=2.5)
    test_server = ThreadedServer(create_app(settings))
    try:
        config = test_server.server.config
        protocol = config.http
        assert isinstance(protocol, type) and issubclass(protocol, HeaderBoundProtocol)
        assert (protocol.header_timeout, config.timeout_keep_alive) == (3.5, 2.5)
    finally:
        test_server.sock.close()


# --- the contract with uvicorn ------------------------------------------------------------------------


def test_contract_uvicorn_protocol_has_what_http_protocol_relies_on() -> None:
    """mediagate/api/http_protocol.py overrides or calls these on uvicorn's HttpToolsProtocol."""
    cls = httptools_impl.HttpToolsProtocol
    expected = {
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "data_received": ["self", "data"],
        "on_message_begin": ["self"],
        "on_headers_complete": ["self"],
        "on_message_complete": ["self"],
        "timeout_keep_alive_handler": ["self"],
    }
    assert set(expected) == set(RELIED_ON_METHODS)
    for name, parameters in expected.items():
        method = getattr(cls, name, None)
        assert callable(method), f"uvicorn's HttpToolsProtocol has no {name}: revisit mediagate/api/http_protocol.py"
        assert list(inspect.signature(method).parameters) == parameters, (
            f"HttpToolsProtocol.{name} changed signature: revisit mediagate/api/http_protocol.py"
        )

    async def build() -> httptools_impl.HttpToolsProtocol:
        config = uvicorn.Config(lambda *_: None, http="httptools")
        config.load()
        return cls(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())

    protocol = asyncio.run(build())
    for attribute in RELIED_ON_ATTRIBUTES:
        assert hasattr(protocol, attribute), f"HttpToolsProtocol lost `{attribute}`: revisit api/http_protocol.py"
    cycle_init = inspect.getsource(httptools_impl.RequestResponseCycle.__init__)
    for attribute in ("self.keep_alive", "self.response_complete"):
        assert attribute in cycle_init, f"RequestResponseCycle lost `{attribute}`: revisit api/http_protocol.py"
    # the keep-alive timer is still the attribute uvicorn's data_received cancels
    assert "self._unset_keepalive_if_required()" in inspect.getsource(cls.data_received)
    assert "self.timeout_keep_alive_task" in inspect.getsource(cls._unset_keepalive_if_required)


def test_contract_uvicorn_takes_our_protocol_and_a_fractional_keepalive() -> None:
    options = server_options(Settings.model_construct(http_header_timeout_seconds=2.0, http_keepalive_seconds=0.3))
    config = uvicorn.Config(lambda *_: None, **options)
    config.load()
    assert config.http_protocol_class is options["http"]
    assert config.timeout_keep_alive == 0.3  # only handed to loop.call_later (checked by the keep-alive test)


def test_contract_uvicorn_still_has_no_header_timeout_of_its_own(tmp_path: Path) -> None:
    """What the protocol exists for, on the installed uvicorn. When this fails, uvicorn has grown a
    header bound: prefer its option to mediagate/api/http_protocol.py."""
    parameters = set(inspect.signature(uvicorn.Config).parameters)
    grown = {p for p in parameters if any(word in p for word in ("header", "timeout", "limit", "max"))} - _KNOWN
    assert not grown, f"uvicorn has new options {grown}: can they replace mediagate/api/http_protocol.py?"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if await lifespan_or(scope, receive, send):
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http="httptools", timeout_keep_alive=0.2, log_level="warning")  # type: ignore[arg-type]  # a float works
    stock = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(stock.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        while not stock.started:
            time.sleep(0.01)
        host, port = sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=5) as idle, socket.create_connection((host, port)) as slow:
            closed, _ = slowloris(slow, 0.1, limit=1.0)
            assert closed is None, "stock uvicorn now cuts slow headers off"
            assert wait_closed(idle, 0.1)[0] is None, "stock uvicorn now closes idle new connections"
    finally:
        stock.should_exit = True
        thread.join(timeout=10)
        sock.close()


#: uvicorn 0.55's options about headers, timeouts and limits: none bounds header time or size on httptools
_KNOWN = {
    "date_header",
    "h11_max_incomplete_event_size",
    "headers",
    "limit_concurrency",
    "limit_max_requests",
    "limit_max_requests_jitter",
    "proxy_headers",
    "server_header",
    "timeout_graceful_shutdown",
    "timeout_keep_alive",
    "timeout_notify",
    "timeout_worker_healthcheck",
    "ws_max_queue",
    "ws_max_size",
    "ws_ping_timeout",
}
