"""Credits, limits and Idempotency-Key under concurrency, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.gateway import Gateway
from tests.helpers import fast_settings, ledger_consistent, make_principal, pg_database

BODY = {"model": "seedance 2.0", "prompt": "a quiet harbour", "duration": 5, "resolution": "480p"}  # 15 credits


@pytest.fixture(params=["sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Gateway]:
    overrides: dict[str, Any] = {"sandbox_delay_seconds": 30}  # tasks stay in flight during the test
    async with AsyncExitStack() as stack:
        if request.param == "postgresql":
            overrides["database_url"] = await stack.enter_async_context(pg_database())
        gateway = Gateway(fast_settings(tmp_path, **overrides))
        await gateway.start()
        yield gateway
        await gateway.stop()


@pytest.fixture
async def http(backend: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(backend.settings, gateway=backend))
    async with httpx.AsyncClient(transport=transport, base_url=backend.settings.base_url) as client:
        yield client


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def test_50_concurrent_creations_with_credits_for_exactly_10(backend: Gateway, http: httpx.AsyncClient) -> None:
    principal, key = await make_principal(backend, credits=150, test=True)
    responses = await asyncio.gather(
        *(http.post("/api/v1/generations", json=BODY, headers=auth(key)) for _ in range(50))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10 and codes.count(402) == 40, codes
    refused = next(r for r in responses if r.status_code == 402).json()["error"]
    assert refused["message"] == "Insufficient credits. Required: 15, Available: 0"
    account = await backend.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (0, 150)
    assert (await backend.tasks.list_tasks(principal, None, 100, 0)).total == 10
    await ledger_consistent(backend, principal.account_id)


async def test_20_concurrent_requests_with_one_idempotency_key(backend: Gateway, http: httpx.AsyncClient) -> None:
    principal, key = await make_principal(backend, credits=1000, test=True)
    headers = auth(key, **{"Idempotency-Key": "order-42"})
    responses = await asyncio.gather(*(http.post("/api/v1/generations", json=BODY, headers=headers) for _ in range(20)))
    created = [r for r in responses if r.status_code == 201]
    assert created and all(r.status_code in (201, 409) for r in responses), [r.status_code for r in responses]
    assert len({r.json()["data"]["id"] for r in created}) == 1
    assert (await backend.tasks.list_tasks(principal, None, 100, 0)).total == 1
    account = await backend.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (985, 15)
    replay = await http.post("/api/v1/generations", json=BODY, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created[0].json()
    changed = await http.post("/api/v1/generations", json={**BODY, "duration": 10}, headers=headers)
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    await ledger_consistent(backend, principal.account_id)


async def test_bad_idempotency_keys_are_400(backend: Gateway, http: httpx.AsyncClient) -> None:
    _, key = await make_principal(backend, test=True)
    for bad in ("x" * 256, "has space", "tab\tkey"):
        response = await http.post("/api/v1/generations", json=BODY, headers=auth(key, **{"Idempotency-Key": bad}))
        assert response.status_code == 400 and response.json()["error"]["field"] == "Idempotency-Key"


async def test_a_failed_request_releases_its_idempotency_key(backend: Gateway, http: httpx.AsyncClient) -> None:
    principal, key = await make_principal(backend, credits=10, test=True)
    headers = auth(key, **{"Idempotency-Key": "retry-me"})
    assert (await http.post("/api/v1/generations", json=BODY, headers=headers)).status_code == 402
    await backend.accounts.add_credits(principal.account_id, 100)
    assert (await http.post("/api/v1/generations", json=BODY, headers=headers)).status_code == 201


async def test_free_plan_headers_count_down_and_the_11th_request_is_429(
    backend: Gateway, http: httpx.AsyncClient
) -> None:
    _, key = await make_principal(backend, plan="free", test=True)
    remaining = []
    for _ in range(10):
        response = await http.get("/api/v1/tasks", headers=auth(key))
        assert response.status_code == 200
        assert response.headers["x-ratelimit-limit"] == "10"
        assert 0 < int(response.headers["x-ratelimit-reset"]) <= 60
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == list(range(9, -1, -1))
    refused = await http.get("/api/v1/tasks", headers=auth(key))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < int(refused.headers["retry-after"]) <= 60 and refused.headers["x-ratelimit-remaining"] == "0"


async def test_concurrency_slot_is_freed_when_the_task_ends(backend: Gateway, http: httpx.AsyncClient) -> None:
    _, key = await make_principal(backend, plan="free", test=True)
    first = await http.post("/api/v1/generations", json=BODY, headers=auth(key))
    assert first.status_code == 201
    second = await http.post("/api/v1/generations", json=BODY, headers=auth(key))
    assert second.status_code == 429 and "Concurrency limit" in second.json()["error"]["message"]
    assert second.headers["retry-after"]
    await http.post(f"/api/v1/tasks/{first.json()['data']['id']}/cancel", headers=auth(key))
    third = await http.post("/api/v1/generations", json=BODY, headers=auth(key))
    assert third.status_code == 201


async def test_daily_cap_from_a_per_account_override(backend: Gateway, http: httpx.AsyncClient) -> None:
    principal, key = await make_principal(backend, test=True)
    from sqlalchemy import update

    from mediagate.store.tables import Account

    async with backend.db.write() as session:
        await session.execute(
            update(Account).where(Account.id == principal.account_id).values(limits_override={"daily": 2})
        )
    codes = [(await http.post("/api/v1/generations", json=BODY, headers=auth(key))).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


async def test_settling_twice_is_a_no_op(backend: Gateway) -> None:
    from mediagate.domain.media import TaskStatus
    from mediagate.domain.requests import GenerationInput

    principal, _ = await make_principal(backend, credits=100, test=True)
    task = await backend.tasks.create(principal, GenerationInput(**BODY))
    results = await asyncio.gather(
        *(backend.states.finish(task.id, TaskStatus.FAILED, error_message="x") for _ in range(5)),
        *(backend.states.finish(task.id, TaskStatus.COMPLETED) for _ in range(5)),
    )
    assert sum(results) == 1
    account = await backend.accounts.get(principal.account_id)
    assert account.reserved == 0 and account.balance in (85, 100)
    await ledger_consistent(backend, principal.account_id)
