"""OpenAI contract: the real adapter against a faithful fake of the images and speech endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType, TaskType
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media import synth
from mediagate.media.probe import probe
from mediagate.providers.base import Finished, ProviderContext, ProviderJob, VendorBadRequest
from mediagate.providers.openai import OpenAIAdapter, reset_seconds
from mediagate.testing.fakes.openai import FakeOpenAI, encode_audio
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, decode

VENDOR = VendorSpec(
    fake=lambda: FakeOpenAI(api_key="sk-test-openai"),
    settings=lambda base: {"openai_api_key": "sk-test-openai", "openai_base_url": f"{base}/v1"},
)


def image(prompt: str = "a corgi astronaut", model: str = "gpt-image-1", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def speech(text: str = "Welcome to the future of AI.", model: str = "tts-1", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=text, **kw)


def only_job(fake: FakeOpenAI) -> Any:
    assert len(fake.jobs) == 1
    return next(iter(fake.jobs.values()))


# --- images --------------------------------------------------------------------------------------


async def test_gpt_image_generation_b64(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, image(resolution="1536x1024", output_format="webp", options={"quality": "high"})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert (done.provider, done.credit_cost) == ("openai", 500)
    assert only_job(fake[0]).body == {
        "model": "gpt-image-1",
        "prompt": "a corgi astronaut",
        "n": 1,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
    }
    assert decode(await download(http, done.outputs[0].url)) == ("WEBP", 1536, 1024)
    await ledger_consistent(gw, principal.account_id)


async def test_gpt_image_defaults_and_price(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert (done.status, done.credit_cost) == ("completed", 84)  # 1024x1024, medium
    body = only_job(fake[0]).body
    assert (body["size"], body["quality"], body["output_format"]) == ("1024x1024", "medium", "png")
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 1024, 1024)


async def test_dalle3_hd_wide(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, image(model="dall-e-3", resolution="1792x1024", options={"quality": "hd", "style": "natural"})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert done.credit_cost == 240
    body = only_job(fake[0]).body
    assert (body["response_format"], body["style"], body["quality"]) == ("b64_json", "natural", "hd")
    assert "output_format" not in body
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 1792, 1024)


async def test_edit_uploads_images_as_multipart(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    urls = []
    for size in ((300, 200), (200, 300)):
        _, url = await gw.assets.upload(principal.account_id, synth.make_image("ref", *size, "png", label="REF"))
        urls.append(url)
    task = await gw.tasks.create(
        principal, image("combine both", image_urls=urls, options={"input_fidelity": "high", "quality": "low"})
    )
    assert task.task_type == "image_to_image"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert (fake[0].calls["edits"], fake[0].calls["generations"], done.credit_cost) == (1, 0, 22)
    body = only_job(fake[0]).body
    assert body["image"] == [(300, 200), (200, 300)]
    assert (body["model"], body["input_fidelity"], body["size"]) == ("gpt-image-1", "high", "1024x1024")
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 1024, 1024)


async def test_image_parameters_are_checked_before_calling(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(model="dall-e-3", resolution="1536x1024"))
    assert "1792x1024" in err.value.message
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(aspect_ratio="16:9"))
    assert err.value.field == "aspect_ratio"
    with pytest.raises(InvalidParameter):
        await gw.tasks.create(principal, image(model="dall-e-3", image_urls=["https://example.com/a.png"]))
    assert fake[0].submissions == 0


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3"])
async def test_image_moderation_is_a_content_policy_failure(gw: Gateway, model: str) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[moderation] x", model))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "safety system" in (done.error_message or "")
    assert (await gw.accounts.get(principal.account_id)).balance == 1000


async def test_insufficient_quota_is_not_retried(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[quota] x"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
    assert "insufficient_quota" in (done.error_message or "")
    assert fake[0].calls["generations"] == 1


# --- speech --------------------------------------------------------------------------------------


async def test_speech_mp3(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, speech(voice="nova", options={"speed": 1.5}))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert only_job(fake[0]).body == {
        "model": "tts-1",
        "input": "Welcome to the future of AI.",
        "voice": "nova",
        "response_format": "mp3",
        "speed": 1.5,
    }
    assert done.credit_cost == 3
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == "mp3" and info.duration is not None and info.duration > 0.5
    assert done.outputs[0].content_type == "audio/mpeg"


@pytest.mark.parametrize(("ours", "theirs"), [("wav", "wav"), ("flac", "flac"), ("ogg", "opus")])
async def test_speech_formats(gw: Gateway, http: httpx.AsyncClient, fake: Any, ours: str, theirs: str) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(
        gw, principal, (await gw.tasks.create(principal, speech(model="tts-1-hd", output_format=ours))).id
    )
    assert done.status == "completed", done.error_message
    assert only_job(fake[0]).body["response_format"] == theirs
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == ours and (info.duration or 0) > 1.0
    assert done.credit_cost == 6


async def test_steerable_tts_sends_instructions(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        speech(model="gpt-4o-mini-tts", voice="marin", options={"emotion": "excited", "instructions": "Be brief."}),
    )
    assert (await wait_task(gw, principal, task.id)).status == "completed"
    body = only_job(fake[0]).body
    assert (body["voice"], body["instructions"]) == ("marin", "Sound excited. Be brief.")


async def test_voices_and_instructions_are_checked_per_model(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, speech(voice="marin"))  # gpt-4o-mini-tts only
    assert err.value.field == "voice" and "shimmer" in err.value.message
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, speech(options={"instructions": "whisper"}))
    assert err.value.field == "options.instructions"
    with pytest.raises(InvalidParameter):
        await gw.tasks.create(principal, speech("x" * 4097))


# --- common behaviour ----------------------------------------------------------------------------


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(openai_api_key="sk-wrong-key") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, speech())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Incorrect API key" in (done.error_message or "") and "sk-wrong-key" not in (done.error_message or "")


async def test_rate_limit_then_success_calls_once_more(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["generations"] == 3


async def test_server_errors_are_retried_then_provider_error(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech("[fail] hello"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0 and fake[0].calls["speech"] == 4
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)


async def test_cancel_of_a_finished_synchronous_task_is_refused(gw: Gateway, fake: Any) -> None:
    """OpenAI has no cancel and nothing to poll: the task is finished by the single call."""
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, speech())
    assert (await wait_task(gw, principal, task.id)).status == "completed"
    with pytest.raises(InvalidParameter):
        await gw.tasks.cancel(principal, task.id)
    await asyncio.sleep(0.1)
    assert fake[0].calls["speech"] == 1


# --- the adapter on its own --------------------------------------------------------------------


def _request(model: str, media: MediaType = MediaType.IMAGE, **kw: Any) -> GenerationRequest:
    task_type = TaskType.TEXT_TO_IMAGE if media is MediaType.IMAGE else TaskType.TEXT_TO_SPEECH
    return GenerationRequest(
        type=media,
        task_type=task_type,
        model=model,
        requested_model=model,
        provider="openai",
        vendor_model=model,
        prompt=kw.pop("prompt", "a teapot"),
        **kw,
    )


@pytest.fixture
async def adapter(vendor: VendorHarness) -> AsyncIterator[OpenAIAdapter]:
    async with httpx.AsyncClient() as client:
        yield OpenAIAdapter(ProviderContext(vendor.settings(), client))


async def test_dalle_url_answer_becomes_a_download(
    adapter: OpenAIAdapter, fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request("dall-e-3", resolution="1024x1792")
    params = adapter.image_params(request)
    params["response_format"] = "url"
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{fake[1]}/v1/images/generations", json=params, headers={"Authorization": "Bearer sk-test-openai"}
        )
        url = answer.json()["data"][0]["url"]
        assert decode((await client.get(url)).content) == ("PNG", 1024, 1792)
    # and the adapter turns such an answer into a URL output (downloaded without our key)
    monkeypatch.setattr(adapter, "image_params", lambda request: params)
    result = await adapter.submit(ProviderJob("t1", request))
    assert isinstance(result, Finished) and result.outputs[0].url is not None
    assert result.outputs[0].headers == {}


async def test_vendor_validation_error_is_a_bad_request(adapter: OpenAIAdapter) -> None:
    with pytest.raises(VendorBadRequest) as err:
        await adapter.submit(ProviderJob("t1", _request("gpt-image-1", resolution="512x512")))
    assert "512x512" in err.value.message and err.value.vendor_code == "invalid_request_error"
    assert err.value.status == 400


def test_reset_durations() -> None:
    assert reset_seconds("1s") == 1.0
    assert reset_seconds("6m0s") == 360.0
    assert reset_seconds("20ms") == pytest.approx(0.02)
    assert reset_seconds("2.5") == 2.5
    assert reset_seconds(None) is None and reset_seconds("soon") is None


def test_fake_speech_formats_are_real_audio() -> None:
    wav = synth.make_wav(1.0, 24000)
    assert probe(encode_audio(wav, "flac")).format == "flac"
    assert probe(encode_audio(wav, "opus")).format == "ogg"
    assert len(encode_audio(wav, "pcm")) == 48000
