"""MiniMax contract: the real adapter against a faithful fake of the MiniMax open platform, over HTTP.

Video (submit → query → files/retrieve), image-01 (URL and base64 answers) and T2A v2 speech (hex
audio), errors inside HTTP 200 bodies (``base_resp.status_code``), and the 1080p = 6 s rule.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.minimax import FakeMinimax
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, processing, until

VENDOR = VendorSpec(
    fake=lambda: FakeMinimax(api_key="mm-test-key", latency=0.4),
    settings=lambda base: {"minimax_api_key": "mm-test-key", "minimax_base_url": base},
)


def video(prompt: str = "a paper boat on a stream", **kw: Any) -> GenerationInput:
    return GenerationInput(model="hailuo 2.3", prompt=prompt, **kw)


# --- video ------------------------------------------------------------------------------------


async def test_video_three_call_flow_completes_with_a_valid_mp4(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(duration=10, resolution="768p"))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["model"], body["duration"], body["resolution"]) == ("MiniMax-Hailuo-2.3", 10, "768P")
    assert fake[0].calls["query"] >= 2 and fake[0].calls["retrieve"] == 1  # submit → query… → retrieve
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 854, 480, 10.0)
    assert done.credit_cost == 28
    await ledger_consistent(gw, principal.account_id)


async def test_image_to_video_sends_first_and_last_frame(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        model="hailuo-02",
        prompt="she turns around",
        image_urls=["https://example.com/a.png", "https://example.com/b.png"],
        options={"prompt_optimizer": False},
    )
    task = await gw.tasks.create(principal, inp)
    assert task.task_type == "image_to_video"
    assert (await wait_task(gw, principal, task.id)).status == "completed"
    body = only_job(fake).body
    assert body["first_frame_image"] == "https://example.com/a.png"
    assert body["last_frame_image"] == "https://example.com/b.png"
    assert body["prompt_optimizer"] is False


async def test_i2v_01_needs_no_prompt_and_sends_no_duration(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="i2v-01-live", image_urls=["https://example.com/cat.png"])
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["model"] == "I2V-01-live" and "duration" not in body and "resolution" not in body
    assert "prompt" not in body


async def test_seed_example_style_folds_into_the_prompt(gw: Gateway, fake: Any) -> None:
    """The seed's GraphQL example (provider minimax, 1080p, style cinematic) at the 6 s 1080p allows."""
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        type=MediaType.VIDEO,
        provider="minimax",
        prompt="A serene mountain landscape at sunset",
        duration=6,
        resolution="1080p",
        options={"style": "cinematic"},
    )
    task = await gw.tasks.create(principal, inp)
    assert (task.provider, task.model_id) == ("minimax", "minimax-hailuo-2.3")
    assert (await wait_task(gw, principal, task.id)).status == "completed"
    body = only_job(fake).body
    assert body["prompt"] == "A serene mountain landscape at sunset. Style: cinematic."
    assert (body["resolution"], body["duration"]) == ("1080P", 6)
    assert "style" not in body


async def test_ten_seconds_at_1080p_is_refused_before_anything_is_reserved(gw: Gateway, fake: Any) -> None:
    """MiniMax's 1080P allows 6 s only; no MiniMax model makes a 10 s 1080p video."""
    principal, _ = await make_principal(gw, credits=100)
    seed_example = GenerationInput(
        type=MediaType.VIDEO,
        provider="minimax",
        prompt="A serene mountain landscape at sunset",
        duration=10,
        resolution="1080p",
        options={"style": "cinematic"},
    )
    for inp in (seed_example, video(duration=10, resolution="1080p")):
        with pytest.raises(InvalidParameter):
            await gw.tasks.create(principal, inp)
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    assert fake[0].calls["create"] == 0


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "video generation failed" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_1027_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "1027" in (done.error_message or "")


async def test_input_moderation_1026_inside_http_200(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "1026" in (done.error_message or "") and fake[0].submissions == 0


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(minimax_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "invalid api key (2049)" in (done.error_message or "")


async def test_rate_limit_1002_in_http_200_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 1002]  # both answered as HTTP 200 + base_resp 1002
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_insufficient_balance_1008_is_an_operator_problem(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [1008]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
    assert "insufficient balance" in (done.error_message or "")


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500, 1001] * 10
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_transient_error_while_polling_or_retrieving_is_retried(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video())
    await until(lambda: fake[0].submissions)
    fake[0].inject = [1001, 503]
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed" and fake[0].submissions == 1


async def test_cancel_stops_polling_there_is_no_vendor_cancel(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video())
    await until(processing(gw, principal, task.id))
    await until(lambda: fake[0].calls["query"])
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.3)
    queries = fake[0].calls["query"]
    await asyncio.sleep(0.5)
    assert fake[0].calls["query"] == queries  # polling stopped
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video()) as (second, principal, task, row):
        assert row is not None and row.provider_state == {"kind": "video"}
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed" and fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)


# --- image ------------------------------------------------------------------------------------


async def test_image_urls_answer_gives_n_jpegs(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="image-01", prompt="a red fox", aspect_ratio="16:9", seed=7, options={"n": 2})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert (body["aspect_ratio"], body["n"], body["seed"], body["response_format"]) == ("16:9", 2, 7, "url")
    assert len(done.outputs) == 2 and done.credit_cost == 20
    info = probe(await download(http, done.outputs[1].url))
    assert (info.format, info.width, info.height) == ("jpeg", 1280, 720)


async def test_image_base64_answer_and_character_reference(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        model="minimax image",
        prompt="the same girl in a library",
        image_urls=["https://example.com/girl.png"],
        aspect_ratio="3:4",
        options={"response_format": "base64"},
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body["subject_reference"] == [
        {"type": "character", "image_file": "https://example.com/girl.png"}
    ]
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height) == ("jpeg", 864, 1152)


async def test_image_all_filtered_is_content_policy(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="image-01", prompt="[filtered] something")
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")


# --- speech -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "expected"), [("mp3", "mp3"), ("wav", "wav"), ("flac", "flac")])
async def test_speech_hex_audio_is_decoded(
    gw: Gateway, http: httpx.AsyncClient, fake: Any, fmt: str, expected: str
) -> None:
    principal, _ = await make_principal(gw)
    text = "Hello from the MiniMax fake, speaking clearly."
    inp = GenerationInput(
        model="speech-02-turbo", prompt=text, voice="Calm_Woman", output_format=fmt, options={"speed": 1.2}
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["voice_setting"] == {"voice_id": "Calm_Woman", "speed": 1.2}
    assert body["audio_setting"]["format"] == fmt and body["output_format"] == "hex"
    info = probe(await download(http, done.outputs[0].url))
    assert info.format == expected
    assert info.duration is not None and abs(info.duration - len(text) / 15) < 0.2


async def test_speech_default_voice_and_bad_voice(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(
        gw, principal, (await gw.tasks.create(principal, GenerationInput(model="speech-02-hd", prompt="hi"))).id
    )
    assert done.status == "completed" and only_job(fake).body["voice_setting"]["voice_id"] == "Wise_Woman"
    bad = GenerationInput(model="speech-02-hd", prompt="hi", voice="unknown_voice")
    failed = await wait_task(gw, principal, (await gw.tasks.create(principal, bad)).id)
    assert (failed.status, failed.error_code) == ("failed", "PROVIDER_ERROR")
    assert "20132" in (failed.error_message or "")
