"""The job, unit-tested on the in-memory runner with scripted adapters (`mediagate.testing`).

No vendor, no HTTP: two made-up providers (`alpha`, best by quality, and `beta`) with one image model
each, served by `FakeAdapter`s whose scripts say what the vendor answers. The database is a real SQLite
file (the job's transitions are the thing under test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.providers.base import ProviderContext
from mediagate.services.views import Principal
from mediagate.store.tables import Account, LedgerEntry
from mediagate.testing import FakeAdapter, InMemoryRunner
from mediagate.testing.adapter import (
    Accepted,
    Answer,
    Completed,
    Crash,
    Failed,
    Hang,
    Pending,
    Progress,
    RateLimited,
    Refused,
    Transient,
)
from tests.helpers import fast_settings, ledger_consistent, make_principal

CATALOG = """
[[providers]]
name = "alpha"
[[providers]]
name = "beta"

[[models]]
id = "alpha-image"
provider = "alpha"
type = "image"
task_types = ["text_to_image"]
quality = 99
[models.capabilities]
formats = ["png"]
default_format = "png"
[models.price]
base = 30

[[models]]
id = "beta-image"
provider = "beta"
type = "image"
task_types = ["text_to_image"]
quality = 98
[models.capabilities]
formats = ["png"]
default_format = "png"
[models.price]
base = 20
"""
CREDITS = 1000
#: a task's ledger rows (kind, amount), sorted: reserved at creation, then settled exactly one way
CAPTURED = [("capture", 0), ("reserve", -30), ("settle", 0)]
REFUNDED = [("refund", 30), ("reserve", -30), ("settle", 0)]


class Harness:
    def __init__(self, gateway: Gateway, principal: Principal) -> None:
        self.gateway = gateway
        self.principal = principal
        self.adapters: dict[str, FakeAdapter] = {}

    @property
    def runner(self) -> InMemoryRunner:
        assert isinstance(self.gateway.runner, InMemoryRunner)
        return self.gateway.runner

    def script(self, provider: str, answers: list[Answer], **kw: Any) -> FakeAdapter:
        adapter = FakeAdapter(ProviderContext(self.gateway.settings, self.gateway.http), answers, **kw)
        self.gateway.registry.register(provider, adapter)
        self.adapters[provider] = adapter
        return adapter

    async def create(self, **kw: Any) -> str:
        values: dict[str, Any] = {"model": "alpha-image", "prompt": "a red kite", **kw}
        view = await self.gateway.tasks.create(self.principal, GenerationInput(**values))
        return view.id

    async def task(self, task_id: str) -> Any:
        return await self.gateway.tasks.get(self.principal, task_id)

    async def ledger(self, task_id: str) -> list[tuple[str, int]]:
        async with self.gateway.db.read() as session:
            rows = await session.scalars(select(LedgerEntry).where(LedgerEntry.task_id == task_id))
            return sorted((e.kind, e.amount) for e in rows)

    async def balance(self) -> int:
        async with self.gateway.db.read() as session:
            account = await session.get(Account, self.principal.account_id)
            assert account is not None
            return account.balance


async def _harness(tmp_path: Path, **overrides: Any) -> AsyncIterator[Harness]:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "fake.toml").write_text(CATALOG)
    values: dict[str, Any] = {
        "catalog_dir": catalog,
        "poll_interval_seconds": 0.001,
        "poll_interval_max_seconds": 0.001,
        "provider_max_retries": 2,
        **overrides,
    }
    gateway = Gateway(fast_settings(tmp_path / "data", **values), runner=InMemoryRunner)
    await gateway.start()
    principal, _ = await make_principal(gateway, credits=CREDITS)
    try:
        yield Harness(gateway, principal)
    finally:
        await gateway.stop()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path):
        yield harness


# --- the happy path and the runner seam -------------------------------------------------------------


async def test_a_created_task_is_enqueued_after_commit_and_completes(h: Harness) -> None:
    adapter = h.script("alpha", [Accepted("j-1"), Pending(), Progress(40), Completed()])
    task_id = await h.create()
    assert [q.task_id for q in h.runner.queued] == [task_id] and h.runner.queues == ["remote"]
    assert (await h.task(task_id)).status == "pending"  # nothing runs until the test steps the runner

    assert await h.runner.run_all() == 1
    done = await h.task(task_id)
    assert done.status == "completed" and done.progress == 100 and done.provider == "alpha"
    assert done.outputs[0].format == "png" and done.outputs[0].width == 64
    assert adapter.calls == [("submit", None), ("poll", "j-1"), ("poll", "j-1"), ("poll", "j-1")]
    assert await h.ledger(task_id) == CAPTURED
    await ledger_consistent(h.gateway, h.principal.account_id)


async def test_a_creation_that_rolls_back_enqueues_nothing(h: Harness) -> None:
    h.script("alpha", [])

    class Claim:
        async def store(self, *args: Any) -> None:
            raise AssertionError("not reached")

    def render(view: Any) -> tuple[int, dict[str, Any]]:
        raise RuntimeError("the response could not be rendered")  # after enqueue, inside the transaction

    with pytest.raises(RuntimeError, match="rendered"):
        await h.gateway.tasks.create(
            h.principal, GenerationInput(model="alpha-image", prompt="x"), claim=Claim(), render=render  # type: ignore[arg-type]  # a stand-in claim
        )
    assert not h.runner.queued and await h.balance() == CREDITS


async def test_a_synchronous_vendor_finishes_inside_submit(h: Harness) -> None:
    adapter = h.script("alpha", [Completed()])
    task_id = await h.create()
    await h.runner.run_all()
    assert (await h.task(task_id)).status == "completed"
    assert adapter.calls == [("submit", None)]


# --- 1. error mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ([Refused("content_policy")], "CONTENT_POLICY"),
        ([Refused("auth")], "PROVIDER_UNAVAILABLE"),
        ([Refused("bad_request")], "PROVIDER_ERROR"),
        ([Transient(), Transient(), Transient()], "PROVIDER_ERROR"),  # retried twice, then given up
        ([Crash()], "INTERNAL_ERROR"),
        ([Accepted(), Failed("the model broke")], "GENERATION_FAILED"),
        ([Accepted(), Failed("nudity", content_policy=True)], "CONTENT_POLICY"),
        ([Accepted(), Progress(10), Crash(ValueError("bad json"))], "INTERNAL_ERROR"),
    ],
)
async def test_vendor_answers_map_to_error_codes_and_refund(h: Harness, script: list[Answer], code: str) -> None:
    adapter = h.script("alpha", script)
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code) == ("failed", code)
    assert not adapter.script, "every scripted answer was used"
    assert await h.ledger(task_id) == REFUNDED
    assert await h.balance() == CREDITS


async def test_rate_limits_and_transient_errors_are_retried(h: Harness) -> None:
    adapter = h.script(
        "alpha", [RateLimited(retry_after=0.01), Accepted("j-2"), Transient(), Progress(50), Completed()]
    )
    task_id = await h.create()
    await h.runner.run_all()
    assert (await h.task(task_id)).status == "completed"
    assert adapter.count("submit") == 2 and adapter.count("poll") == 3


# --- 2. fallback before acceptance, never after --------------------------------------------------------


async def test_falls_back_to_the_next_provider_while_no_vendor_accepted(h: Harness) -> None:
    alpha = h.script("alpha", [Refused("auth", "key revoked")])
    beta = h.script("beta", [Accepted("b-1"), Completed()])
    task_id = await h.create(model=None, type="image", priority="quality")
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.provider, done.model_id) == ("completed", "beta", "beta-image")
    assert alpha.calls == [("submit", None)] and beta.calls == [("submit", None), ("poll", "b-1")]
    assert [a["provider"] for a in done.attempts] == ["alpha", "beta"]
    assert "key revoked" in done.attempts[0]["error"] and done.attempts[1]["accepted"] is True
    # charged once, at the price reserved at creation
    assert await h.ledger(task_id) == CAPTURED
    await ledger_consistent(h.gateway, h.principal.account_id)


async def test_no_fallback_once_a_vendor_accepted_the_job(h: Harness) -> None:
    h.script("alpha", [Accepted("a-1"), Failed("out of memory")])
    beta = h.script("beta", [])
    task_id = await h.create(model=None, type="image", priority="quality")
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code, done.provider) == ("failed", "GENERATION_FAILED", "alpha")
    assert beta.calls == []


async def test_an_explicit_model_never_falls_back(h: Harness) -> None:
    h.script("alpha", [Refused("auth")])
    beta = h.script("beta", [])
    task_id = await h.create(model="alpha-image")
    await h.runner.run_all()
    assert (await h.task(task_id)).error_code == "PROVIDER_UNAVAILABLE"
    assert beta.calls == []


# --- 3. resume from the saved vendor job id ------------------------------------------------------------


async def test_a_crashed_job_resumes_from_the_saved_vendor_job_id(h: Harness) -> None:
    hang = Hang()
    adapter = h.script("alpha", [Accepted("j-9", {"endpoint": "x"}), hang, Progress(70), Completed()])
    task_id = await h.create()
    running = h.runner.run_in_background()
    await asyncio.wait_for(hang.reached.wait(), 5)
    await h.runner.stop()  # the process dies while the job waits at its vendor
    await running
    row = await h.gateway.tasks.load(task_id)
    assert row is not None and row.status == "processing" and row.provider_job_id == "j-9"

    await h.runner.start()  # a new start resumes every unfinished task
    assert h.runner.queues[-1] == "resumed"
    await h.runner.run_all()
    done = await h.task(task_id)
    assert done.status == "completed"
    assert adapter.count("submit") == 1, "resumed, not submitted again"
    assert adapter.calls[-2:] == [("poll", "j-9"), ("poll", "j-9")]
    assert h.runner.runs[task_id] == 2
    assert await h.ledger(task_id) == CAPTURED


# --- 4. timeout -----------------------------------------------------------------------------------------


async def test_a_task_past_its_deadline_fails_as_timeout_and_is_cancelled_at_the_vendor(tmp_path: Path) -> None:
    async for h in _harness(tmp_path, task_timeout_seconds=0.3):
        adapter = h.script("alpha", [Accepted("slow-1"), *(Progress(1) for _ in range(10_000))])
        task_id = await h.create()
        await h.runner.run_all()
        done = await h.task(task_id)
        assert (done.status, done.error_code) == ("failed", "TIMEOUT")
        assert adapter.calls[-1] == ("cancel", "slow-1")
        assert await h.ledger(task_id) == REFUNDED


# --- 5. cancel --------------------------------------------------------------------------------------------


async def test_a_client_cancel_stops_the_job_refunds_and_cancels_at_the_vendor(h: Harness) -> None:
    hang = Hang()
    adapter = h.script("alpha", [Accepted("c-1"), Progress(20), hang, Completed()])
    task_id = await h.create()
    running = h.runner.run_in_background()
    await asyncio.wait_for(hang.reached.wait(), 5)
    view = await h.gateway.tasks.cancel(h.principal, task_id)
    await running
    assert view.status == "cancelled" and h.runner.aborted == [task_id]
    assert adapter.calls[-1] == ("cancel", "c-1")
    assert adapter.script == [Completed()], "no poll after the cancel"
    assert await h.ledger(task_id) == REFUNDED
    assert await h.balance() == CREDITS


async def test_a_task_cancelled_before_its_job_ran_never_reaches_the_vendor(h: Harness) -> None:
    adapter = h.script("alpha", [])
    task_id = await h.create()
    await h.gateway.tasks.cancel(h.principal, task_id)
    assert await h.runner.run_all() == 0
    assert adapter.calls == []  # never submitted, and no vendor job to cancel


# --- 6. settlement exactly once -------------------------------------------------------------------------


async def test_running_a_finished_task_again_changes_nothing(h: Harness) -> None:
    adapter = h.script("alpha", [Accepted("once"), Completed()])
    task_id = await h.create()
    await h.runner.run_all()
    for _ in range(3):  # a duplicate delivery of the job (procrastinate retry, a second worker)
        await h.gateway.job.run(task_id)
    assert len(adapter.calls) == 2
    assert await h.ledger(task_id) == CAPTURED
    assert await h.balance() == CREDITS - 30
    await ledger_consistent(h.gateway, h.principal.account_id)


async def test_two_concurrent_runs_of_one_job_settle_once(h: Harness) -> None:
    h.script("alpha", [Accepted("x"), Accepted("y"), Completed(), Completed()])
    task_id = await h.create()
    h.runner.queued.clear()
    await asyncio.gather(h.gateway.job.run(task_id), h.gateway.job.run(task_id))
    assert (await h.task(task_id)).status == "completed"
    assert await h.ledger(task_id) == CAPTURED
    assert await h.balance() == CREDITS - 30


async def test_a_job_interrupted_by_a_database_outage_runs_again_and_settles_once(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediagate.engine import job as job_module
    from tests.helpers import POOL_TIMEOUT, failing

    monkeypatch.setattr(job_module, "STORE_RETRY_SECONDS", 0.05)
    adapter = h.script("alpha", [Accepted("o-1"), Completed(), Completed()])
    complete = failing(1, POOL_TIMEOUT, h.gateway.states.complete)
    monkeypatch.setattr(h.gateway.states, "complete", complete)
    task_id = await h.create()
    await h.runner.run_all()
    assert h.runner.runs[task_id] == 2 and h.runner.queues == ["remote", "remote"]
    assert (await h.task(task_id)).status == "completed"
    assert adapter.count("submit") == 1
    assert await h.ledger(task_id) == CAPTURED
