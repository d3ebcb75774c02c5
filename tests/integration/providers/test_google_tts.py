"""Google Cloud TTS contract: the real adapter against a faithful fake of `text:synthesize`, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.google_tts import FakeGoogleTTS
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec

VENDOR = VendorSpec(
    fake=lambda: FakeGoogleTTS(api_key="AIza-tts", access_token="ya29.tts"),
    settings=lambda base: {"google_tts_api_key": "AIza-tts", "google_tts_base_url": f"{base}/v1"},
)


def speech(prompt: str = "Hello from the gateway.", model: str = "google tts", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_job(fake: Any) -> Any:
    return next(iter(fake[0].jobs.values()))


async def test_speech_completes_as_mp3_with_the_key_in_the_query(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech())).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body == {
        "input": {"text": "Hello from the gateway."},
        "voice": {"languageCode": "en-US", "name": "en-US-Neural2-F"},
        "audioConfig": {"audioEncoding": "MP3"},
    }
    assert fake[0].auth_seen == ["key"]
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == "mp3" and info.duration is not None and info.duration > 1.0
    assert done.credit_cost == 2
    await ledger_consistent(gw, principal.account_id)


async def test_wav_is_linear16_with_a_header_and_options_map_to_audio_config(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    options = {"speed": 1.25, "pitch": -2.0, "volume_gain_db": 3.0, "sample_rate_hertz": 16000}
    request = speech(
        model="google-tts-wavenet",
        voice="de-DE-Wavenet-B",
        output_format="wav",
        options={**options, "effects_profile_id": "headphone-class-device"},
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, request)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["voice"] == {"languageCode": "de-DE", "name": "de-DE-Wavenet-B"}
    assert body["audioConfig"] == {
        "audioEncoding": "LINEAR16",
        "speakingRate": 1.25,
        "pitch": -2.0,
        "volumeGainDb": 3.0,
        "sampleRateHertz": 16000,
        "effectsProfileId": ["headphone-class-device"],
    }
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == "wav" and info.duration is not None and info.duration > 0.5


async def test_ogg_is_ogg_opus(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(output_format="ogg"))).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body["audioConfig"]["audioEncoding"] == "OGG_OPUS"
    assert probe(await download(http, done.outputs[0].url)).format == "ogg"


async def test_ssml_option_sends_input_ssml(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    ssml = '<speak>Hello <break time="300ms"/> world.</speak>'
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(ssml, options={"ssml": True}))).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body["input"] == {"ssml": ssml}


async def test_a_speak_prompt_is_sent_as_ssml_without_the_option(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech("<speak>Hi.</speak>"))).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body["input"] == {"ssml": "<speak>Hi.</speak>"}


async def test_invalid_ssml_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    request = speech("<speak>unclosed <break></speak>", options={"ssml": True})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, request)).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Invalid SSML" in (done.error_message or "") and fake[0].submissions == 0


async def test_any_voice_name_is_passed_through_and_google_decides(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech(voice="en-US-Bogus"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "does not exist" in (done.error_message or "") and fake[0].calls["create"] == 1


async def test_a_dearer_voice_family_is_refused_before_sending(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    request = speech(model="google-tts-standard", voice="en-US-Studio-O")
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, request)).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Studio voice" in (done.error_message or "") and fake[0].calls["create"] == 0


async def test_wrong_key_is_an_auth_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(google_tts_api_key="AIza-wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, speech())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "API key not valid" in (done.error_message or "")


async def test_an_access_token_is_sent_as_bearer(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(google_tts_api_key="ya29.tts") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, speech())).id)
        assert done.status == "completed", done.error_message
        assert fake[0].auth_seen == ["bearer"]


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, speech())).id)
    assert done.status == "completed", done.error_message
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 2


async def test_vendor_500_is_retried_then_a_provider_error_and_refunded(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(provider_max_retries=1) as gateway:
        principal, _ = await make_principal(gateway, credits=50)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, speech("[fail] x"))).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
        assert fake[0].calls["create"] == 2
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (50, 0)
        await ledger_consistent(gateway, principal.account_id)
