"""Fixtures shared by every suite: a started in-process gateway and an ASGI client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.config import Settings
from mediagate.gateway import Gateway
from tests.helpers import fast_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    gw = Gateway(settings)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that talks to the app in-process (no server needed)."""
    app = create_app(gateway.settings, gateway=gateway)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=gateway.settings.base_url) as http:
        yield http


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test (dropped afterwards); see `tests.helpers.pg_database`."""
    from tests.helpers import pg_database

    async with pg_database() as url:
        yield url
