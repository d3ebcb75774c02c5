"""Hedra contract: the real adapter against a faithful fake of Hedra's public web API, over HTTP.

Inputs named by URL are fetched and uploaded as Hedra assets; audio lip-sync and text-to-speech;
failure, moderation, auth, rate limits, the idempotent generation id, and refusing private URLs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import ProviderJob
from mediagate.providers.hedra import generation_id
from mediagate.testing.fakes.hedra import CHARACTER_3, VOICES, FakeHedra
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, until

VENDOR = VendorSpec(
    fake=lambda: FakeHedra(api_key="hd-test-key", latency=0.4, sample_seconds=2.0),
    settings=lambda base: {
        "hedra_api_key": "hd-test-key",
        "hedra_base_url": f"{base}/web-app/public",
        "allow_private_urls": True,  # the inputs are served by the fake on 127.0.0.1
    },
)


def avatar(fake: Any, prompt: str | None = None, *, audio: bool = True, **kw: Any) -> GenerationInput:
    base = fake[1]
    return GenerationInput(
        model="hedra character-3",
        prompt=prompt,
        image_urls=[f"{base}/samples/face.png"],
        audio_url=f"{base}/samples/voice.wav" if audio else None,
        **kw,
    )


async def test_lip_sync_uploads_inputs_and_completes_with_a_valid_mp4(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, avatar(fake, "a warm smile", aspect_ratio="9:16", resolution="540p", seed=3)
    )
    assert (task.type, task.task_type) == ("avatar", "avatar")
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["ai_model_id"] == CHARACTER_3 and body["generation_id"] == generation_id(task.id)
    image, audio = fake[0].assets[body["start_keyframe_id"]], fake[0].assets[body["audio_id"]]
    assert (image["type"], image["format"], audio["type"], audio["format"]) == ("image", "png", "audio", "wav")
    assert body["generated_video_inputs"] == {
        "text_prompt": "a warm smile",
        "resolution": "540p",
        "aspect_ratio": "9:16",
        "seed": 3,
    }
    assert "audio_generation" not in body
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 480, 854, 2.0)
    assert done.outputs[0].media_type == "avatar" and done.credit_cost == 40
    await ledger_consistent(gw, principal.account_id)


async def test_text_to_speech_without_audio_uses_the_first_voice(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = avatar(fake, "Welcome to the show, everyone!", audio=False, options={"speed": 1.1})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["audio_generation"] == {
        "type": "text_to_speech",
        "voice_id": VOICES[0]["id"],
        "text": "Welcome to the show, everyone!",
        "speed": 1.1,
    }
    assert "audio_id" not in body and fake[0].calls["voices"] == 1
    assert body["generated_video_inputs"]["text_prompt"] == "A person talking naturally to the camera."
    assert done.credit_cost == 60  # 720p default


async def test_named_voice_and_video_prompt(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = avatar(fake, "Hi there.", audio=False, voice=VOICES[1]["id"], options={"video_prompt": "laughing"})
    assert (await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)).status == "completed"
    body = only_job(fake).body
    assert body["audio_generation"]["voice_id"] == VOICES[1]["id"] and fake[0].calls["voices"] == 0
    assert body["generated_video_inputs"]["text_prompt"] == "laughing"


async def test_requests_missing_image_or_audio_and_prompt_are_refused(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter):
        await gw.tasks.create(principal, GenerationInput(model="hedra", audio_url=f"{fake[1]}/samples/voice.wav"))
    with pytest.raises(InvalidParameter):
        await gw.tasks.create(principal, avatar(fake, None, audio=False))
    assert fake[0].calls["asset"] == 0


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar(fake, "[fail] x"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "could not animate" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_moderation_while_running_and_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar(fake, "[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "MODERATION_FAILED" in (done.error_message or "")
    blocked = avatar(fake, "[blocked] say this", audio=False)
    refused = await wait_task(gw, principal, (await gw.tasks.create(principal, blocked)).id)
    assert (refused.status, refused.error_code) == ("failed", "CONTENT_POLICY")


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(hedra_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, avatar(fake, "hi"))).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Invalid API key" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar(fake, "hi"))).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1


async def test_lost_answer_retry_finds_the_existing_generation(gw: Gateway, fake: Any) -> None:
    """A submit retried after Hedra created the generation does not create a second one."""
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, avatar(fake, "hi"))
    adapter: Any = gw.registry.get("hedra")
    row = await gw.tasks.load(task.id)
    assert row is not None
    await wait_task(gw, principal, task.id)
    request = GenerationRequest.model_validate(
        {k: v for k, v in row.request.items() if k not in ("fallbacks", "input")}
    )
    again = await adapter.submit(ProviderJob(task.id, request))  # as if the first answer was lost
    assert again.vendor_job_id == generation_id(task.id) and fake[0].submissions == 1


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500] * 30
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar(fake, "hi"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_bad_inputs_fail_without_a_generation(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    not_audio = avatar(fake, "hi").model_copy(update={"audio_url": f"{fake[1]}/samples/notes.txt"})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, not_audio)).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "audio_url is not a supported audio file" in (done.error_message or "")
    missing = avatar(fake, "hi").model_copy(update={"image_urls": [f"{fake[1]}/samples/nope.png"]})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, missing)).id)
    assert "HTTP 404" in (done.error_message or "") and fake[0].submissions == 0


async def test_redirected_input_is_followed(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    moved = avatar(fake, "hi").model_copy(update={"image_urls": [f"{fake[1]}/samples/moved.png"]})
    assert (await wait_task(gw, principal, (await gw.tasks.create(principal, moved)).id)).status == "completed"


async def test_private_input_urls_are_refused_before_anything_is_reserved(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(allow_private_urls=False) as gateway:
        principal, _ = await make_principal(gateway, credits=100)
        with pytest.raises(InvalidParameter, match="only public addresses"):
            await gateway.tasks.create(principal, avatar(fake, "hi"))
        assert fake[0].calls["asset"] == 0
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (100, 0)


async def test_cancel_stops_polling_there_is_no_vendor_cancel(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, avatar(fake, "hi"))
    await until(lambda: fake[0].calls["status"])
    assert (await gw.tasks.cancel(principal, task.id)).status == "cancelled"
    await asyncio.sleep(0.3)
    polls = fake[0].calls["status"]
    await asyncio.sleep(0.5)
    assert fake[0].calls["status"] == polls
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(avatar(fake, "hi")) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed" and fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
