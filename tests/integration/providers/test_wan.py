"""Wan contract: the real adapter against a faithful fake of DashScope's video-synthesis API, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mediagate.catalog.loader import load_catalog
from mediagate.domain.requests import GenerationInput
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.providers.base import JobStatus, ProviderContext, ProviderJob, Submitted, VendorAuthError
from mediagate.providers.wan import WanAdapter
from mediagate.services.validation import validate
from mediagate.testing.fakes.wan import FakeWan
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, processing, until

IMAGE = "https://example.com/cat.png"
KEY = "sk-wan-test"


VENDOR = VendorSpec(
    fake=lambda: FakeWan(api_key=KEY, latency=0.4),
    settings=lambda base: {"dashscope_api_key": KEY, "dashscope_base_url": f"{base}/api/v1"},
    public_dns=True,
)


def video(prompt: str = "a koi pond in the rain", model: str = "wan 2.2", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_body(fake: Any) -> dict[str, Any]:
    (job,) = fake[0].jobs.values()
    body: dict[str, Any] = job.body
    return body


def adapter_for(settings: Any, client: httpx.AsyncClient) -> WanAdapter:
    return WanAdapter(ProviderContext(settings, client))


def request_for(model_name: str, inp: GenerationInput) -> Any:
    model = load_catalog().resolve(model_name)
    assert model is not None
    return validate(inp, model)


async def test_seed_wan_2_2_text_to_video_480p_5s(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video(resolution="480p", duration=5, seed=11, negative_prompt="blur"))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    assert body["model"] == "wan2.2-t2v-plus"
    assert body["input"] == {"prompt": "a koi pond in the rain", "negative_prompt": "blur"}
    assert body["parameters"] == {"size": "832*480", "duration": 5, "seed": 11}
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 832, 480, 5.0)
    assert done.credit_cost == 10 and done.provider == "wan"
    await ledger_consistent(gw, principal.account_id)


async def test_image_goes_to_the_i2v_sibling_with_a_resolution_tier(
    gw: Gateway, http: httpx.AsyncClient, fake: Any
) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video("the cat blinks", image_urls=[IMAGE], resolution="480p"))
    assert task.task_type == "image_to_video"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_body(fake)
    assert body["model"] == "wan2.2-i2v-plus"
    assert body["input"] == {"prompt": "the cat blinks", "img_url": IMAGE}
    assert body["parameters"] == {"resolution": "480P", "duration": 5}
    info = probe(await download(http, done.outputs[0].url))
    assert (info.width, info.height) == (832, 480)
    row = await gw.tasks.load(task.id)
    assert row is not None and (row.provider_state or {})["model"] == "wan2.2-i2v-plus"


async def test_wan_2_5_audio_and_options(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        video(
            "a drummer on a rooftop",
            model="wan 2.5",
            duration=10,
            resolution="480p",
            aspect_ratio="9:16",
            generate_audio=True,
            options={"prompt_extend": False, "watermark": True},
        ),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    params = only_body(fake)["parameters"]
    assert params == {"size": "480*832", "duration": 10, "audio": True, "prompt_extend": False, "watermark": True}
    assert done.credit_cost == 50  # 10 s × 10/s × 0.5 at 480p


async def test_wan_2_5_is_silent_by_default_and_takes_a_soundtrack(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    silent = await gw.tasks.create(principal, video(model="wan 2.5", resolution="480p"))
    assert (await wait_task(gw, principal, silent.id)).status == "completed"
    assert only_body(fake)["parameters"]["audio"] is False
    fake[0].jobs.clear()
    scored = await gw.tasks.create(
        principal, video(model="wan 2.5", resolution="480p", audio_url="https://example.com/beat.mp3")
    )
    assert (await wait_task(gw, principal, scored.id)).status == "completed"
    body = only_body(fake)
    assert body["input"]["audio_url"] == "https://example.com/beat.mp3" and "audio" not in body["parameters"]


async def test_catalog_limits_are_refused_up_front(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as duration:
        await gw.tasks.create(principal, video(duration=10))
    assert duration.value.field == "duration" and "Allowed values: 5" in duration.value.message
    with pytest.raises(InvalidParameter) as resolution:
        await gw.tasks.create(principal, video(resolution="720p"))
    assert "480p, 1080p" in resolution.value.message
    with pytest.raises(InvalidParameter) as audio:
        await gw.tasks.create(principal, video(generate_audio=True))
    assert audio.value.field == "generate_audio"
    assert fake[0].submissions == 0


async def test_fake_refuses_a_submission_without_the_async_header(fake: Any, vendor: VendorHarness) -> None:
    body = {"model": "wan2.2-t2v-plus", "input": {"prompt": "x"}, "parameters": {"size": "832*480"}}
    async with httpx.AsyncClient(base_url=f"{fake[1]}/api/v1") as client:
        refused = await client.post(
            "/services/aigc/video-generation/video-synthesis", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert refused.status_code == 403
        assert refused.json()["message"] == "current user api does not support synchronous calls"

        # and the adapter maps such an answer to an operator problem, not a retry
        class SyncCaller(WanAdapter):
            def _headers(self, *, submit: bool = False) -> dict[str, str]:
                return {"Authorization": f"Bearer {KEY}"}

        adapter = SyncCaller(ProviderContext(vendor.settings(), client))
        with pytest.raises(VendorAuthError, match="synchronous calls"):
            await adapter.submit(ProviderJob("t", request_for("wan 2.2", video(resolution="480p"))))
    assert fake[0].submissions == 0


async def test_vendor_failure_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=100)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "InternalError.Algo" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_output_moderation_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "DataInspectionFailed" in (done.error_message or "")


async def test_input_moderation_at_submit(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "inappropriate content" in (done.error_message or "") and fake[0].submissions == 0


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(dashscope_api_key="sk-wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, video())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "InvalidApiKey" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, video())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_cancel_while_pending_cancels_at_the_vendor(gw: Gateway, fake: Any) -> None:
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=100)
    task = await gw.tasks.create(principal, video())
    await until(processing(gw, principal, task.id))
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await until(lambda: fake[0].calls["cancel"])
    (job,) = fake[0].jobs.values()
    assert job.cancelled and fake[0].task_body(job)["output"]["task_status"] == "CANCELED"
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)


async def test_running_tasks_cannot_be_canceled_and_unknown_ids_fail(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 30
    settings = vendor.settings()
    async with httpx.AsyncClient() as client:
        adapter = adapter_for(settings, client)
        request = request_for("wan 2.2", video(resolution="480p"))
        submitted = await adapter.submit(ProviderJob("t", request))
        assert isinstance(submitted, Submitted)
        job = ProviderJob("t", request, submitted.vendor_job_id, dict(submitted.state))
        assert (await adapter.poll(job)).status is JobStatus.PENDING
        fake[0].jobs[submitted.vendor_job_id].created -= 15  # now RUNNING
        assert (await adapter.poll(job)).status is JobStatus.PROCESSING
        assert await adapter.cancel(job) is False
        gone = await adapter.poll(ProviderJob("t", request, "no-such-task"))
        assert gone.status is JobStatus.FAILED and "UNKNOWN" in (gone.error or "")


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.5
    async with vendor.restarted(video()) as (second, principal, task, _):
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)
