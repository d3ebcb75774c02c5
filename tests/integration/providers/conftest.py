"""Provider contract tests' scaffolding: a vendor fake on a real loopback port, and gateways pointed at it.

A test module declares its vendor once, as a module attribute::

    VENDOR = VendorSpec(
        fake=lambda: FakeSeedance(api_key="ark-test-key", latency=0.4),
        settings=lambda base: {"seedance_api_key": "ark-test-key", "seedance_base_url": f"{base}/api/v3"},
    )

and its tests ask for the fixtures below, which read it:

- `fake`: ``(the fake, its base URL)``, served for the one test on a free port;
- `gw`: a started gateway on the vendor's settings; `http`: an in-process HTTP client on `gw`;
- `vendor`: a `VendorHarness` on the same fake and data dir, for the rest: ``vendor.settings(**overrides)``
  (an adapter on its own), ``async with vendor.gateway(**overrides) as gateway:`` (a wrong key, other
  settings) and ``async with vendor.restarted(inp) as (gateway, principal, task, row):`` (a crash mid-poll).

`until`, `processing`, `wait_submitted`, `only_job` and `decode` are the waits and look-ups the files share.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from mediagate.api.app import create_app
from mediagate.config import Settings
from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.services.views import Principal, TaskView
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings, make_principal


class ServedFake(Protocol):
    """What serving a fake needs: its app, and where it is served (for the file URLs it hands out).

    Every `mediagate.testing.fakes.common.FakeVendor` subclass is one; the base class itself has no `app`.
    """

    base_url: str

    def app(self) -> Starlette: ...


@dataclass(frozen=True)
class VendorSpec:
    """How one vendor's contract tests reach its fake (a test module's `VENDOR`)."""

    #: builds the fake, with its knobs (credentials, latency, extra state)
    fake: Callable[[], ServedFake]
    #: the fake's base URL -> the settings that point the gateway at it (credentials, `*_base_url`, …)
    settings: Callable[[str], dict[str, Any]]
    #: operator catalog files (name -> TOML) written to a `catalog_dir` the settings name
    catalog: dict[str, str] = field(default_factory=dict)
    #: pretend every host resolves to a public address: input URLs are SSRF-checked at request time and
    #: this sandbox has no DNS
    public_dns: bool = False


async def public_resolver(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def serve_fake(fake: ServedFake) -> Generator[tuple[Any, str], None, None]:
    """Start `fake` on a free port; yields (fake, base url). Use from a fixture with `yield from`."""
    server = ThreadedServer(fake.app())
    # the listening socket is made without IPPROTO_TCP, so asyncio does not set TCP_NODELAY on the
    # connections it accepts: every answer on a kept-alive connection then waited ~40 ms for a delayed
    # ACK (Nagle). Set on the listener, the option is inherited by every accepted connection.
    server.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with server:
        fake.base_url = server.url
        yield fake, server.url


@dataclass
class VendorHarness:
    """Settings and gateways pointed at a served fake; every gateway shares one data dir (and database)."""

    spec: VendorSpec
    base_url: str
    data_dir: Path

    def settings(self, **overrides: Any) -> Settings:
        values = self.spec.settings(self.base_url)
        if self.spec.catalog:
            catalog = self.data_dir / "catalog"
            catalog.mkdir(exist_ok=True)
            for name, text in self.spec.catalog.items():
                (catalog / name).write_text(text)
            values["catalog_dir"] = catalog
        return fast_settings(self.data_dir, **{**values, **overrides})

    @asynccontextmanager
    async def gateway(self, **overrides: Any) -> AsyncIterator[Gateway]:
        """A started gateway on this vendor's settings with `overrides`, stopped on exit."""
        gateway = Gateway(self.settings(**overrides))
        if self.spec.public_dns:
            gateway.guard.resolver = public_resolver
        await gateway.start()
        try:
            yield gateway
        finally:
            await gateway.stop()

    @asynccontextmanager
    async def restarted(self, inp: GenerationInput) -> AsyncIterator[tuple[Gateway, Principal, TaskView, Any]]:
        """Submit `inp` on one gateway, stop it once the vendor job exists (a crash mid-poll), start another.

        Yields (the second gateway, the principal, the task as created, its row as the first gateway left it).
        """
        async with self.gateway() as first:
            principal, _ = await make_principal(first)
            task = await first.tasks.create(principal, inp)
            row = await wait_submitted(first, task.id)
        async with self.gateway() as second:
            yield second, principal, task, row


def spec_of(request: pytest.FixtureRequest) -> VendorSpec:
    spec = getattr(request.module, "VENDOR", None)
    if not isinstance(spec, VendorSpec):
        raise TypeError(f"{request.module.__name__} must declare VENDOR = VendorSpec(...) to use the vendor fixtures")
    return spec


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    yield from serve_fake(spec_of(request).fake())


@pytest.fixture
def vendor(request: pytest.FixtureRequest, fake: tuple[Any, str], tmp_path: Path) -> VendorHarness:
    return VendorHarness(spec_of(request), fake[1], tmp_path)


@pytest.fixture
async def gw(vendor: VendorHarness) -> AsyncIterator[Gateway]:
    async with vendor.gateway() as gateway:
        yield gateway


@pytest.fixture
async def http(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(gw.settings, gateway=gw))
    async with httpx.AsyncClient(transport=transport, base_url=gw.settings.base_url) as client:
        yield client


async def until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Wait until `condition()` (sync, or returning an awaitable) is truthy; False after `timeout` seconds.

    Not an assertion: the test's own checks that follow say what must hold.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


async def wait_submitted(gateway: Gateway, task_id: str, timeout: float = 10.0) -> Any:
    """The task's row once the vendor job exists (`provider_job_id` is set)."""
    deadline = time.monotonic() + timeout
    while True:
        row = await gateway.tasks.load(task_id)
        if row is not None and row.provider_job_id:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} never submitted")
        await asyncio.sleep(0.01)


def only_job(fake: tuple[Any, str]) -> Any:
    """The fake's one job (there must be exactly one)."""
    jobs = list(fake[0].jobs.values())
    assert len(jobs) == 1
    return jobs[0]


def decode(data: bytes) -> tuple[str | None, int, int]:
    """An image's (format, width, height), read by Pillow."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.format, img.width, img.height


def processing(gateway: Gateway, principal: Principal, task_id: str) -> Callable[[], Awaitable[bool]]:
    """A condition for `until`: the task is processing."""

    async def check() -> bool:
        return (await gateway.tasks.get(principal, task_id)).status == "processing"

    return check
