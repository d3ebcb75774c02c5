"""The PostgreSQL event bus: a hint published in one process's transaction reaches a subscriber of
another bus (another process) on commit, never on rollback; a lost listening connection comes back
and tells its subscribers to resync."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from mediagate.events.base import RESYNC, TaskHint
from mediagate.events.postgres import PostgresBus
from mediagate.store.db import Database


async def test_a_hint_crosses_processes_on_commit_only(pg_url: str) -> None:
    db = Database(pg_url)
    publisher, listener = PostgresBus(pg_url), PostgresBus(pg_url)
    await publisher.start()
    await listener.start()
    try:
        assert listener.connected
        async with listener.subscribe(account_id="acc") as sub:
            with pytest.raises(RuntimeError):
                async with db.write() as session:
                    await publisher.publish(session, TaskHint("t1", "acc", "processing", 10))
                    raise RuntimeError("roll back")
            assert await sub.next(timeout=0.3) is None
            started = time.monotonic()
            async with db.write() as session:
                await publisher.publish(session, TaskHint("t1", "acc", "completed", 100))
            assert await sub.next(timeout=5) == TaskHint("t1", "acc", "completed", 100)
            assert time.monotonic() - started < 1.0
    finally:
        await publisher.stop()
        await listener.stop()
        await db.close()


async def test_a_lost_listening_connection_reconnects_and_resyncs(pg_url: str) -> None:
    db = Database(pg_url)
    bus = PostgresBus(pg_url)
    await bus.start()
    dsn = bus.dsn
    try:
        async with bus.subscribe(task_id="t9") as sub:
            admin = await asyncpg.connect(dsn)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
                )
            finally:
                await admin.close()
            assert killed == 1
            assert await sub.next(timeout=5) is RESYNC  # back, and telling us to re-read
            for _ in range(50):
                if bus.connected:
                    break
                await asyncio.sleep(0.1)
            while await sub.next(timeout=0.2) is RESYNC:  # (the reconnect's own resync)
                pass
            other = PostgresBus(pg_url)  # another process publishes: only LISTEN can bring it here
            async with db.write() as session:
                await other.publish(session, TaskHint("t9", "acc", "processing", 50))
            assert await sub.next(timeout=5) == TaskHint("t9", "acc", "processing", 50)
    finally:
        await bus.stop()
        await db.close()
