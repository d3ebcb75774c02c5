"""Vidu contract: the real adapter against a faithful fake of Vidu's `/ent/v2` API, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.vidu import FakeVidu
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, until, wait_submitted

KEY = "vda_test_key"
START, END = "https://example.com/start.png", "https://example.com/end.png"


VENDOR = VendorSpec(
    fake=lambda: FakeVidu(api_key=KEY, latency=0.4),
    settings=lambda base: {"vidu_api_key": KEY, "vidu_base_url": f"{base}/ent/v2"},
)


def video(prompt: str = "a sneaker turning on a plinth", model: str = "vidu", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


async def test_text_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(duration=8, resolution="1080p", aspect_ratio="4:3", seed=42))
    row = await wait_submitted(gw, task.id)
    assert row.provider_state == {"endpoint": "text2video"}
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.extra["endpoint"] == "text2video"
    body = job.body
    assert (body["model"], body["duration"], body["resolution"], body["aspect_ratio"]) == ("viduq2", 8, "1080p", "4:3")
    assert (body["seed"], body["payload"]) == (42, task.id) and "images" not in body
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.duration, info.width, info.height) == ("mp4", 8.0, 640, 480)
    assert done.credit_cost == 48  # 3/s x 8 s x 2 (1080p)
    await ledger_consistent(gw, principal.account_id)


async def test_one_image_uses_img2video_with_audio(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        video(
            model="vidu q2 pro",
            image_urls=[START],
            generate_audio=True,
            options={"voice_id": "professional_host", "movement_amplitude": "small"},
        ),
    )
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.extra["endpoint"] == "img2video" and fake[0].calls["create_img2video"] == 1
    body = job.body
    assert (body["model"], body["images"], body["audio"]) == ("viduq2-pro", [START], True)
    assert (body["voice_id"], body["movement_amplitude"]) == ("professional_host", "small")
    assert "aspect_ratio" not in body
    assert done.credit_cost == 30  # 4/s x 5 s + 10 for audio


async def test_two_images_use_start_end2video(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, video(model="vidu 2.0", image_urls=[START, END], duration=8, options={"bgm": True})
    )
    row = await wait_submitted(gw, task.id)
    assert row.provider_state == {"endpoint": "start-end2video"}
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["model"], body["images"], body["duration"], body["bgm"]) == ("vidu2.0", [START, END], 8, True)
    assert "resolution" not in body  # Vidu picks 720p for 8 s
    assert done.credit_cost == 20


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(vidu_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway, credits=100)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Unauthorized" in (done.error_message or "")
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (100, 0)


async def test_fake_refuses_the_bearer_scheme(fake: Any) -> None:
    async with httpx.AsyncClient() as client:
        url = f"{fake[1]}/ent/v2/text2video"
        body = {"model": "viduq2", "prompt": "x"}
        bearer = await client.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"})
        token = await client.post(url, json=body, headers={"Authorization": f"Token {KEY}"})
    assert bearer.status_code == 401 and token.status_code == 200
    assert token.json()["state"] == "created"


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "InternalServiceFailure" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")


async def test_input_moderation_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "AuditSubmitIllegal" in (done.error_message or "") and fake[0].submissions == 0


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


async def test_vendor_refusal_of_a_combination_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video(model="vidu 2.0", image_urls=[START], duration=8, resolution="1080p"))
    done = await wait_task(gw, principal, task.id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "resolution 1080p is not supported" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_audio_with_two_images_is_refused_before_the_vendor(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(model="vidu q2 turbo", image_urls=[START, END], generate_audio=True))
    done = await wait_task(gw, principal, task.id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "exactly one image" in (done.error_message or "") and fake[0].calls["create"] == 0


async def test_catalog_refuses_what_vidu_cannot_do(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    for bad, field in [
        (video(image_urls=[START]), "image_urls"),  # viduq2 is text-to-video only
        (video(model="vidu q1", duration=8), "duration"),
        (video(model="vidu q2 pro", image_urls=[START], aspect_ratio="16:9"), "aspect_ratio"),
        (video(negative_prompt="blur"), "negative_prompt"),
        (video(model="vidu q2 pro fast", image_urls=[START], resolution="540p"), "resolution"),
        (video(model="vidu q1", options={"style": "oil"}), "options.style"),
        (video(duration=11), "duration"),
    ]:
        with pytest.raises(InvalidParameter) as err:
            await gw.tasks.create(principal, bad)
        assert err.value.field == field, (bad, err.value.message)


async def test_cancel_while_queued_cancels_at_the_vendor(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video())
    await wait_submitted(gw, task.id)
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await until(lambda: fake[0].calls["cancel"])
    job = only_job(fake)
    assert job.cancelled
    assert fake[0].task_view(job)["err_code"] == "UserCancelled"
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
