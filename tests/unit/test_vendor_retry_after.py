"""Retry-After, the way RFC 9110 allows it: delta-seconds or an HTTP date, and every HTTP vendor honours both.

Regression: Seedance parsed the header with `float()`, so a 429 carrying an HTTP date raised ValueError
and the task failed as INTERNAL_ERROR instead of being retried.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from mediagate.catalog import load_catalog
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import InvalidParameter
from mediagate.media.synth import make_image
from mediagate.providers._http import retry_after
from mediagate.providers.base import Adapter, ProviderContext, ProviderJob, VendorRateLimited
from mediagate.providers.registry import ADAPTERS
from mediagate.services.validation import validate
from tests.helpers import fast_settings

#: adapters that never make an HTTP call
LOCAL = ("sandbox", "piper")
HTTP_PROVIDERS = [name for name in ADAPTERS if name not in LOCAL]


def http_date(seconds_ahead: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_ahead), usegmt=True)


# --- the parser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("30", 30.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0)])
def test_delta_seconds(value: str, expected: float) -> None:
    assert retry_after(value) == expected


def test_an_http_date_in_the_future_is_the_seconds_until_then() -> None:
    seconds = retry_after(http_date(120))
    assert seconds is not None
    assert 118 <= seconds <= 120  # HTTP dates have whole seconds


def test_the_rfc_example_date_parses() -> None:
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now


def test_an_http_date_in_the_past_is_zero() -> None:
    assert retry_after(http_date(-300)) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "  ", "-5", "1e3", "nan", "inf", "30 seconds", "Wed, 99 Foo"])
def test_garbage_is_none(value: str) -> None:
    assert retry_after(value) is None


def test_no_header_is_none() -> None:
    assert retry_after(None) is None


# --- every HTTP vendor ----------------------------------------------------------------------------


def adapter_class(provider: str) -> type[Adapter]:
    module_name, _, class_name = ADAPTERS[provider].partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def request_for(provider: str) -> GenerationRequest:
    """A valid request for the provider's first model that validates with a prompt (and an image, when
    the model needs one)."""
    catalog = load_catalog()
    for model in catalog.models_of(provider):
        images = ["https://images.example.com/face.png"] if model.capabilities.image_input == "required" else []
        try:
            return validate(GenerationInput(model=model.id, prompt="a red fox in the snow", image_urls=images), model)
        except InvalidParameter:
            continue
    raise AssertionError(f"no model of {provider} validates with a prompt")


async def png(url: str) -> tuple[bytes, str | None]:
    return make_image("input", 64, 64), "image/png"


@pytest.mark.parametrize("provider", HTTP_PROVIDERS)
async def test_a_429_with_an_http_date_is_rate_limited_with_its_delay(provider: str, tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            429,
            headers={"Retry-After": http_date(30)},
            json={"error": {"code": "rate_limited", "message": "Too many requests"}, "message": "Too many requests"},
        )

    cls = adapter_class(provider)
    credentials = {name: "test-credential-long-enough-for-an-hs256-key" for name in cls.required_settings}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = cls(ProviderContext(fast_settings(tmp_path, **credentials), client, png))
        with pytest.raises(VendorRateLimited) as raised:
            await adapter.submit(ProviderJob("task_retry_after", request_for(provider)))
    assert calls, f"{provider} never called its vendor"
    assert raised.value.retry_after is not None
    assert 25 <= raised.value.retry_after <= 31
