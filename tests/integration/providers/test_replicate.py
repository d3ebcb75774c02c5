"""Replicate contract: the real adapter against a faithful fake of the predictions API, over HTTP."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.media import synth
from mediagate.media.probe import probe
from mediagate.providers.base import ProviderContext, VendorAuthError, VendorBadRequest
from mediagate.providers.replicate import ReplicateAdapter, _error
from mediagate.testing.fakes.replicate import FakeReplicate
from tests.helpers import download, fast_settings, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, processing, until

BARK = "b76242b40d67c76ab6742e987628a2a9ac019e11d56ab96c4e91ce03b79b2787"

#: an operator pins another version of a model through MEDIAGATE_CATALOG_DIR
OPERATOR_TOML = f"""
[[models]]
id = "replicate/my-video"
provider = "replicate"
type = "video"
vendor_model = "acme/my-video:{"a" * 64}"
task_types = ["text_to_video"]

[models.capabilities]
durations = [3]
default_duration = 3
audio = true

[models.options.replicate_duration_format]
type = "string"
allowed = ["string"]
default = "string"

[models.price]
per_second = 3
"""


def replicate_fake() -> FakeReplicate:
    replicate = FakeReplicate(api_key="r8_test", latency=0.4)
    replicate.versions["a" * 64] = ("acme/my-video", "video")
    return replicate


VENDOR = VendorSpec(
    fake=replicate_fake,
    settings=lambda base: {"replicate_api_token": "r8_test", "replicate_base_url": f"{base}/v1"},
    catalog={"operator-replicate.toml": OPERATOR_TOML},
)


def video(prompt: str = "a hot air balloon over hills", **kw: Any) -> GenerationInput:
    return GenerationInput(model=kw.pop("model", "replicate/kling-v2.1-master"), prompt=prompt, **kw)


async def test_official_model_video_completes(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(duration=10, aspect_ratio="1:1", negative_prompt="blur"))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    created = fake[0].created[0]
    assert created["path"] == "/v1/models/kwaivgi/kling-v2.1-master/predictions"
    assert created["body"] == {
        "input": {
            "prompt": "a hot air balloon over hills",
            "negative_prompt": "blur",
            "duration": 10,
            "aspect_ratio": "1:1",
        }
    }
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 480, 480, 10.0)
    assert done.credit_cost == 140
    await ledger_consistent(gw, principal.account_id)


async def test_image_to_video_sends_start_image(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(image_urls=["https://example.com/a.png"]))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    sent = fake[0].created[0]["body"]["input"]
    assert sent["start_image"] == "https://example.com/a.png" and "image" not in sent
    assert not any(key.startswith("replicate_") for key in sent)


async def test_progress_is_read_from_the_logs(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 1.5
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video())
    seen = 0
    for _ in range(150):
        view = await gw.tasks.get(principal, task.id)
        seen = max(seen, view.progress)
        if view.status == "completed":
            break
        await asyncio.sleep(0.02)
    assert 0 < seen and (await wait_task(gw, principal, task.id)).status == "completed"


async def test_image_list_output(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        model="flux schnell",
        prompt="a lemon",
        aspect_ratio="16:9",
        output_format="png",
        seed=9,
        options={"go_fast": True},
    )
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    assert fake[0].created[0]["path"] == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert fake[0].created[0]["body"]["input"] == {
        "prompt": "a lemon",
        "aspect_ratio": "16:9",
        "seed": 9,
        "output_format": "png",
        "go_fast": True,
    }
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height) == ("png", 1366, 768)
    assert done.credit_cost == 10


async def test_pinned_version_with_dict_audio_output(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    text = "Hello, my name is Suno. [laughs]"
    inp = GenerationInput(model="bark", prompt=text, voice="announcer", options={"text_temp": 0.6})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    created = fake[0].created[0]
    assert created["path"] == "/v1/predictions"
    assert created["body"] == {
        "version": BARK,
        "input": {"prompt": text, "history_prompt": "announcer", "text_temp": 0.6},
    }
    data = await download(http, done.outputs[0].url)
    info = probe(data)
    assert info.format == "wav" and done.outputs[0].media_type == "audio"
    assert info.duration is not None and abs(info.duration - max(1.0, len(text) * 0.06)) < 0.01


async def test_operator_pinned_version_from_the_catalog_dir(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    inp = GenerationInput(model="replicate/my-video", prompt="rain", generate_audio=True)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, inp)).id)
    assert done.status == "completed", done.error_message
    body = fake[0].created[0]["body"]
    assert body == {"version": "a" * 64, "input": {"prompt": "rain", "duration": "3", "generate_audio": True}}
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.duration) == ("mp4", 3.0)


async def test_model_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=500)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] x"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "model crashed" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_sensitive_content_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "E005" in (done.error_message or "")


async def test_input_validation_error_at_create(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[invalid] x"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Input validation failed" in (done.error_message or "") and fake[0].submissions == 0


async def test_wrong_token_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(replicate_api_token="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Unauthenticated" in (done.error_message or "")


async def test_throttling_then_success_creates_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed", done.error_message
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 2


async def test_cancel_cancels_the_prediction(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=500)
    task = await gw.tasks.create(principal, video())
    await until(processing(gw, principal, task.id))
    assert (await gw.tasks.cancel(principal, task.id)).status == "cancelled"
    await until(lambda: fake[0].calls["cancel"])
    job = next(iter(fake[0].jobs.values()))
    assert job.cancelled
    assert fake[0].prediction(job)["status"] == "canceled"
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)


async def test_restart_resumes_polling_without_recreating(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.2
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed", done.error_message
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)


def test_outputs_data_uris_and_api_hosted_files(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, replicate_api_token="r8_x", replicate_base_url="https://api.replicate.com/v1")
    adapter = ReplicateAdapter(ProviderContext(settings, httpx.AsyncClient()))
    wav = synth.make_wav(1.5)
    uri = "data:audio/wav;base64," + base64.b64encode(wav).decode()
    [ref] = adapter.outputs(uri, MediaType.AUDIO)
    assert ref.data == wav and ref.format == "wav" and probe(ref.data).duration == 1.5
    refs = adapter.outputs(
        ["https://api.replicate.com/v1/files/abc.mp4", "https://replicate.delivery/x/poster.png"], MediaType.AVATAR
    )
    assert [(r.media_type, r.format) for r in refs] == [(MediaType.AVATAR, "mp4")]
    assert refs[0].headers == {"Authorization": "Bearer r8_x"}  # only our own API host gets the token
    [public] = adapter.outputs({"video": "https://replicate.delivery/x/out.mp4"}, MediaType.VIDEO)
    assert public.headers == {}


def test_targets_and_error_bodies() -> None:
    assert ReplicateAdapter.target("kwaivgi/kling-v2.1-master") == ("/models/kwaivgi/kling-v2.1-master/predictions", {})
    assert ReplicateAdapter.target(f"suno-ai/bark:{BARK}") == ("/predictions", {"version": BARK})
    assert ReplicateAdapter.target(BARK) == ("/predictions", {"version": BARK})
    with pytest.raises(VendorBadRequest):
        ReplicateAdapter.target("just-a-name")
    request = httpx.Request("POST", "https://api.replicate.com/v1/predictions")
    billing = httpx.Response(
        402, json={"title": "Insufficient credit", "detail": "Buy credit.", "status": 402}, request=request
    )
    assert isinstance(_error(billing), VendorAuthError)
