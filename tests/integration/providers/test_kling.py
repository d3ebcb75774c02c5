"""Kling contract: the real adapter against a faithful fake of Kling's video API, over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.kling import FakeKling
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, wait_submitted

AK, SK = "ak-kling-test", "sk-kling-secret-0123456789abcdefghij"


VENDOR = VendorSpec(
    fake=lambda: FakeKling(access_key=AK, secret_key=SK, latency=0.4),
    settings=lambda base: {"kling_access_key": AK, "kling_secret_key": SK, "kling_base_url": base},
)


def video(prompt: str = "a paper boat on a stream", model: str = "kling 2.5 turbo", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


async def test_text_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        video(duration=10, aspect_ratio="9:16", resolution="1080p", negative_prompt="blur"),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["model_name"] == "kling-v2-5-turbo"
    assert body["duration"] == "10"  # Kling wants a string
    assert (body["mode"], body["aspect_ratio"], body["negative_prompt"]) == ("pro", "9:16", "blur")
    assert body["external_task_id"] == task.id and "image" not in body and "sound" not in body
    assert fake[0].calls["get_text2video"] >= 1 and fake[0].calls["get_image2video"] == 0
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.duration) == ("mp4", 10.0)
    assert info.height is not None and info.width is not None and info.height > info.width  # 9:16
    assert done.credit_cost == 35  # pro, 10 s
    await ledger_consistent(gw, principal.account_id)


async def test_default_mode_is_std_and_priced_as_std(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    body = only_job(fake).body
    assert (body["mode"], body["duration"], body["aspect_ratio"]) == ("std", "5", "16:9")
    assert done.credit_cost == 11


async def test_image_to_video_polls_the_image2video_path(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        video(image_urls=["https://example.com/start.png", "https://example.com/end.png"], options={"mode": "pro"}),
    )
    assert task.task_type == "image_to_video"
    row = await wait_submitted(gw, task.id)
    assert row.provider_state == {"endpoint": "image2video"}
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["image"], body["image_tail"]) == ("https://example.com/start.png", "https://example.com/end.png")
    assert "aspect_ratio" not in body  # image-to-video follows the image
    assert fake[0].calls["create_image2video"] == 1
    assert fake[0].calls["get_image2video"] >= 1 and fake[0].calls["get_text2video"] == 0


async def test_every_request_carries_a_valid_jwt(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    before = time.time()
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    tokens = fake[0].tokens
    assert len(tokens) == fake[0].calls["create"] + fake[0].calls["get"] >= 2  # one signed token per call
    for claims in tokens:
        assert claims["iss"] == AK
        assert claims["exp"] - claims["nbf"] == 1805  # 30 min validity, nbf 5 s in the past
        assert claims["nbf"] <= time.time() and claims["exp"] >= before + 1700


async def test_expired_token_is_re_signed_once(gw: Gateway, fake: Any) -> None:
    fake[0].expire_next = 1
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 2


async def test_skewed_clock_fails_with_token_expired(vendor: VendorHarness, fake: Any) -> None:
    fake[0].clock_offset = 3600  # the vendor's clock is an hour ahead: every token has expired
    async with vendor.gateway() as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "1004" in (done.error_message or "")
        assert fake[0].submissions == 0


async def test_wrong_secret_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(kling_secret_key="not-the-secret-0123456789abcdefghijkl") as gateway:
        principal, _ = await make_principal(gateway, credits=100)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "1002" in (done.error_message or "")
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (100, 0)


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "Generation failed" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "risk control" in (done.error_message or "")


async def test_input_moderation_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "1301" in (done.error_message or "") and fake[0].submissions == 0


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_errors_inside_http_200_are_still_errors(gw: Gateway, fake: Any) -> None:
    fake[0].errors_in_http_200 = True
    fake[0].inject = [429]
    principal, _ = await make_principal(gw)
    ok = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert ok.status == "completed" and fake[0].calls["create"] == 2  # 1302 in a 200 was retried
    bad = await gw.tasks.create(
        principal, video(model="kling-v1", options={"camera_control": {"type": "simple", "config": {"zoom": 30}}})
    )
    done = await wait_task(gw, principal, bad.id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "1201" in (done.error_message or "") and "camera_control" in (done.error_message or "")


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_camera_control_and_cfg_scale_reach_the_vendor(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    camera = {"type": "simple", "config": {"horizontal": 0, "zoom": 5}}
    task = await gw.tasks.create(
        principal, video(model="kling-v1", options={"camera_control": camera, "cfg_scale": 0.7})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["camera_control"], body["cfg_scale"], body["mode"]) == (camera, 0.7, "std")
    assert done.credit_cost == 7


async def test_kling_26_audio_uses_pro_and_sound(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(
        gw, principal, (await gw.tasks.create(principal, video(model="kling", generate_audio=True))).id
    )
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["model_name"], body["mode"], body["sound"]) == ("kling-v2-6", "pro", "on")
    assert done.credit_cost == 35


async def test_audio_with_std_mode_is_refused_before_the_vendor(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video(model="kling 2.6", generate_audio=True, options={"mode": "std"}))
    done = await wait_task(gw, principal, task.id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "mode 'pro'" in (done.error_message or "") and fake[0].calls["create"] == 0
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_master_models_send_no_mode(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video(model="kling 2.1 master"))).id)
    assert done.status == "completed"
    body = only_job(fake).body
    assert body["model_name"] == "kling-v2-1-master" and "mode" not in body
    assert done.credit_cost == 70


async def test_catalog_refuses_what_kling_cannot_do(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    for bad, field in [
        (video(model="kling-v1", resolution="1080p"), "resolution"),
        (video(duration=7), "duration"),
        (video(seed=3), "seed"),
        (video(aspect_ratio="4:3"), "aspect_ratio"),
        (video(options={"mode": "ultra"}), "options.mode"),
        (video(model="kling 2.1"), "image_urls"),  # image-to-video only
        (video(model="kling 2.5 turbo", options={"camera_control": {"type": "simple"}}), "options.camera_control"),
    ]:
        with pytest.raises(InvalidParameter) as err:
            await gw.tasks.create(principal, bad)
        assert err.value.field == field, (bad, err.value.message)


async def test_seed_graphql_example_provider_kling_with_mode_pro(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        type=MediaType.VIDEO,
        provider="kling",
        prompt="Epic space battle scene",
        duration=10,
        aspect_ratio="16:9",
        options={"mode": "pro"},
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["mode"], body["duration"], body["aspect_ratio"]) == ("pro", "10", "16:9")


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
    assert fake[0].calls["get"] == polls  # Kling has no cancel: we simply stop polling
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_on_the_same_endpoint(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video(image_urls=["https://example.com/a.png"])) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1 and fake[0].calls["get_text2video"] == 0
        await ledger_consistent(second, principal.account_id)
