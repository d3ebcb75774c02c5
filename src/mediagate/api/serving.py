"""The HTTP server's options, one place for `mediagate serve` and the test server (`ThreadedServer`).

    uvicorn.run(app, host=…, port=…, **server_options(settings))

- `http`: `api/http_protocol.py`'s protocol — request headers must arrive within
  `Settings.http_header_timeout_seconds` of their first byte (408 and closed otherwise) and within
  64 KiB (431);
- `timeout_keep_alive`: `Settings.http_keepalive_seconds` — an idle connection, before its first
  request or between two, is closed after this.

`limit_concurrency` and `backlog` are left at uvicorn's defaults (no limit; 2048): a concurrency
limit answers 503 to every client once that many connections are open, which turns a flood of idle
connections into an outage for everyone, while with the bounds above each such connection is gone
within seconds and costs ~8 KiB meanwhile (2,000 connections with unfinished headers: +15 MiB of
RSS; docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypedDict

from mediagate.config import Settings

log = logging.getLogger("mediagate.api.serving")


class ServerOptions(TypedDict):
    """Keyword arguments for `uvicorn.Config` / `uvicorn.run`."""

    http: type[asyncio.Protocol] | str
    timeout_keep_alive: int


def _default(name: str) -> float:
    value: float = Settings.model_fields[name].default
    return value


def server_options(settings: Settings | None = None) -> ServerOptions:
    """The server options for these settings (None: the settings' defaults, without reading the environment)."""
    header_timeout = settings.http_header_timeout_seconds if settings else _default("http_header_timeout_seconds")
    keepalive = settings.http_keepalive_seconds if settings else _default("http_keepalive_seconds")
    http: type[asyncio.Protocol] | str
    try:
        from mediagate.api.http_protocol import header_bound_protocol
    except ImportError:  # no httptools (uvicorn without [standard], e.g. on PyPy): h11, unbounded headers
        log.warning("httptools is not installed: request headers are not time-bounded (docs/security.md)")
        http = "h11"
    else:
        http = header_bound_protocol(header_timeout)
    # uvicorn annotates `timeout_keep_alive` as an int but only hands it to `loop.call_later`, so a
    # fraction of a second works (the contract test checks it)
    return {"http": http, "timeout_keep_alive": keepalive}  # type: ignore[typeddict-item]  # float, see above
