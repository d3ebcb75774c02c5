"""Veo contract: the real adapter against a faithful fake of the Gemini API and Vertex AI, over HTTP."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from mediagate.domain.media import MediaType, TaskType
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.gateway import Gateway
from mediagate.media import synth
from mediagate.media.probe import probe
from mediagate.providers.base import ProviderContext, ProviderJob, VendorBadRequest
from mediagate.providers.veo import VeoAdapter, fetch_image
from mediagate.testing.fakes.veo import FakeVeo
from mediagate.testing.server import ThreadedServer
from tests.helpers import download, fast_settings, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, until

PNG = synth.make_image("first frame", 64, 36)
JPEG = synth.make_image("last frame", 64, 36, "jpeg")


VENDOR = VendorSpec(
    fake=lambda: FakeVeo(api_key="AIza-test", latency=0.4, access_token="ya29.token", project="proj-1"),
    settings=lambda base: {
        "gemini_api_key": "AIza-test",
        "gemini_base_url": f"{base}/v1beta",
        "allow_private_urls": True,  # the fakes listen on 127.0.0.1
    },
)


def vertex(base: str, **extra: Any) -> dict[str, Any]:
    """Settings overrides for Vertex AI mode."""
    return {
        "vertex_project": "proj-1",
        "vertex_location": "europe-west4",
        "vertex_access_token": "ya29.token",
        "vertex_base_url": base,
        "gemini_api_key": "unused-in-vertex-mode",  # the registry still lists gemini_api_key as required
        **extra,
    }


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """A plain web server holding input images (the gateway downloads them and sends base64)."""

    async def png(_: Any) -> Response:
        return Response(PNG, media_type="image/png")

    async def jpeg(_: Any) -> Response:
        return Response(JPEG, media_type="image/jpeg")

    app = Starlette(routes=[Route("/first.png", png), Route("/last.jpg", jpeg)])
    with ThreadedServer(app) as server:
        yield server.url


def video(prompt: str = "a paper boat on a stream", model: str = "veo 3", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_job(fake: Any) -> Any:
    return next(iter(fake[0].jobs.values()))


async def test_text_to_video_completes_with_a_downloaded_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        video(duration=4, aspect_ratio="9:16", negative_prompt="rain", options={"person_generation": "allow_all"}),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.id.startswith("models/veo-3.0-generate-001/operations/")
    assert job.body["instances"] == [{"prompt": "a paper boat on a stream"}]
    assert job.body["parameters"] == {
        "sampleCount": 1,
        "aspectRatio": "9:16",
        "durationSeconds": 4,
        "resolution": "720p",
        "negativePrompt": "rain",
        "personGeneration": "allow_all",
    }  # no seed or generateAudio: the Gemini API refuses them
    assert fake[0].calls["download"] == 1  # fetched from files/…:download with the API key
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 720, 1280, 4.0)
    assert done.credit_cost == 160  # 4 s × 40 credits
    await ledger_consistent(gw, principal.account_id)


async def test_image_to_video_sends_first_and_last_frame_as_base64(gw: Gateway, fake: Any, images: str) -> None:
    principal, _ = await make_principal(gw)
    urls = [f"{images}/first.png", f"{images}/last.jpg"]
    task = await gw.tasks.create(principal, video(model="veo 3.1", image_urls=urls, duration=4))
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    instance = only_job(fake).body["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
    assert instance["lastFrame"] == {"bytesBase64Encoded": base64.b64encode(JPEG).decode(), "mimeType": "image/jpeg"}
    assert (done.outputs[0].width, done.outputs[0].height, done.credit_cost) == (1280, 720, 160)


async def test_reference_images_are_sent_as_assets(gw: Gateway, fake: Any, images: str) -> None:
    principal, _ = await make_principal(gw)
    refs = [f"{images}/first.png", f"{images}/last.jpg"]
    task = await gw.tasks.create(principal, video(model="veo-3.1", options={"reference_image_urls": refs}))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    references = only_job(fake).body["instances"][0]["referenceImages"]
    assert [r["referenceType"] for r in references] == ["asset", "asset"]
    assert references[1]["image"]["mimeType"] == "image/jpeg"


async def test_veo2_sends_no_resolution(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(model="veo 2", duration=5, options={"enhance_prompt": False}))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    parameters = only_job(fake).body["parameters"]
    assert "resolution" not in parameters and parameters["enhancePrompt"] is False
    assert done.credit_cost == 175


async def test_operation_error_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "internal error" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_zero_samples_with_rai_reasons_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "usage guidelines" in (done.error_message or "")


async def test_prompt_refused_at_submission_is_a_content_policy_failure(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert fake[0].submissions == 0


async def test_wrong_api_key_400_is_an_auth_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(gemini_api_key="AIza-wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "API key not valid" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed", done.error_message
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(vendor: VendorHarness, fake: Any) -> None:
    fake[0].inject = [500] * 10
    async with vendor.gateway(provider_max_retries=1) as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
        assert fake[0].submissions == 0 and fake[0].calls["create"] == 2


async def test_cancel_stops_polling(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=1000)
    task = await gw.tasks.create(principal, video())
    await until(lambda: fake[0].calls["get"] >= 2)
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.1)
    polls = fake[0].calls["get"]
    await asyncio.sleep(0.5)
    assert fake[0].calls["get"] == polls  # Veo has no cancel: we stop asking
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.2
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)


async def test_seed_is_refused_on_the_gemini_api_before_submitting(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video(seed=7))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Vertex" in (done.error_message or "") and fake[0].calls["create"] == 0


async def test_1080p_needs_eight_seconds(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video(resolution="1080p", duration=4))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "needs duration 8" in (done.error_message or "") and fake[0].calls["create"] == 0


async def test_vertex_mode_uses_bearer_fetch_operation_and_inline_bytes(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(**vertex(vendor.base_url)) as gateway:
        principal, _ = await make_principal(gateway)
        task = await gateway.tasks.create(principal, video(seed=42, generate_audio=True, duration=6))
        done = await wait_task(gateway, principal, task.id)
        assert done.status == "completed", done.error_message
        job = only_job(fake)
        assert job.id.startswith(
            "projects/proj-1/locations/europe-west4/publishers/google/models/veo-3.0-generate-001/"
        )
        assert job.body["parameters"]["seed"] == 42 and job.body["parameters"]["generateAudio"] is True
        row = await gateway.tasks.load(task.id)
        assert row is not None and row.provider_state["api"] == "vertex"
        assert fake[0].calls["download"] == 0  # the video came inline, base64
        assert done.outputs[0].duration == 6.0


async def test_vertex_wrong_token_is_an_auth_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(**vertex(vendor.base_url, vertex_access_token="ya29.expired")) as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "UNAUTHENTICATED" in (done.error_message or "")


async def test_vertex_moderation_is_a_content_policy_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(**vertex(vendor.base_url)) as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video("[moderation] y"))).id)
        assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")


async def test_api_key_is_only_sent_to_googles_own_host(tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path, gemini_api_key="AIza-k", gemini_base_url="https://generativelanguage.googleapis.com/v1beta"
    )
    async with httpx.AsyncClient() as client:
        adapter = VeoAdapter(ProviderContext(settings, client))
        request = GenerationRequest(
            type=MediaType.VIDEO,
            task_type=TaskType.TEXT_TO_VIDEO,
            model="veo-3.0",
            requested_model="veo-3.0",
            provider="veo",
            vendor_model="veo-3.0-generate-001",
            prompt="x",
        )
        job = ProviderJob("t", request, "models/veo-3.0-generate-001/operations/1", {"api": "gemini"})
        samples = {
            "generatedSamples": [
                {"video": {"uri": "https://generativelanguage.googleapis.com/v1beta/files/a:download?alt=media"}},
                {"video": {"uri": "https://elsewhere.example/v.mp4"}},
            ]
        }
        refs = adapter._outputs(job, {"generateVideoResponse": samples})
    assert refs[0].headers == {"x-goog-api-key": "AIza-k"} and refs[1].headers == {}


async def test_private_image_urls_are_refused_by_default(tmp_path: Path, images: str) -> None:
    gateway = Gateway(fast_settings(tmp_path))  # the adapters' `fetch_input` is the gateway's guarded fetch
    try:
        with pytest.raises(VendorBadRequest, match="loopback"):
            await fetch_image(gateway.assets.fetch_input, f"{images}/first.png")
    finally:
        await gateway.stop()
