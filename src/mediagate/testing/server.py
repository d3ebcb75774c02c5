"""Serving an ASGI app on a real loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from mediagate.api.serving import server_options
from mediagate.config import Settings


class ThreadedServer:
    """`with ThreadedServer(app) as server: httpx.get(server.url + "/…")`

    The server runs with `mediagate serve`'s options (`mediagate.api.serving.server_options`: header
    and keep-alive timeouts) for `settings` — by default the settings of the app's gateway when it has
    one (`create_app`), else the settings' defaults.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, settings: Settings | None = None) -> None:
        self.app = app
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the listening
        # socket says TCP, and without it a response written in two parts waits ~40 ms for a delayed ACK
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        if settings is None:
            gateway = getattr(getattr(app, "state", None), "gateway", None)
            settings = getattr(gateway, "settings", None)
        options = server_options(settings if isinstance(settings, Settings) else None)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"server-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
