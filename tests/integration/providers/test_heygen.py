"""HeyGen contract: the real adapter against a faithful fake of HeyGen's v2 avatar-video API, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediagate.catalog.loader import load_catalog
from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import ProviderContext, ProviderJob, VendorBadRequest
from mediagate.providers.heygen import HeyGenAdapter
from mediagate.services.validation import validate
from mediagate.testing.fakes.heygen import FakeHeyGen
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, processing, until

KEY = "heygen-test-key"
TEXT = "Hello, I'm your AI assistant"


VENDOR = VendorSpec(
    fake=lambda: FakeHeyGen(api_key=KEY, latency=0.4),
    settings=lambda base: {"heygen_api_key": KEY, "heygen_base_url": base},
    public_dns=True,
)


def avatar(prompt: str | None = TEXT, **kw: Any) -> GenerationInput:
    return GenerationInput(type=MediaType.AVATAR, provider="heygen", prompt=prompt, **kw)


def only_body(fake: Any) -> dict[str, Any]:
    (job,) = fake[0].jobs.values()
    body: dict[str, Any] = job.body
    return body


async def test_seed_avatar_example(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    """The seed's GraphQL example: avatarId "kate", background "modern_office", gesture "friendly"."""
    principal, _ = await make_principal(gw)
    seed_options = {"avatarId": "kate", "background": "modern_office", "gesture": "friendly"}
    with pytest.raises(InvalidParameter) as gesture:
        await gw.tasks.create(principal, avatar(voice="professional_female", options=seed_options))
    assert gesture.value.field == "options.gesture"
    assert "avatarId" in gesture.value.message and "background" in gesture.value.message
    assert fake[0].submissions == 0

    without_gesture = {k: v for k, v in seed_options.items() if k != "gesture"}
    task = await gw.tasks.create(principal, avatar(voice="professional_female", options=without_gesture))
    assert (task.model_id, task.task_type, task.type) == ("heygen-avatar", "avatar", "avatar")
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    assert body["video_inputs"] == [
        {
            "character": {"type": "avatar", "avatar_id": "kate"},
            "voice": {"type": "text", "voice_id": "professional_female", "input_text": TEXT},
            "background": {"type": "image", "image_asset_id": "modern_office"},
        }
    ]
    assert body["dimension"] == {"width": 1280, "height": 720} and body["callback_id"] == task.id
    output = done.outputs[0]
    assert output.media_type == "avatar"
    info = probe(await download(http, output.url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 2.0)
    assert done.credit_cost == 110 and done.provider == "heygen"
    await ledger_consistent(gw, principal.account_id)


async def test_defaults_and_voice_tuning(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    options = {
        "background": "#FAFAFA",
        "avatarStyle": "closeUp",
        "voiceSpeed": 1.1,
        "voicePitch": -5,
        "voiceEmotion": "Friendly",
        "caption": True,
        "test": True,
    }
    task = await gw.tasks.create(principal, avatar("Welcome aboard.", aspect_ratio="9:16", options=options))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    scene = body["video_inputs"][0]
    assert scene["character"] == {"type": "avatar", "avatar_id": "Angela-inTshirt-20220820", "avatar_style": "closeUp"}
    assert scene["voice"] == {
        "type": "text",
        "voice_id": "1bd001e7e50f421d891986aad5158bc8",
        "input_text": "Welcome aboard.",
        "speed": 1.1,
        "pitch": -5,
        "emotion": "Friendly",
    }
    assert scene["background"] == {"type": "color", "value": "#FAFAFA"}
    assert (body["dimension"], body["caption"], body["test"]) == ({"width": 720, "height": 1280}, True, True)
    info = probe(await download(http, done.outputs[0].url))
    assert (info.width, info.height) == (720, 1280)


async def test_audio_driven_video_with_a_video_background(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        avatar(
            None,
            audio_url="https://example.com/speech.mp3",
            options={"background": "https://example.com/office.mp4", "avatarId": "Daisy-inskirt-20220818"},
        ),
    )
    assert task.credit_cost == 110
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    scene = only_body(fake)["video_inputs"][0]
    assert scene["voice"] == {"type": "audio", "audio_url": "https://example.com/speech.mp3"}
    assert scene["background"] == {"type": "video", "url": "https://example.com/office.mp4", "play_style": "loop"}


async def test_requests_heygen_cannot_serve_are_refused_up_front(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as image:
        await gw.tasks.create(principal, avatar(image_urls=["https://example.com/face.png"]))
    assert image.value.field == "image_urls"
    with pytest.raises(InvalidParameter) as nothing_to_say:
        await gw.tasks.create(principal, avatar(None))
    assert nothing_to_say.value.field == "audio_url"
    with pytest.raises(InvalidParameter) as duration:
        await gw.tasks.create(principal, avatar(duration=10))
    assert duration.value.field == "duration"
    with pytest.raises(InvalidParameter) as style:
        await gw.tasks.create(principal, avatar(options={"avatarStyle": "fisheye"}))
    assert "normal, closeUp, circle" in style.value.message
    assert fake[0].submissions == 0


async def test_unknown_avatar_is_a_provider_error_with_heygens_reason(gw: Gateway, fake: Any) -> None:
    fake[0].avatars = {"Angela-inTshirt-20220820"}
    principal, _ = await make_principal(gw, credits=200)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar(options={"avatarId": "kate"}))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "avatar_not_found" in (done.error_message or "") and "kate" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (200, 0)


async def test_render_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=200)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar("[fail] hello"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "render_failed" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (200, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_moderation_in_the_render_and_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    render = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar("[moderation] x"))).id)
    assert (render.status, render.error_code) == ("failed", "CONTENT_POLICY")
    assert "content moderation" in (render.error_message or "")
    submit = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar("[blocked] x"))).id)
    assert (submit.status, submit.error_code) == ("failed", "CONTENT_POLICY")
    assert fake[0].submissions == 1


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(heygen_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, avatar())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "authentication_failed" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [503] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, avatar())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_error_inside_an_http_200_status_answer(vendor: VendorHarness) -> None:
    model = load_catalog().resolve("heygen")
    assert model is not None
    request = validate(avatar(), model)
    async with httpx.AsyncClient() as client:
        adapter = HeyGenAdapter(ProviderContext(vendor.settings(), client))
        with pytest.raises(VendorBadRequest, match="Video not found"):
            await adapter.poll(ProviderJob("t", request, "no-such-video"))
        assert await adapter.cancel(ProviderJob("t", request, "anything")) is False


async def test_cancel_stops_polling_heygen_has_no_cancel(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=200)
    task = await gw.tasks.create(principal, avatar())
    await until(processing(gw, principal, task.id))
    await until(lambda: fake[0].calls["get"])
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.3)
    polls = fake[0].calls["get"]
    await asyncio.sleep(0.6)  # several poll intervals (0.05–0.2 s): nothing more is asked
    assert fake[0].calls["get"] == polls
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (200, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(avatar()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
