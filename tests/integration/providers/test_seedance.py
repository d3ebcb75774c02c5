"""Seedance contract: the real adapter against a faithful fake of the ModelArk tasks API, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.seedance import FakeSeedance
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, processing, until

VENDOR = VendorSpec(
    fake=lambda: FakeSeedance(api_key="ark-test-key", latency=0.4),
    settings=lambda base: {"seedance_api_key": "ark-test-key", "seedance_base_url": f"{base}/api/v3"},
)


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


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(seedance_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "AuthenticationError" in (done.error_message or "")


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
    await until(processing(gw, principal, task.id))
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await until(lambda: fake[0].calls["delete"])
    assert next(iter(fake[0].jobs.values())).cancelled
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
