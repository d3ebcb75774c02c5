"""Imagen contract: the real adapter against a faithful fake of `:predict` (Gemini API and Vertex AI)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.testing.fakes.imagen import FakeImagen
from tests.helpers import download, ledger_consistent, make_principal, wait_task
from tests.integration.providers.conftest import VendorHarness, VendorSpec

VENDOR = VendorSpec(
    fake=lambda: FakeImagen(api_key="AIza-img", access_token="ya29.img", project="proj-img"),
    settings=lambda base: {"gemini_api_key": "AIza-img", "gemini_base_url": f"{base}/v1beta"},
)


def vertex(base: str, **extra: Any) -> dict[str, Any]:
    """Settings overrides for Vertex AI mode."""
    return {"vertex_project": "proj-img", "vertex_access_token": "ya29.img", "vertex_base_url": base, **extra}


def image(prompt: str = "a red fox in snow", model: str = "imagen 4", **kw: Any) -> GenerationInput:
    return GenerationInput(model=model, prompt=prompt, **kw)


def only_job(fake: Any) -> Any:
    return next(iter(fake[0].jobs.values()))


async def test_text_to_image_finishes_synchronously_with_a_png(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, image(aspect_ratio="16:9", options={"person_generation": "dont_allow"}))
    done = await wait_task(gw, principal, task.id)
    assert done.status == "completed", done.error_message
    job = only_job(fake)
    assert job.body["model"] == "imagen-4.0-generate-001"
    assert job.body["instances"] == [{"prompt": "a red fox in snow"}]
    assert job.body["parameters"] == {
        "sampleCount": 1,
        "includeRaiReason": True,
        "aspectRatio": "16:9",
        "imageSize": "1K",
        "personGeneration": "dont_allow",
        "outputOptions": {"mimeType": "image/png"},
    }
    info = probe(await download(http, done.outputs[0].url))
    assert (info.format, info.width, info.height) == ("png", 1408, 768)
    assert done.credit_cost == 100
    await ledger_consistent(gw, principal.account_id)


async def test_several_images_2k_jpeg(gw: Gateway, http: httpx.AsyncClient, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    request = image(resolution="2K", output_format="jpeg", options={"number_of_images": 2})
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, request)).id)
    assert done.status == "completed", done.error_message
    assert len(done.outputs) == 2 and done.credit_cost == 200
    info = probe(await download(http, done.outputs[1].url))
    assert (info.format, info.width, info.height) == ("jpeg", 2048, 2048)


async def test_fixed_size_models_send_no_image_size(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image(model="imagen 4 fast"))).id)
    assert done.status == "completed", done.error_message
    assert "imageSize" not in only_job(fake).body["parameters"] and done.credit_cost == 50


async def test_filtered_images_are_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw, credits=500)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[moderation] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "usage guidelines" in (done.error_message or "")
    account = await gw.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (500, 0)
    await ledger_consistent(gw, principal.account_id)


async def test_prompt_refused_by_the_input_filter_is_a_content_policy_failure(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image("[blocked] x"))).id)
    assert (done.status, done.error_code) == ("failed", "CONTENT_POLICY")
    assert "Responsible AI" in (done.error_message or "")


async def test_vendor_500_is_retried_then_a_provider_error(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(provider_max_retries=1) as gateway:
        principal, _ = await make_principal(gateway, credits=500)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, image("[fail] x"))).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
        assert "Internal error" in (done.error_message or "") and fake[0].calls["create"] == 2
        account = await gateway.accounts.get(principal.account_id)
        assert (account.balance, account.reserved) == (500, 0)


async def test_wrong_api_key_400_is_an_auth_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(gemini_api_key="AIza-wrong") as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, image())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")
        assert "API key not valid" in (done.error_message or "")


async def test_rate_limit_then_success_submits_once(gw: Gateway, fake: Any) -> None:
    fake[0].inject = [429]
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image())).id)
    assert done.status == "completed", done.error_message
    assert fake[0].submissions == 1 and fake[0].calls["create"] == 2


async def test_seed_is_refused_on_the_gemini_api(gw: Gateway, fake: Any) -> None:
    principal, _ = await make_principal(gw)
    done = await wait_task(gw, principal, (await gw.tasks.create(principal, image(seed=3))).id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert "Vertex" in (done.error_message or "") and fake[0].calls["create"] == 0


async def test_vertex_mode_sends_seed_without_watermark(vendor: VendorHarness, fake: Any) -> None:
    async with vendor.gateway(**vertex(vendor.base_url)) as gateway:
        principal, _ = await make_principal(gateway)
        task = await gateway.tasks.create(principal, image(model="imagen 3", seed=11, aspect_ratio="3:4"))
        done = await wait_task(gateway, principal, task.id)
        assert done.status == "completed", done.error_message
        parameters = only_job(fake).body["parameters"]
        assert (parameters["seed"], parameters["addWatermark"]) == (11, False)
        assert (done.outputs[0].width, done.outputs[0].height) == (896, 1280)


async def test_vertex_wrong_token_is_an_auth_failure(vendor: VendorHarness) -> None:
    async with vendor.gateway(**vertex(vendor.base_url, vertex_access_token="ya29.stale")) as gateway:
        principal, _ = await make_principal(gateway)
        done = await wait_task(gateway, principal, (await gateway.tasks.create(principal, image())).id)
        assert (done.status, done.error_code) == ("failed", "PROVIDER_UNAVAILABLE")


async def test_ultra_takes_one_image_only(gw: Gateway) -> None:
    principal, _ = await make_principal(gw)
    from mediagate.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="number_of_images"):
        await gw.tasks.create(principal, image(model="imagen 4 ultra", options={"number_of_images": 2}))
