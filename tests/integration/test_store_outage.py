"""A database that stops answering mid-task (pool timeout, lock, lost connection) does not fail the task.

The job retries the writes that record what a vendor told us, and when the outage lasts longer its
runner runs the job again from the saved row: the vendor job is polled, not submitted twice, and the
task is charged once. Embedded on SQLite and procrastinate on PostgreSQL, with the real Seedance
adapter against its fake over HTTP.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from mediagate.domain.requests import GenerationInput
from mediagate.engine import job as job_module
from mediagate.gateway import Gateway
from mediagate.store.errors import is_transient
from mediagate.testing.fakes.seedance import FakeSeedance
from tests.helpers import (
    LOCKED,
    POOL_TIMEOUT,
    failing,
    fast_settings,
    ledger_consistent,
    make_principal,
    pg_database,
    wait_task,
)
from tests.integration.providers.conftest import serve_fake


@pytest.fixture
def fake() -> Iterator[tuple[FakeSeedance, str]]:
    yield from serve_fake(FakeSeedance(api_key="ark-test-key", latency=0.3))


@pytest.fixture(params=["embedded-sqlite", "procrastinate-postgresql"])
async def gw(request: pytest.FixtureRequest, tmp_path: Path, fake: tuple[FakeSeedance, str]) -> AsyncIterator[Gateway]:
    values: dict[str, Any] = {"seedance_api_key": "ark-test-key", "seedance_base_url": f"{fake[1]}/api/v3"}
    async with AsyncExitStack() as stack:
        if request.param == "procrastinate-postgresql":
            values |= {"database_url": await stack.enter_async_context(pg_database()), "engine": "procrastinate"}
            values |= {"worker_fetchers": 1}
        gateway = Gateway(fast_settings(tmp_path, **values))
        await gateway.start()
        yield gateway
        await gateway.stop()


def video() -> GenerationInput:
    return GenerationInput(model="seedance 2.0", prompt="a lighthouse at dusk", duration=5, resolution="480p")


async def test_an_outage_longer_than_the_write_retries_reruns_the_job_without_a_second_submission(
    gw: Gateway, fake: tuple[FakeSeedance, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_module, "STORE_RETRY_SECONDS", 0.3)  # two tries per run, then the runner reruns
    complete = failing(3, POOL_TIMEOUT, gw.states.complete)
    monkeypatch.setattr(gw.states, "complete", complete)
    principal, _ = await make_principal(gw, credits=1_000)
    task = await gw.tasks.create(principal, video())
    done = await wait_task(gw, principal, task.id, timeout=60)
    assert done.status == "completed", (done.error_code, done.error_message)
    assert complete.calls["n"] == 4
    assert len(fake[0].jobs) == 1  # polled again after the rerun, never submitted again
    assert len(done.outputs) == 1
    assert len(list(Path(gw.settings.data_dir).rglob("*.mp4"))) == 1  # the failed tries' files were discarded
    account = await gw.accounts.get(principal.account_id)
    assert account.balance == 1_000 - (done.credit_cost or 0) and (done.credit_cost or 0) > 0
    await ledger_consistent(gw, principal.account_id)


async def test_the_vendor_job_id_is_saved_through_a_short_outage(
    gw: Gateway, fake: tuple[FakeSeedance, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = failing(2, LOCKED, gw.states.mark_submitted)
    monkeypatch.setattr(gw.states, "mark_submitted", mark)
    principal, _ = await make_principal(gw)
    task = await gw.tasks.create(principal, video())
    done = await wait_task(gw, principal, task.id, timeout=60)
    assert done.status == "completed", (done.error_code, done.error_message)
    assert mark.calls["n"] == 3
    assert len(fake[0].jobs) == 1
    await ledger_consistent(gw, principal.account_id)


async def test_a_bug_still_fails_the_task_and_refunds(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gw.states, "complete", failing(1_000, RuntimeError("a bug"), gw.states.complete))
    principal, _ = await make_principal(gw, credits=1_000)
    task = await gw.tasks.create(principal, video())
    done = await wait_task(gw, principal, task.id, timeout=60)
    assert (done.status, done.error_code) == ("failed", "INTERNAL_ERROR")
    account = await gw.accounts.get(principal.account_id)
    assert account.balance == 1_000
    await ledger_consistent(gw, principal.account_id)


def test_which_errors_are_an_outage() -> None:
    assert is_transient(POOL_TIMEOUT) and is_transient(LOCKED) and is_transient(ConnectionRefusedError())

    class PgError(Exception):
        def __init__(self, code: str) -> None:
            self.pgcode = code

    assert is_transient(sa_exc.DBAPIError("SELECT 1", {}, PgError("40001")))  # serialization failure
    assert is_transient(sa_exc.DBAPIError("SELECT 1", {}, PgError("57P03")))  # cannot connect now
    assert not is_transient(sa_exc.DBAPIError("SELECT 1", {}, PgError("23505")))  # unique violation
    assert not is_transient(sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))
    assert not is_transient(RuntimeError("a bug")) and not is_transient(ValueError())
