"""ElevenLabs contract: the real adapter against a faithful fake of the text-to-speech API, over HTTP."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import VendorAuthError, VendorBadRequest, VendorRateLimited
from mediagate.providers.elevenlabs import VOICES, _error
from mediagate.testing.fakes.elevenlabs import FakeElevenLabs, speech_seconds
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, until

TEXT = "Welcome to the future of artificial intelligence"


VENDOR = VendorSpec(
    fake=lambda: FakeElevenLabs(api_key="xi-test-key", latency=0.05),
    settings=lambda base: {"elevenlabs_api_key": "xi-test-key", "elevenlabs_base_url": base},
)


def speech(prompt: str = TEXT, model: str | None = "eleven-multilingual-v2", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


async def test_mp3_speech_completes_with_a_decodable_file(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, speech(voice="Rachel", seed=7, options={"speed": 1.0, "stability": 0.4, "style": 0.2})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    call = fake[0].requests[0]
    assert call["voice_id"] == "21m00Tcm4TlvDq8ikWAM" and call["output_format"] == "mp3_44100_128"
    assert call["body"] == {
        "text": TEXT,
        "model_id": "eleven_multilingual_v2",
        "voice_settings": {"stability": 0.4, "style": 0.2, "speed": 1.0},
        "seed": 7,
    }
    data = await download(http, done.outputs[0].url)
    info = probe(data)
    assert info.format == "mp3" and done.outputs[0].format == "mp3"
    assert info.duration is not None and abs(info.duration - speech_seconds(TEXT, 1.0)) < 0.2
    assert done.credit_cost == 10  # 10 credits per started 1000 characters
    await ledger_consistent(gw, principal.account_id)


async def test_wav_output_wraps_the_pcm_stream(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        speech(model="eleven-flash-v2.5", output_format="wav", options={"sample_rate": 24000, "speed": 1.2}),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    call = fake[0].requests[0]
    assert call["output_format"] == "pcm_24000" and call["body"]["model_id"] == "eleven_flash_v2_5"
    data = await download(http, done.outputs[0].url)
    info = probe(data)
    assert info.format == "wav" and done.outputs[0].content_type == "audio/wav"
    expected = speech_seconds(TEXT, 1.2)
    assert info.duration is not None and abs(info.duration - expected) < 0.01
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24000, 1, 2)
    assert done.outputs[0].duration is not None and abs(done.outputs[0].duration - expected) < 0.01
    assert done.credit_cost == 5


async def test_raw_voice_ids_pass_through(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(voice="CLONEDvoice000000001"))).id)
    assert done.status == "completed", done.error_message
    assert fake[0].requests[0]["voice_id"] == "CLONEDvoice000000001"


async def test_seed_style_request_routes_emotion_to_eleven_v3(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    """The seed's example: provider elevenlabs, voice rachel, emotion excited, speed 1.0."""
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        type=MediaType.AUDIO,
        provider="elevenlabs",
        prompt=TEXT,
        voice="rachel",
        options={"emotion": "excited", "speed": 1.0},
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    assert done.model_id == "eleven-v3"
    body = fake[0].requests[0]["body"]
    assert body["model_id"] == "eleven_v3" and body["text"] == f"[excited] {TEXT}"
    assert body["voice_settings"] == {"speed": 1.0}
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == "mp3" and info.duration is not None
    assert abs(info.duration - speech_seconds(f"[excited] {TEXT}", 1.0)) < 0.2


async def test_emotion_is_refused_on_models_without_emotion_control(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as exc:
        await gw.tasks.create(principal, speech(options={"emotion": "excited"}))
    assert exc.value.field == "options.emotion"
    assert "not supported by model 'eleven-multilingual-v2'" in exc.value.message
    with pytest.raises(InvalidParameter) as exc:
        await gw.tasks.create(principal, speech(model="eleven-v3", options={"emotion": "ecstatic"}))
    assert exc.value.field == "options.emotion" and "excited" in exc.value.message
    assert fake[0].calls["create"] == 0


async def test_unknown_voice_name_fails_without_calling_the_vendor(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(voice="professional_female"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "rachel" in (done.error_message or "") and fake[0].calls["create"] == 0
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_unknown_voice_id_is_the_vendors_404(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(voice="A" * 20))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "voice_not_found" in (done.error_message or "")


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech("[fail] hello"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "text_processing_failed" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_refused_content_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "Terms of Service" in (done.error_message or "")


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(elevenlabs_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, speech())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "invalid_api_key" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [503] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0 and "internal_server_error" in (done.error_message or "")


async def test_cancel_during_the_synchronous_call_keeps_the_task_cancelled(gw: Gateway, fake: Any) -> None:
    """ElevenLabs has no cancel endpoint: cancelling aborts our call and refunds; nothing is stored."""
    fake[0].latency = 0.5
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, speech())
    await until(lambda: fake[0].calls["create"])
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.7)
    view = await gw.tasks.get(principal, task.id)
    assert view.status == "cancelled" and view.outputs == []
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    assert await gw.registry.get("elevenlabs").cancel(None) is False  # type: ignore[arg-type]  # no job on purpose: ElevenLabs has nothing to cancel


def test_error_bodies_map_to_vendor_errors() -> None:
    request = httpx.Request("POST", "https://api.elevenlabs.io/v1/text-to-speech/x")
    quota = httpx.Response(
        401, json={"detail": {"status": "quota_exceeded", "message": "You have 0 credits"}}, request=request
    )
    assert isinstance(_error(quota), VendorAuthError)
    busy = httpx.Response(
        429,
        json={"detail": {"status": "system_busy", "message": "busy"}},
        headers={"retry-after": "2"},
        request=request,
    )
    limited = _error(busy)
    assert isinstance(limited, VendorRateLimited) and limited.retry_after == 2.0
    invalid = httpx.Response(
        422, json={"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "missing"}]}, request=request
    )
    error = _error(invalid)
    assert isinstance(error, VendorBadRequest) and "body.text: field required" in error.message
    assert VOICES["rachel"] == "21m00Tcm4TlvDq8ikWAM"
