"""fal contract: the real adapter against a faithful fake of the fal queue API, over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import ProviderContext, ProviderJob
from mediagate.providers.fal import FalAdapter, app_root, find_outputs
from mediagate.testing.fakes.fal import FakeFal
from tests.helpers import download, fast_settings, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, only_job, processing, until

KLING = "fal-ai/kling-video/v2.1/master/text-to-video"

#: what an operator drops into MEDIAGATE_CATALOG_DIR to use two more fal models
OPERATOR_TOML = """
[[models]]
id = "fal/example-tts"
provider = "fal"
type = "audio"
vendor_model = "fal-ai/example-tts"
task_types = ["text_to_speech"]
quality = 60
speed = 10

[models.capabilities]
voices = []
default_voice = "af_heart"

[models.options.fal_prompt_field]
type = "string"
allowed = ["text"]
default = "text"

[models.price]
per_1k_chars = 3

[[models]]
id = "fal/example-nested"
provider = "fal"
type = "video"
vendor_model = "fal-ai/example-nested"
task_types = ["text_to_video"]

[models.capabilities]
durations = [2]
default_duration = 2
audio = true

[models.price]
per_second = 2
"""


VENDOR = VendorSpec(
    fake=lambda: FakeFal(api_key="fal-test-key", latency=0.4),
    settings=lambda base: {"fal_key": "fal-test-key", "fal_base_url": base},
    catalog={"operator-fal.toml": OPERATOR_TOML},
)


def video(prompt: str = "a paper boat on a stream", **kw: Any) -> GenerationInput:
    return GenerationInput(model=kw.pop("model", "fal/kling-v2.1-master"), prompt=prompt, **kw)


async def test_text_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, video(duration=5, aspect_ratio="9:16", negative_prompt="blur", options={"cfg_scale": 0.7})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.extra["model"] == KLING
    assert job.body == {
        "prompt": "a paper boat on a stream",
        "negative_prompt": "blur",
        "duration": "5",
        "aspect_ratio": "9:16",
        "cfg_scale": 0.7,
    }
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 480, 854, 5.0)
    assert done.credit_cost == 70
    row = await gw.tasks.load(task.id)
    assert row is not None and row.provider_state["status_url"].endswith(
        f"/fal-ai/kling-video/requests/{job.id}/status"
    )
    assert fake[0].calls["status"] >= 2  # polled through IN_QUEUE / IN_PROGRESS
    await ledger_consistent(gw, principal.account_id)


async def test_image_to_video_uses_the_image_to_video_endpoint(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(image_urls=["https://example.com/boat.png"], duration=10))
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.extra["model"] == "fal-ai/kling-video/v2.1/master/image-to-video"
    assert job.body["image_url"] == "https://example.com/boat.png" and job.body["duration"] == "10"
    assert "aspect_ratio" not in job.body
    assert done.credit_cost == 140


async def test_flux_image_maps_aspect_ratio_to_image_size(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="fal/flux-dev", prompt="a red fox", aspect_ratio="16:9", output_format="png", seed=3)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body == {"prompt": "a red fox", "image_size": "landscape_16_9", "seed": 3, "output_format": "png"}
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height) == ("png", 1024, 576)
    assert done.credit_cost == 50


async def test_flux_ultra_sends_aspect_ratio(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="fal flux ultra", prompt="a lake", aspect_ratio="21:9", options={"raw": True})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = only_job(fake).body
    assert body["aspect_ratio"] == "21:9" and body["raw"] is True and body["output_format"] == "jpeg"
    assert done.outputs[0].format == "jpeg" and done.credit_cost == 200


async def test_safety_checker_flags_are_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="fal/flux-dev", prompt="[moderation] x")
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "has_nsfw_concepts" in (done.error_message or "")


async def test_content_policy_violation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=500)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "content checker" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)


async def test_model_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=500)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] x"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "runner_server_error" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_validation_error_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[invalid] x"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "prompt: The prompt is invalid." in (done.error_message or "")
    assert fake[0].submissions == 0


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(fal_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "No user found" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed", done.error_message
    assert fake[0].submissions == 1 and fake[0].calls["submit"] == 3


async def test_cancel_while_queued_cancels_at_fal(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=500)
    task = await gw.tasks.create(principal, video())
    await until(processing(gw, principal, task.id))
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await until(lambda: fake[0].calls["cancel"])
    assert only_job(fake).cancelled
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.2
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed", done.error_message
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)


async def test_operator_added_audio_model_from_the_catalog_dir(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    text = "Hello from an operator-added fal model"
    inp = GenerationInput(model="fal/example-tts", prompt=text, voice="af_bella")
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.extra["model"] == "fal-ai/example-tts"
    assert job.body == {"text": text, "voice": "af_bella"}  # fal_* adapter settings are never sent
    data = await download(http, done.outputs[0].url)
    info = probe(data)
    assert info.format == "wav" and done.outputs[0].media_type == "audio"
    assert info.duration is not None and abs(info.duration - max(1.0, len(text) * 0.06)) < 0.01
    assert done.credit_cost == 3


async def test_outputs_are_found_in_unknown_schemas(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="fal/example-nested", prompt="waves", generate_audio=False)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    assert only_job(fake).body == {"prompt": "waves", "duration": "2", "generate_audio": False}
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.duration) == ("mp4", 2.0)


def test_find_outputs_reads_the_usual_fal_shapes() -> None:
    outputs, flagged = find_outputs(
        {"audio_file": {"url": "https://v3.fal.media/files/x/a.mp3", "content_type": "audio/mpeg"}}, MediaType.AUDIO
    )
    assert flagged == 0 and [(o.media_type, o.format) for o in outputs] == [(MediaType.AUDIO, "mp3")]
    outputs, flagged = find_outputs(
        {
            "images": [
                {"url": "https://v3.fal.media/a.jpg", "width": 8, "height": 6, "content_type": "image/jpeg"},
                {"url": "https://v3.fal.media/b.png"},
            ],
            "has_nsfw_concepts": [False, True],
        },
        MediaType.IMAGE,
    )
    assert flagged == 1 and [(o.url, o.format, o.width) for o in outputs] == [("https://v3.fal.media/a.jpg", "jpeg", 8)]
    outputs, _ = find_outputs(
        {"video": {"url": "https://v3.fal.media/v.mp4"}, "thumbnail": {"url": "https://v3.fal.media/t.png"}},
        MediaType.AVATAR,
    )
    assert [(o.media_type, o.format) for o in outputs] == [(MediaType.AVATAR, "mp4")]


def test_poll_urls_are_rebuilt_and_never_leave_the_base_host(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, fal_key="k", fal_base_url="https://queue.fal.run")
    adapter = FalAdapter(ProviderContext(settings, httpx.AsyncClient()))
    request = GenerationRequest(
        type=MediaType.VIDEO,
        task_type="text_to_video",
        model="fal/kling-v2.1-master",
        requested_model="fal/kling-v2.1-master",
        provider="fal",
        vendor_model=KLING,
        prompt="x",
    )
    job = ProviderJob("t1", request, "req-1", {"status_url": "https://evil.example/steal", "model": KLING})
    urls = adapter._urls(job)
    assert urls["status_url"] == "https://queue.fal.run/fal-ai/kling-video/requests/req-1/status"
    assert urls["cancel_url"] == "https://queue.fal.run/fal-ai/kling-video/requests/req-1/cancel"
    assert urls["response_url"] == "https://queue.fal.run/fal-ai/kling-video/requests/req-1"
    assert app_root("workflows/me/my-flow/run") == "workflows/me/my-flow"
