"""BFL FLUX contract: the real adapter against a faithful fake of the BFL API, over HTTP."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mediagate.domain.media import MediaType, TaskType
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import InvalidParameter
from mediagate.gateway import Gateway
from mediagate.providers.base import (
    JobStatus,
    ProviderContext,
    ProviderJob,
    Submitted,
    VendorBadRequest,
)
from mediagate.providers.bfl import FluxAdapter, size_for
from mediagate.testing.fakes.bfl import FakeBFL
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, decode, until

VENDOR = VendorSpec(
    fake=lambda: FakeBFL(api_key="bfl-test-key", latency=0.3),
    settings=lambda base: {"bfl_api_key": "bfl-test-key", "bfl_base_url": f"{base}/v1", "allow_private_urls": True},
)


def image(prompt: str = "a red fox in the snow", model: str = "flux-dev", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_job(fake: FakeBFL) -> Any:
    assert len(fake.jobs) == 1
    return next(iter(fake.jobs.values()))


async def test_seed_example_flux_ultra_with_quality_and_seed(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    """The seed's example: provider "flux-ultra", aspectRatio 16:9, quality "ultra", seed 42."""
    principal, _ = await make_principal(gw)
    inp = GenerationInput(
        provider="flux-ultra",
        prompt="Photorealistic portrait in Rembrandt style",
        aspect_ratio="16:9",
        seed=42,
        options={"quality": "ultra"},
    )
    task = await gw.tasks.create(principal, inp)
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert (done.model_id, done.provider, done.credit_cost) == ("flux-pro-1.1-ultra", "flux", 200)
    job = only_job(fake[0])
    assert job.extra["model"] == "flux-pro-1.1-ultra"
    assert job.body == {
        "prompt": "Photorealistic portrait in Rembrandt style",
        "aspect_ratio": "16:9",
        "seed": 42,
        "output_format": "jpeg",
        "raw": False,
    }
    assert fake[0].calls["get_result"] >= 2  # polled through the returned polling_url until Ready
    assert fake[0].calls["file"] == 1  # the delivery URL was fetched without our key (the fake checks)
    data = await download(http, done.outputs[0].url)
    assert decode(data) == ("JPEG", 2720, 1536)
    assert (done.outputs[0].format, done.outputs[0].width, done.outputs[0].height) == ("jpeg", 2720, 1536)
    await ledger_consistent(gw, principal.account_id)


async def test_ultra_raw_quality(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, image(model="flux ultra", options={"quality": "raw"}, aspect_ratio="1:1"))
    assert (await wait_task(gw, principal, task.id)).status == "completed"
    assert only_job(fake[0]).body["raw"] is True


async def test_flux_dev_png_with_size_from_aspect_ratio(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, image(aspect_ratio="16:9", output_format="png", options={"steps": 20, "guidance": 3.5})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert done.credit_cost == 50
    body = only_job(fake[0]).body
    assert (body["width"], body["height"], body["steps"], body["guidance"]) == (1376, 768, 20, 3.5)
    assert "aspect_ratio" not in body
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 1376, 768)


@pytest.mark.parametrize(("model", "credits"), [("flux-pro", 100), ("flux-pro-1.1", 250), ("flux-kontext-max", 160)])
async def test_seed_prices(gw: Gateway, model: str, credits: int) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image(model=model))).id)
    assert (done.status, done.credit_cost) == ("completed", credits)


async def test_explicit_width_height_snap_to_multiples_of_32(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, image(model="flux-pro-1.1", options={"width": 1000, "height": 700}))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert decode(await download(http, done.outputs[0].url)) == ("JPEG", 992, 704)


async def test_kontext_edit_passes_reference_urls(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    refs = [f"{fake[1]}/inputs/room.png", f"{fake[1]}/inputs/sofa.png"]
    task = await gw.tasks.create(
        principal, image("put the sofa from image 2 in the room", model="flux kontext", image_urls=refs)
    )
    assert task.task_type == "image_to_image"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake[0]).body
    assert (body["input_image"], body["input_image_2"]) == tuple(refs)
    assert fake[0].calls["input"] == 0  # BFL fetches Kontext references itself; we only pass the URLs
    assert done.credit_cost == 80
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 1024, 1024)


async def test_image_prompt_is_sent_as_base64(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        image(model="flux-ultra", image_urls=[f"{fake[1]}/inputs/ref.png"], options={"image_prompt_strength": 0.4}),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake[0]).body
    assert decode(base64.b64decode(body["image_prompt"])) == ("PNG", 64, 48)
    assert body["image_prompt_strength"] == 0.4


async def test_quality_is_refused_where_it_means_nothing(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(model="flux-pro", options={"quality": "ultra"}))
    assert "options.quality is not supported by model 'flux-pro'" in err.value.message
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(model="flux-ultra", options={"quality": "4k"}))
    assert "ultra, raw" in err.value.message
    with pytest.raises(InvalidParameter):
        await gw.tasks.create(principal, image(model="flux-ultra", aspect_ratio="5:1"))


async def test_vendor_error_fails_the_task_and_refunds(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[fail] a cat"))).id)
    assert (done.status, done.error_code) == ("failed", "GENERATION_FAILED")
    assert "Error" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)
    await ledger_consistent(gw, principal.account_id)


@pytest.mark.parametrize(
    ("trigger", "status"), [("[moderation]", "Content Moderated"), ("[blocked]", "Request Moderated")]
)
async def test_moderation_is_a_content_policy_failure(gw: Gateway, trigger: str, status: str) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image(f"{trigger} x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert status in (done.error_message or "")
    assert (await gw.accounts.get(principal.account_id)).balance == 1000


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(bfl_api_key="wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, image())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "Not authenticated" in (done.error_message or "")
        assert fake[0].submissions == 0


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429, 429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 3


async def test_persistent_5xx_is_a_provider_error(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [500] * 20
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0


async def test_cancel_stops_polling(gw: Gateway, fake: Any) -> None:
    """BFL has no cancel endpoint: cancelling refunds the task and stops polling the vendor."""
    fake[0].latency = 30
    principal, _ = await make_principal(gw, credits=1000)
    task = await gw.tasks.create(principal, image())
    await until(lambda: fake[0].calls["get_result"])
    cancelled = await gw.tasks.cancel(principal, task.id)
    assert cancelled.status == "cancelled"
    await asyncio.sleep(0.1)
    polls = fake[0].calls["get_result"]
    await asyncio.sleep(0.5)
    assert fake[0].calls["get_result"] == polls
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)


async def test_restart_resumes_polling_without_resubmitting(vendor: VendorHarness, fake: Any) -> None:
    fake[0].latency = 1.2
    async with vendor.restarted(image()) as (second, principal, task, row):
        assert row is not None and (row.provider_state or {})["polling_url"].endswith(
            f"get_result?id={row.provider_job_id}"
        )
        done = await wait_task(second, principal, task.id)
        assert done.status == "completed"
        assert fake[0].submissions == 1
        await ledger_consistent(second, principal.account_id)


# --- the adapter on its own --------------------------------------------------------------------


def _request(model: str = "flux-dev", **kw: Any) -> GenerationRequest:
    return GenerationRequest(
        type=MediaType.IMAGE,
        task_type=TaskType.TEXT_TO_IMAGE,
        model=model,
        requested_model=model,
        provider="flux",
        vendor_model=model,
        prompt=kw.pop("prompt", "a lighthouse"),
        **kw,
    )


@pytest.fixture
async def adapter(vendor: VendorHarness) -> AsyncIterator[FluxAdapter]:
    async with httpx.AsyncClient() as client:
        yield FluxAdapter(ProviderContext(vendor.settings(), client))


async def test_untrusted_polling_url_is_not_sent_our_key(adapter: FluxAdapter, fake: Any) -> None:
    submitted = await adapter.submit(ProviderJob("t1", _request()))
    assert isinstance(submitted, Submitted)
    job = ProviderJob("t1", _request(), submitted.vendor_job_id, {"polling_url": "https://evil.example/steal"})
    assert adapter._polling_url(job) == f"{fake[1]}/v1/get_result?id={job.vendor_job_id}"
    job.state = {}
    assert (await adapter.poll(job)).status in (JobStatus.PROCESSING, JobStatus.SUCCEEDED)
    assert adapter._polling_url(
        ProviderJob("t", _request(), "x", {"polling_url": "https://api.eu.bfl.ai/v1/get_result?id=x"})
    ) == ("https://api.eu.bfl.ai/v1/get_result?id=x")


async def test_task_not_found_is_a_failure(adapter: FluxAdapter) -> None:
    result = await adapter.poll(ProviderJob("t1", _request(), "does-not-exist", {}))
    assert result.status is JobStatus.FAILED and "Task not found" in (result.error or "")
    assert not result.content_policy


async def test_validation_errors_name_the_field(adapter: FluxAdapter) -> None:
    with pytest.raises(VendorBadRequest) as err:
        await adapter.submit(ProviderJob("t1", _request("flux-pro-1.1-ultra", aspect_ratio="9:1")))
    assert "aspect_ratio" in err.value.message and err.value.status == 422


async def test_cancel_is_not_supported(adapter: FluxAdapter) -> None:
    assert await adapter.cancel(ProviderJob("t1", _request(), "abc", {})) is False


def test_size_for_ratios() -> None:
    assert size_for("1:1") == (1024, 1024)
    assert size_for("16:9") == (1376, 768)
    assert size_for("9:16") == (768, 1376)
    width, height = size_for("21:9")
    assert width <= 1440 and width % 32 == 0 and height % 32 == 0
