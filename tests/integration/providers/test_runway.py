"""Runway contract: the real adapter against a faithful fake of Runway's developer API, over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mediagate.catalog.loader import load_catalog
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import JobStatus, ProviderContext, ProviderJob, Submitted
from mediagate.providers.runway import RunwayAdapter
from mediagate.services.validation import validate
from mediagate.testing.fakes.runway import FakeRunway
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, processing, until

IMAGE = "https://example.com/character.jpg"


VENDOR = VendorSpec(
    fake=lambda: FakeRunway(api_key="key_runway_test", latency=0.4),
    settings=lambda base: {"runway_api_key": "key_runway_test", "runway_base_url": base},
    public_dns=True,
)


def animate(prompt: str = "the character waves", model: str = "gen4_turbo", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, image_urls=kw.pop("image_urls", [IMAGE]), **kw)


def only_body(fake: Any) -> dict[str, Any]:
    (job,) = fake[0].jobs.values()
    body: dict[str, Any] = job.body
    return body


async def test_image_to_video_completes_with_a_valid_mp4(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, animate(duration=5, aspect_ratio="16:9", seed=7))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    (job,) = fake[0].jobs.values()
    assert job.extra["endpoint"] == "image_to_video"
    body = job.body
    assert (body["model"], body["promptImage"], body["ratio"], body["duration"], body["seed"]) == (
        "gen4_turbo",
        IMAGE,
        "1280:720",
        5,
        7,
    )
    assert body["promptText"] == "the character waves"
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 5.0)
    assert done.credit_cost == 25 and done.provider == "runway"
    await ledger_consistent(gw, principal.account_id)


async def test_text_to_video_uses_the_text_endpoint_and_portrait_ratio(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, GenerationInput(model="gen-4.5", prompt="a paper boat", duration=3, aspect_ratio="9:16")
    )
    assert task.task_type == "text_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    (job,) = fake[0].jobs.values()
    assert job.extra["endpoint"] == "text_to_video"
    assert "promptImage" not in job.body and (job.body["model"], job.body["ratio"]) == ("gen4.5", "720:1280")
    info = probe(await download(http, done.outputs[0].url))
    assert (info.width, info.height, info.duration) == (720, 1280, 3.0)
    assert done.credit_cost == 36  # 12 credits a second


async def test_seed_graphql_example_gen3_alias_and_motion_intensity(gw: Gateway, fake: Any) -> None:
    """The seed's example: provider runway, model "gen-3", motionIntensity "high", an image."""
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        GenerationInput(
            provider="runway",
            model="gen-3",
            prompt="Make the character dance",
            image_urls=["https://example.com/character.jpg"],
            options={"motionIntensity": "high"},
        ),
    )
    assert (task.model, task.model_id, task.task_type) == ("gen-3", "runway-gen3a-turbo", "image_to_video")
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    assert (body["model"], body["ratio"], body["duration"]) == ("gen3a_turbo", "1280:768", 5)
    assert (
        body["promptText"] == "Make the character dance Dynamic, energetic motion with fast, sweeping camera movement."
    )


async def test_motion_intensity_and_unsupported_fields_are_refused_up_front(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as bad_value:
        await gw.tasks.create(principal, animate(options={"motionIntensity": "extreme"}))
    assert bad_value.value.field == "options.motionIntensity" and "low, medium, high" in bad_value.value.message
    with pytest.raises(InvalidParameter) as text_only:
        await gw.tasks.create(principal, animate(image_urls=[]))  # gen4_turbo needs an image
    assert text_only.value.field == "image_urls"
    with pytest.raises(InvalidParameter) as no_seed:
        await gw.tasks.create(principal, GenerationInput(model="runway veo3.1", prompt="x", seed=1))
    assert no_seed.value.field == "seed"
    assert fake[0].submissions == 0


async def test_veo_first_and_last_frame_with_audio_at_1080p(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        GenerationInput(
            model="runway veo3.1 fast",
            prompt="a door opens",
            image_urls=["https://example.com/a.png", "https://example.com/b.png"],
            duration=4,
            resolution="1080p",
            generate_audio=True,
        ),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    assert body["promptImage"] == [
        {"uri": "https://example.com/a.png", "position": "first"},
        {"uri": "https://example.com/b.png", "position": "last"},
    ]
    assert (body["model"], body["ratio"], body["audio"], body["duration"]) == ("veo3.1_fast", "1920:1080", True, 4)
    assert "seed" not in body
    assert done.credit_cost == 60
    info = probe(await download(http, done.outputs[0].url))
    assert (info.width, info.height, info.duration) == (1920, 1080, 4.0)


async def test_ratio_runway_refuses_for_text_to_video_fails_before_submitting(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(
        gw,
        principal,
        (await gw.tasks.create(principal, GenerationInput(model="gen4.5", prompt="x", aspect_ratio="1:1"))).id,
    )
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "aspect_ratio '1:1'" in (done.error_message or "") and "16:9, 9:16" in (done.error_message or "")
    assert fake[0].submissions == 0
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_http_image_url_is_refused_by_runway(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(
        gw, principal, (await gw.tasks.create(principal, animate(image_urls=["http://example.com/x.png"]))).id
    )
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Only HTTPS URLs are allowed" in (done.error_message or "") and "promptImage" in (done.error_message or "")


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, animate("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "INTERNAL.BAD_OUTPUT" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_safety_failure_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, animate("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "SAFETY.INPUT.TEXT" in (done.error_message or "")


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(runway_api_key="key_wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, animate())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Incorrect API key" in (done.error_message or "")


async def test_fake_refuses_calls_without_the_version_header(fake: Any) -> None:
    async with httpx.AsyncClient(base_url=fake[1]) as client:
        headers = {"Authorization": "Bearer key_runway_test"}
        body = {"model": "gen4_turbo", "promptImage": IMAGE, "ratio": "1280:720"}
        refused = await client.post("/v1/image_to_video", json=body, headers=headers)
        assert refused.status_code == 400 and "X-Runway-Version" in refused.json()["error"]
        accepted = await client.post(
            "/v1/image_to_video", json=body, headers={**headers, "X-Runway-Version": "2024-11-06"}
        )
        assert accepted.status_code == 200 and accepted.json()["id"]


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, animate())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [502] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, animate())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_poll_maps_throttled_and_running_progress(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 0.6
    settings = vendor.settings()
    model = load_catalog().resolve("gen4_turbo")
    assert model is not None
    request = validate(animate("[throttled] a queue"), model)
    async with httpx.AsyncClient() as client:
        adapter = RunwayAdapter(ProviderContext(settings, client))
        submitted = await adapter.submit(ProviderJob("t1", request))
        assert isinstance(submitted, Submitted) and submitted.state == {"endpoint": "image_to_video"}
        job = ProviderJob("t1", request, submitted.vendor_job_id, dict(submitted.state))
        seen: list[tuple[JobStatus, int | None]] = []
        for _ in range(100):
            result = await adapter.poll(job)
            seen.append((result.status, result.progress))
            if result.status is JobStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.03)
    assert seen[0] == (JobStatus.PENDING, None)  # THROTTLED
    running = [p for s, p in seen if s is JobStatus.PROCESSING]
    assert running and all(p is not None and 0 <= p < 100 for p in running)
    assert seen[-1] == (JobStatus.SUCCEEDED, 100)


async def test_cancel_while_running_cancels_at_the_vendor(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, animate())
    await until(processing(gw, principal, task.id))
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await until(lambda: fake[0].calls["delete"])
    (job,) = fake[0].jobs.values()
    assert job.cancelled and fake[0].task_body(job)["status"] == "CANCELLED"
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(animate()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
