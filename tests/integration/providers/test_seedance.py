"""Seedance contract: the real adapter against a faithful fake of the ModelArk tasks API, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.domain.requests import GenerationInput
from mediagate.media.probe import probe
from mediagate.gateway import Gateway
from mediagate.testing.fakes.seedance import FakeSeedance
from tests.helpers import download, fast_settings, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import serve_fake


@pytest.fixture
def fake() -> Iterator[tuple[FakeSeedance, str]]:
    yield from serve_fake(FakeSeedance(api_key="ark-test-key", latency=0.4))


def vendor_settings(tmp_path: Path, base: str, **extra: Any) -> Any:
    values = {"seedance_api_key": "ark-test-key", "seedance_base_url": f"{base}/api/v3", **extra}
    return fast_settings(tmp_path, **values)


@pytest.fixture
async def gw(tmp_path: Path, fake: tuple[FakeSeedance, str]) -> AsyncIterator[Gateway]:
    gateway = Gateway(vendor_settings(tmp_path, fake[1]))
    await gateway.start()
    yield gateway
    await gateway.stop()


@pytest.fixture
async def http(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(gw.settings, gateway=gw))
    async with httpx.AsyncClient(transport=transport, base_url=gw.settings.base_url) as client:
        yield client


def video(prompt: str = "a field of daisies", **kw: Any) -> GenerationInput:
    return GenerationInput(model="seedance 2.0", prompt=prompt, **kw)


async def test_text_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, video(duration=5, aspect_ratio="16:9", resolution="720p", generate_audio=True)
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = next(iter(fake[0].jobs.values())).body
    assert body["model"] == "dreamina-seedance-2-0-260128"
    assert body["content"][0] == {"type": "text", "text": "a field of daisies"}
    assert (body["ratio"], body["resolution"], body["duration"], body["generate_audio"]) == ("16:9", "720p", 5, True)
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 5.0)
    assert done.credit_cost == 43 and done.outputs[0].url.startswith(gw.settings.base_url)
    await ledger_consistent(gw, principal.account_id)


async def test_image_to_video_sends_first_frame(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(image_urls=["https://example.com/girl.png"], aspect_ratio="adaptive"))
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed"
    content = next(iter(fake[0].jobs.values())).body["content"]
    assert content[1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/girl.png"},
        "role": "first_frame",
    }


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video("[fail] a cat"))
    done = await wait_task(gw, principal, task.id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "InternalServiceError" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "sensitive information" in (done.error_message or "")


async def test_input_moderation_at_submit(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")


async def test_wrong_key_fails_as_provider_unavailable(tmp_path: Path, fake: Any) -> None:
    gateway = Gateway(vendor_settings(tmp_path, fake[1], seedance_api_key="wrong"))
    await gateway.start()
    try:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "AuthenticationError" in (done.error_message or "")
    finally:
        await gateway.stop()


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_cancel_while_queued_cancels_at_the_vendor(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video())
    for _ in range(100):
        if (await gw.tasks.get(principal, task.id)).status == "processing":
            break
        await asyncio.sleep(0.02)
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    for _ in range(100):
        if fake[0].calls["delete"]:
            break
        await asyncio.sleep(0.02)
    assert next(iter(fake[0].jobs.values())).cancelled
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(tmp_path: Path, fake: Any) -> None:
    fake[0].latency = 1.5
    settings = vendor_settings(tmp_path, fake[1])
    first = Gateway(settings)
    await first.start()
    principal, _ = await make_principal(first)
    task = await first.tasks.create(principal, video())
    for _ in range(200):
        row = await first.tasks.load(task.id)
        if row is not None and row.provider_job_id:
            break
        await asyncio.sleep(0.01)
    await first.stop()  # like a crash: the job is interrupted mid-poll
    second = Gateway(settings)
    await second.start()
    try:
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
    finally:
        await second.stop()
