"""Helpers shared by the test suites."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import exc as sa_exc

from mediagate.config import Settings
from mediagate.domain.media import KeyMode
from mediagate.gateway import Gateway
from mediagate.services.views import Principal, TaskView

#: what a database outage looks like to a service call: a connection pool that timed out, SQLite locked
POOL_TIMEOUT = sa_exc.TimeoutError("QueuePool limit of size 30 overflow 0 reached, connection timed out, timeout 30.00")
LOCKED = sa_exc.OperationalError("UPDATE tasks ...", {}, sqlite3.OperationalError("database is locked"))


class Failing:
    """`call`, raising `error` on its first `times` calls; `calls["n"]` counts them all."""

    def __init__(self, times: int, error: BaseException, call: Callable[..., Awaitable[Any]]) -> None:
        self.times, self.error, self.call = times, error, call
        self.calls: dict[str, int] = {"n": 0}

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["n"] += 1
        if self.calls["n"] <= self.times:
            raise self.error
        return await self.call(*args, **kwargs)


def failing(times: int, error: BaseException, call: Callable[..., Awaitable[Any]]) -> Failing:
    """`call`, raising `error` on its first `times` calls (its `calls["n"]` counts them all)."""
    return Failing(times, error, call)


def fast_settings(tmp_path: Any, **overrides: Any) -> Settings:
    """Fast settings for tests: a private data dir, quick polling and a short sandbox delay."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "sandbox_delay_seconds": 0.3,
        "poll_interval_seconds": 0.05,
        "poll_interval_max_seconds": 0.2,
        "webhook_poll_interval_seconds": 0.1,
        "provider_max_retries": 3,
        "admin_key": "admin-secret",
    }
    values.update(overrides)
    return Settings(**values)


async def make_principal(
    gateway: Gateway, *, credits: int = 10_000, plan: str = "enterprise", test: bool = False
) -> tuple[Principal, str]:
    """A new account with credits and one key: (principal, raw key)."""
    account = await gateway.accounts.create_account("tester", plan, credits)
    raw, _ = await gateway.accounts.create_key(account.id, KeyMode.TEST if test else KeyMode.LIVE)
    return await gateway.accounts.authenticate(f"Bearer {raw}"), raw


async def wait_task(gateway: Gateway, principal: Principal, task_id: str, timeout: float = 30) -> TaskView:
    """Poll the task service until the task is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        view = await gateway.tasks.get(principal, task_id)
        if view.status in ("completed", "failed", "cancelled"):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {view.status} after {timeout}s")
        await asyncio.sleep(0.05)


async def wait_http(client: httpx.AsyncClient, key: str, task_id: str, timeout: float = 30) -> dict[str, Any]:
    """Poll GET /api/v1/tasks/{id} until the task is terminal; returns `data`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        if data["status"] in ("completed", "failed", "cancelled"):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {data['status']} after {timeout}s")
        await asyncio.sleep(0.05)


async def download(client: httpx.AsyncClient, url: str) -> bytes:
    """Fetch one of our signed asset URLs through the app."""
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    return response.content


async def ledger_consistent(gateway: Gateway, account_id: str) -> None:
    """balance == Σ ledger amounts, and reserved == Σ unsettled reservations, for one account."""
    from sqlalchemy import select

    from mediagate.store.tables import Account, LedgerEntry

    async with gateway.db.read() as session:
        account = await session.get(Account, account_id)
        entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == account_id))).all()
    assert account is not None
    assert account.balance >= 0 and account.reserved >= 0
    assert account.balance == sum(e.amount for e in entries)
    reserved = {e.task_id: e.credits for e in entries if e.kind == "reserve"}
    settled = {e.task_id for e in entries if e.kind == "settle"}
    assert account.reserved == sum(c for t, c in reserved.items() if t not in settled)
    kinds: dict[tuple[str | None, str], int] = {}
    for e in entries:
        if e.task_id is not None:
            kinds[(e.task_id, e.kind)] = kinds.get((e.task_id, e.kind), 0) + 1
    assert all(n == 1 for n in kinds.values()), kinds


def reachable(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (the PostgreSQL and Redis the tests use)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pg_reachable() -> bool:
    return reachable(5432)


def redis_reachable() -> bool:
    return reachable(6379)


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """Create a fresh PostgreSQL database, yield its SQLAlchemy URL, drop it afterwards.

    Under CI (`CI` set) an unreachable PostgreSQL is a failure, not a skip.
    """
    import os
    import uuid

    import asyncpg
    import pytest

    if not pg_reachable():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (required under CI)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"mg_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
