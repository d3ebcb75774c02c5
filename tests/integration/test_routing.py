"""Routing by priority, fallback before a vendor accepts a job, and per-provider circuit breakers.

The three providers here are scripted adapters registered through the provider seam (the unit under
test is the router and the engine, not a vendor's wire format).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.gateway import Gateway
from mediagate.media.synth import make_image
from mediagate.providers.base import Adapter, Finished, PollResult, ProviderJob, Submitted, VendorServerError
from tests.helpers import fast_settings, make_principal, wait_http

CATALOG = """
[[providers]]
name = "{name}"

[[models]]
id = "{name}/img"
provider = "{name}"
type = "image"
task_types = ["text_to_image"]
quality = {quality}
speed = {speed}
[models.capabilities]
aspect_ratios = ["1:1", "16:9"]
default_aspect_ratio = "1:1"
[models.price]
base = {price}
"""
PROVIDERS = {"alpha": (90, 20, 30), "beta": (70, 8, 10), "gamma": (80, 5, 20)}


class ScriptedAdapter(Adapter):
    def __init__(self, name: str) -> None:
        self.label = name
        self.failing = False
        self.submits = 0

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        self.submits += 1
        if self.failing:
            raise VendorServerError(f"{self.label}: HTTP 503 Service Unavailable", status=503)
        return Finished([OutputRef(MediaType.IMAGE, data=make_image(job.request.prompt, 64, 64), format="png")])

    async def poll(self, job: ProviderJob) -> PollResult:
        raise AssertionError("synchronous")

    async def cancel(self, job: ProviderJob) -> bool:
        return False


@pytest.fixture
async def routed(tmp_path: Path) -> AsyncIterator[tuple[Gateway, dict[str, ScriptedAdapter], httpx.AsyncClient, str]]:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    for name, (quality, speed, price) in PROVIDERS.items():
        (catalog / f"{name}.toml").write_text(CATALOG.format(name=name, quality=quality, speed=speed, price=price))
    settings = fast_settings(
        tmp_path,
        catalog_dir=catalog,
        disabled_providers=["flux", "imagen", "stability", "openai", "minimax", "fal", "replicate"],
        provider_max_retries=0,
        circuit_failure_threshold=2,
        circuit_cooldown_seconds=0.5,
    )
    gateway = Gateway(settings)
    adapters = {name: ScriptedAdapter(name) for name in PROVIDERS}
    for name, adapter in adapters.items():
        gateway.registry.register(name, adapter)
    await gateway.start()
    _, key = await make_principal(gateway, credits=10_000)
    transport = httpx.ASGITransport(app=create_app(settings, gateway=gateway))
    async with httpx.AsyncClient(transport=transport, base_url=settings.base_url) as client:
        yield gateway, adapters, client, key
    await gateway.stop()


async def generate(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"type": "image", "prompt": "a red apple", **body},
    )
    assert response.status_code == 201, response.text
    return await wait_http(client, key, response.json()["data"]["id"])


@pytest.mark.parametrize(
    ("priority", "provider", "credits"), [("quality", "alpha", 30), ("speed", "gamma", 20), ("cost", "beta", 10)]
)
async def test_priority_picks_the_best_cheapest_or_fastest(
    routed: Any, priority: str, provider: str, credits: int
) -> None:
    _, _, client, key = routed
    task = await generate(client, key, priority=priority)
    assert task["status"] == "completed" and task["provider"] == provider and task["credit_cost"] == credits


async def test_upper_case_priority_and_default_quality(routed: Any) -> None:
    _, _, client, key = routed
    assert (await generate(client, key, priority="COST"))["provider"] == "beta"
    assert (await generate(client, key))["provider"] == "alpha"


async def test_503_on_submit_falls_back_and_records_the_attempt(routed: Any) -> None:
    _, adapters, client, key = routed
    adapters["alpha"].failing = True
    task = await generate(client, key, priority="quality")
    assert task["status"] == "completed" and task["provider"] == "gamma"
    assert [a["provider"] for a in task["attempts"]] == ["alpha", "gamma"]
    assert "503" in task["attempts"][0]["error"] and task["attempts"][1]["accepted"] is True


async def test_named_model_has_no_fallback(routed: Any) -> None:
    _, adapters, client, key = routed
    adapters["alpha"].failing = True
    task = await generate(client, key, model="alpha/img")
    assert (task["status"], task["error_code"]) == ("failed", "PROVIDER_ERROR")
    assert adapters["gamma"].submits == 0


async def test_circuit_opens_after_failures_and_closes_after_recovery(routed: Any) -> None:
    gateway, adapters, client, key = routed
    adapters["alpha"].failing = True
    for _ in range(2):
        assert (await generate(client, key))["provider"] == "gamma"
    assert gateway.health.state("alpha") == "open"
    health = await client.get("/api/v1/providers/health", headers={"Authorization": f"Bearer {key}"})
    alpha = next(p for p in health.json()["data"]["providers"] if p["provider"] == "alpha")
    assert alpha["circuit"] == "open" and alpha["consecutive_failures"] == 2
    submits = adapters["alpha"].submits
    assert (await generate(client, key))["provider"] == "gamma"
    assert adapters["alpha"].submits == submits  # an open circuit is not even tried
    adapters["alpha"].failing = False
    await asyncio.sleep(0.6)
    assert gateway.health.state("alpha") == "half_open"
    assert (await generate(client, key))["provider"] == "alpha"
    assert gateway.health.state("alpha") == "closed"


async def test_named_provider_with_an_open_circuit_is_503(routed: Any) -> None:
    gateway, _, client, key = routed
    for _ in range(2):
        gateway.health.failure("alpha", "boom")
    response = await client.post(
        "/api/v1/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "alpha/img", "prompt": "x"},
    )
    assert response.status_code == 503 and "circuit open" in response.json()["error"]["message"]
