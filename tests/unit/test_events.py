"""The event core: subscriptions coalesce and resync, hints are delivered only after commit, and the
state-ranked events a watcher derives from task views."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mediagate.events.base import RESYNC, Hub, Subscription, TaskHint
from mediagate.events.local import LocalBus
from mediagate.services.task_events import events_after, parse_rank
from mediagate.services.views import OutputView, TaskView
from mediagate.store.db import Database


def hint(task: str = "t1", account: str = "a1", status: str = "processing", progress: int = 0) -> TaskHint:
    return TaskHint(task, account, status, progress)


def test_hints_encode_and_decode() -> None:
    original = hint(progress=42)
    assert TaskHint.decode(original.encode()) == original
    with pytest.raises(ValueError):
        TaskHint.decode("garbage")


async def test_a_subscription_gets_its_task_and_account_hints_coalesced_per_task() -> None:
    hub = Hub()
    by_task, by_account = Subscription(hub, task_id="t1"), Subscription(hub, account_id="a1")
    async with by_task, by_account:
        for progress in (10, 20, 30):
            hub.deliver(hint(progress=progress))
        hub.deliver(hint(task="t2"))
        hub.deliver(hint(task="t3", account="other"))
        assert await by_task.next(timeout=0) == hint(progress=30)  # the latest of the burst
        assert await by_task.next(timeout=0.01) is None
        got = [await by_account.next(timeout=0) for _ in range(2)]
        assert got == [hint(progress=30), hint(task="t2")]
        assert await by_account.next(timeout=0.01) is None
    assert hub.count() == 0


async def test_resync_replaces_pending_hints_and_a_waiter_wakes() -> None:
    hub = Hub()
    async with Subscription(hub, task_id="t1") as sub:
        waiter = asyncio.ensure_future(sub.next(timeout=5))
        await asyncio.sleep(0)
        hub.resync_all()
        assert await waiter is RESYNC
        with pytest.raises(ValueError):
            Subscription(hub)


async def test_the_local_bus_delivers_after_commit_and_never_after_a_rollback(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    bus = LocalBus()
    try:
        async with bus.subscribe(task_id="t1") as sub:
            async with db.write() as session:
                await bus.publish(session, hint(progress=5))
                assert await sub.next(timeout=0) is None, "not before the commit"
            assert await sub.next(timeout=0) == hint(progress=5)
            with pytest.raises(RuntimeError):
                async with db.write() as session:
                    await bus.publish(session, hint(progress=6))
                    raise RuntimeError("roll back")
            assert await sub.next(timeout=0.01) is None
    finally:
        await db.close()


def view(status: str, progress: int = 0, outputs: int = 0) -> TaskView:
    now = datetime.now(UTC)
    files = [
        OutputView.model_construct(
            url=f"http://x/{i}.png", media_type="image", format="png", content_type="image/png", bytes=1,
            width=1, height=1, duration=None, expires_at=now,
        )
        for i in range(outputs)
    ]
    return TaskView.model_construct(id="t1", status=status, progress=progress, outputs=files)


def kinds(rank: int, current: TaskView) -> list[tuple[str, str]]:
    return [(e.event, e.id) for e in events_after(rank, current)]


def test_events_are_ranked_along_the_task_s_states() -> None:
    assert kinds(-1, view("pending")) == [("status", "0")]
    assert kinds(0, view("pending")) == []
    assert kinds(0, view("processing")) == [("status", "1000")]
    assert kinds(-1, view("processing", 40)) == [("status", "1000"), ("progress", "1040")]
    assert kinds(1040, view("processing", 40)) == []
    assert kinds(1040, view("processing", 60)) == [("progress", "1060")]
    assert kinds(1060, view("completed", 100, outputs=2)) == [("output", "2000"), ("output", "2001"), ("completed", "3000")]
    assert kinds(2000, view("completed", 100, outputs=2)) == [("output", "2001"), ("completed", "3000")]
    assert kinds(-1, view("failed")) == [("failed", "3000")]
    assert kinds(0, view("cancelled")) == [("cancelled", "3000")]
    assert kinds(3000, view("completed", 100, outputs=1)) == []


def test_last_event_ids() -> None:
    assert parse_rank(None) == -1 and parse_rank("") == -1 and parse_rank("nope") == -1
    assert parse_rank("1040") == 1040


async def test_narrowing_an_account_subscription_keeps_its_tasks_pending_hints_and_drops_the_rest() -> None:
    hub = Hub()
    async with Subscription(hub, account_id="a1") as sub:
        for task in ("t1", "t2", "t3"):
            hub.deliver(hint(task=task))
        sub.narrow(["t1", "t2", "t9"])
        hub.deliver(hint(task="t3", progress=50))  # another task of the account: not any more
        hub.deliver(hint(task="t9", status="completed"))
        got = [await sub.next(timeout=0) for _ in range(3)]
        assert [h.task_id for h in got if h is not None] == ["t1", "t2", "t9"]
        assert await sub.next(timeout=0.01) is None
        assert hub.count() == 1  # under three tasks, counted once
        hub.resync_all()
        assert await sub.next(timeout=0) is RESYNC
        assert await sub.next(timeout=0.01) is None  # resynced once, not once per task
    assert hub.count() == 0
    hub.deliver(hint(task="t1"))  # nothing left registered: no error, nobody to wake
