"""A database that does not answer is `503 SERVICE_UNAVAILABLE` with `Retry-After`, in every dialect —
not a 500 — and the SDK treats it as retryable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.client import RetryPolicy, ServiceUnavailableError
from mediagate.client.errors import error_from_response
from mediagate.gateway import Gateway
from tests.helpers import LOCKED, POOL_TIMEOUT, failing, fast_settings, make_principal


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(fast_settings(tmp_path))
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(gateway.settings, gateway=gateway), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=gateway.settings.base_url) as c:
        yield c


@pytest.fixture
async def key(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> str:
    """A valid key, on a gateway whose database then stops answering."""
    _, raw = await make_principal(gateway)

    monkeypatch.setattr(gateway.accounts, "authenticate", failing(10**9, POOL_TIMEOUT, gateway.accounts.authenticate))
    return raw


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/tasks/0192f0c2-0000-7000-8000-000000000000"),
        ("POST", "/api/v1/generations"),
        ("GET", "/api/v1/account"),
    ],
)
async def test_rest_answers_503_service_unavailable(
    client: httpx.AsyncClient, key: str, method: str, path: str
) -> None:
    body = {"model": "seedance 2.0", "prompt": "a quiet harbour"} if method == "POST" else None
    response = await client.request(method, path, headers=bearer(key), json=body)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE" and "retry" in error["message"]


async def test_openai_dialect_answers_503_server_error(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post("/v1/images/generations", headers=bearer(key), json={"prompt": "a red kite"})
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "server_error",
        "param": None,
        "code": "service_unavailable",
    }


async def test_digen_dialect_answers_503_service_unavailable(client: httpx.AsyncClient, key: str) -> None:
    response = await client.get("/b/v1/api-key", headers=bearer(key))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_graphql_error_is_service_unavailable(client: httpx.AsyncClient, key: str) -> None:
    query = 'query { generation(id: "x") { id status } }'
    response = await client.post("/graphql", json={"query": query}, headers=bearer(key))
    assert response.status_code == 200, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and error["extensions"]["status"] == 503
    assert "Internal server error" not in error["message"]


async def test_a_locked_sqlite_database_is_an_outage_too(
    gateway: Gateway, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, raw = await make_principal(gateway)

    monkeypatch.setattr(gateway.tasks, "get", failing(10**9, LOCKED, gateway.tasks.get))
    response = await client.get("/api/v1/tasks/0192f0c2-0000-7000-8000-000000000000", headers=bearer(raw))
    assert (response.status_code, response.json()["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")


async def test_a_bug_is_still_a_500(
    gateway: Gateway, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, raw = await make_principal(gateway)

    monkeypatch.setattr(gateway.tasks, "get", failing(10**9, RuntimeError("a bug"), gateway.tasks.get))
    response = await client.get("/api/v1/tasks/0192f0c2-0000-7000-8000-000000000000", headers=bearer(raw))
    assert (response.status_code, response.json()["error"]["code"]) == (500, "INTERNAL_ERROR")


def test_the_sdk_raises_service_unavailable_and_retries_it_after_retry_after() -> None:
    body = {"error": {"code": "SERVICE_UNAVAILABLE", "message": "retry the request shortly"}}
    error = error_from_response(503, {"retry-after": "1"}, body)
    assert isinstance(error, ServiceUnavailableError)
    policy = RetryPolicy()
    assert policy.should_retry(error, 0)
    assert 1.0 <= policy.delay_for(error, 0) <= 1.2
