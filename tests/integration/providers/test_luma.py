"""Luma contract: the real adapter against a faithful fake of the Dream Machine API, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.luma import FakeLuma
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, wait_submitted

KEY = "luma-0123456789"
START, END = "https://example.com/first.png", "https://example.com/last.png"


VENDOR = VendorSpec(
    fake=lambda: FakeLuma(api_key=KEY, latency=0.4),
    settings=lambda base: {"luma_api_key": KEY, "luma_base_url": f"{base}/dream-machine/v1"},
)


def video(prompt: str = "a jellyfish made of glass", model: str = "luma ray 2", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


async def test_text_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(duration=9, aspect_ratio="21:9", resolution="1080p"))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["generation_type"], body["model"], body["duration"]) == ("video", "ray-2", "9s")
    assert (body["aspect_ratio"], body["resolution"], body["prompt"]) == ("21:9", "1080p", "a jellyfish made of glass")
    assert "keyframes" not in body
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.duration, info.height) == ("mp4", 9.0, 480)
    assert info.width is not None and info.width > 2 * info.height  # 21:9
    assert done.credit_cost == 142  # 7/s x 9 s x 2.25 (1080p), rounded up
    await ledger_consistent(gw, principal.account_id)


async def test_seed_graphql_example_model_luma_duration_9(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="luma", prompt="Beautiful sunset over ocean", duration=9)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    assert (done.model, done.model_id) == ("luma", "luma-ray-2")
    body = only_job(fake).body
    assert (body["model"], body["duration"], body["resolution"]) == ("ray-2", "9s", "720p")
    assert done.credit_cost == 63


async def test_images_become_keyframes(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(image_urls=[START, END], prompt="morph"))
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body["keyframes"] == {
        "frame0": {"type": "image", "url": START},
        "frame1": {"type": "image", "url": END},
    }


async def test_one_image_is_frame0(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video(image_urls=[START]))).id)
    assert done.status == "completed"
    assert only_job(fake).body["keyframes"] == {"frame0": {"type": "image", "url": START}}


async def test_loop_and_concepts_reach_the_vendor(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, video(model="ray-flash-2", options={"loop": True, "concepts": ["dolly_zoom"]})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["model"], body["loop"], body["concepts"]) == ("ray-flash-2", True, [{"key": "dolly_zoom"}])
    assert done.credit_cost == 12


async def test_ray_16_sends_no_duration_or_resolution(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video(model="ray 1.6"))).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["model"] == "ray-1-6" and "duration" not in body and "resolution" not in body
    assert done.credit_cost == 25


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(luma_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway, credits=100)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Invalid API key" in (done.error_message or "")
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (100, 0)


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "Internal server error" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "moderation" in (done.error_message or "")


async def test_input_moderation_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert fake[0].submissions == 0


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


async def test_catalog_refuses_what_luma_cannot_do(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    for bad, field in [
        (video(duration=10), "duration"),
        (video(seed=1), "seed"),
        (video(negative_prompt="blur"), "negative_prompt"),
        (video(resolution="360p"), "resolution"),
        (video(model="ray 1.6", resolution="720p"), "resolution"),
        (video(model="ray 1.6", duration=9), "duration"),
        (video(generate_audio=True), "generate_audio"),
        (video(image_urls=[START, END, START]), "image_urls"),
    ]:
        with pytest.raises(InvalidParameter) as err:
            await gw.tasks.create(principal, bad)
        assert err.value.field == field, (bad, err.value.message)


async def test_cancel_stops_polling(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video())
    await wait_submitted(gw, task.id)
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.3)
    polls = fake[0].calls["get"]
    await asyncio.sleep(0.6)
    assert fake[0].calls["get"] == polls  # Luma has no cancel: we simply stop polling
    assert fake[0].calls["delete"] == 0  # and never delete the vendor's record
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
