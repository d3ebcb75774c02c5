"""Stability AI contract: the real adapter against a faithful fake of the v2beta Stable Image API."""

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
from mediagate.providers.base import Finished, ProviderContext, ProviderJob, VendorBadRequest, VendorContentPolicy
from mediagate.providers.stability import StabilityAdapter
from mediagate.testing.fakes.stability import FakeStability
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec, decode, until

VENDOR = VendorSpec(
    fake=lambda: FakeStability(api_key="sk-test-key"),
    settings=lambda base: {"stability_api_key": "sk-test-key", "stability_base_url": base},
)


def image(prompt: str = "a lighthouse on a cliff", model: str = "stable-image-core", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_job(fake: FakeStability) -> Any:
    assert len(fake.jobs) == 1
    return next(iter(fake.jobs.values()))


async def test_core_text_to_image_multipart(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal,
        image(
            aspect_ratio="16:9",
            negative_prompt="fog",
            seed=42,
            output_format="webp",
            options={"style_preset": "photographic"},
        ),
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert (done.provider, done.credit_cost) == ("stability", 60)
    assert fake[0].calls["core"] == 1
    assert only_job(fake[0]).body == {
        "prompt": "a lighthouse on a cliff",
        "negative_prompt": "fog",
        "seed": "42",
        "output_format": "webp",
        "style_preset": "photographic",
        "aspect_ratio": "16:9",
    }
    assert decode(await download(http, done.outputs[0].url)) == ("WEBP", 1344, 768)
    assert (done.outputs[0].format, done.outputs[0].width) == ("webp", 1344)
    await ledger_consistent(gw, principal.account_id)


async def test_sd35_sends_the_model_field(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(
        principal, image(model="stable diffusion", aspect_ratio="2:3", options={"cfg_scale": 5})
    )
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    assert (done.model_id, done.credit_cost) == ("sd3.5-large", 130)
    body = only_job(fake[0]).body
    assert (body["model"], body["mode"], body["cfg_scale"], body["output_format"]) == (
        "sd3.5-large",
        "text-to-image",
        "5",
        "png",
    )
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 832, 1216)


@pytest.mark.parametrize(
    ("model", "credits"), [("stable-image-ultra", 160), ("sd3.5-large-turbo", 80), ("sd3.5-medium", 70)]
)
async def test_prices(gw: Gateway, model: str, credits: int) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image(model=model))).id)
    assert (done.status, done.credit_cost) == ("completed", credits)


async def test_image_to_image_uploads_the_input(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    source = synth.make_image("source", 640, 480, "png", label="INPUT")
    _, url = await gw.assets.upload(principal.account_id, source)
    task = await gw.tasks.create(
        principal, image("make it winter", model="sd3.5-medium", image_urls=[url], options={"strength": 0.7})
    )
    assert task.task_type == "image_to_image"
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    body = only_job(fake[0]).body
    assert (body["mode"], body["strength"], body["image"]) == (
        "image-to-image",
        "0.7",
        f"<{len(source)} bytes, image/png>",
    )
    assert "aspect_ratio" not in body
    assert decode(await download(http, done.outputs[0].url)) == ("PNG", 640, 480)


async def test_negative_prompt_refused_where_not_offered(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(model="sd3.5-large-turbo", negative_prompt="x"))
    assert err.value.field == "negative_prompt"
    with pytest.raises(InvalidParameter) as err:
        await gw.tasks.create(principal, image(model="sd3.5-large", output_format="webp"))
    assert "png, jpeg" in err.value.message


async def test_content_filtered_output_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=1000)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "CONTENT_FILTERED" in (done.error_message or "")
    assert (await gw.accounts.get(principal.account_id)).balance == 1000
    await ledger_consistent(gw, principal.account_id)


async def test_flagged_prompt_403_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "flagged by our content moderation" in (done.error_message or "")


async def test_wrong_key_fails_as_provider_unavailable(vendor: VendorHarness) -> None:
    async with vendor.gateway(stability_api_key="sk-wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, image())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "unauthorized" in (done.error_message or "")


async def test_rate_limit_then_success_generates_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert done.status == "completed"
    assert fake[0].submissions == 1 and fake[0].calls["core"] == 2


async def test_server_errors_are_retried_then_provider_error(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[fail] x"))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert fake[0].submissions == 0 and fake[0].calls["core"] == 4  # first try + 3 retries


async def test_cancel_during_the_synchronous_call(gw: Gateway, fake: Any) -> None:
    """Stability has no cancel: cancelling while the call runs refunds the task and drops the answer."""
    fake[0].delay = 0.5
    principal, _ = await make_principal(gw, credits=1000)
    task = await gw.tasks.create(principal, image())
    await until(lambda: fake[0].calls["core"])
    assert (await gw.tasks.cancel(principal, task.id)).status == "cancelled"
    await asyncio.sleep(0.8)
    after = await gw.tasks.get(principal, task.id)
    assert (after.status, after.outputs) == ("cancelled", [])
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (1000, 0)
    with pytest.raises(InvalidParameter):
        await gw.tasks.cancel(principal, task.id)


# --- the adapter on its own --------------------------------------------------------------------


def _request(vendor_model: str = "stable-image-core", **kw: Any) -> GenerationRequest:
    return GenerationRequest(
        type=MediaType.IMAGE,
        task_type=TaskType.TEXT_TO_IMAGE,
        model=vendor_model,
        requested_model=vendor_model,
        provider="stability",
        vendor_model=vendor_model,
        prompt=kw.pop("prompt", "a red kite"),
        **kw,
    )


@pytest.fixture
async def adapter(vendor: VendorHarness) -> AsyncIterator[StabilityAdapter]:
    async with httpx.AsyncClient() as client:
        yield StabilityAdapter(ProviderContext(vendor.settings(), client))


async def test_json_accept_returns_base64(adapter: StabilityAdapter) -> None:
    adapter.accept = "application/json"
    result = await adapter.submit(ProviderJob("t1", _request(aspect_ratio="21:9", output_format="jpeg")))
    assert isinstance(result, Finished)
    ref = result.outputs[0]
    assert ref.format == "jpeg" and ref.data is not None
    assert decode(ref.data) == ("JPEG", 1536, 640)
    with pytest.raises(VendorContentPolicy):
        await adapter.submit(ProviderJob("t2", _request(prompt="[moderation] y")))


async def test_vendor_validation_error_names_the_field(adapter: StabilityAdapter) -> None:
    with pytest.raises(VendorBadRequest) as err:
        await adapter.submit(ProviderJob("t1", _request(seed=2**40)))
    assert "seed" in err.value.message and err.value.vendor_code == "bad_request"


async def test_poll_and_cancel_are_not_used(adapter: StabilityAdapter) -> None:
    assert await adapter.cancel(ProviderJob("t1", _request(), "x", {})) is False
