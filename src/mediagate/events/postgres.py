"""The PostgreSQL bus (scale-out): `NOTIFY` in the transaction that commits the change, `LISTEN` on one
dedicated connection per process.

PostgreSQL delivers a notification only when its transaction commits, to every listening connection,
within milliseconds — so an API process learns about a change a worker made without Redis, and
without a second moving part besides the database every process already has. Chosen over Redis
pub/sub because NOTIFY is transactional (no hint for a change that rolled back, none lost between the
commit and the publish) and because the gateway must run on PostgreSQL alone (docs/architecture.md).

A hint is also delivered to this process's own subscribers right after the commit (no round trip for
the common embedded case of a waiter and a job in one process); the same hint arriving again through
LISTEN coalesces with it. When the listening connection drops, it is opened again with backoff, and
every subscriber is told to resync (re-read its rows): hints sent meanwhile are lost, changes are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.events.base import Hub, Subscription, TaskHint
from mediagate.store.db import after_commit

log = logging.getLogger("mediagate.events")

CHANNEL = "mediagate_tasks"
NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
#: reconnect backoff of the listening connection: from 0.1 s doubling to 5 s
RECONNECT_MAX = 5.0


class PostgresBus:
    def __init__(self, database_url: str) -> None:
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.hub = Hub()
        self._listener: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def publish(self, session: AsyncSession, hint: TaskHint) -> None:
        await session.execute(NOTIFY, {"payload": hint.encode()})
        after_commit(session, lambda: self.hub.deliver(hint))

    def subscribe(self, *, task_id: str | None = None, account_id: str | None = None) -> Subscription:
        return Subscription(self.hub, task_id=task_id, account_id=account_id)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="event-bus-listener")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), 10)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self.hub.resync_all()

    def _on_notify(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            hint = TaskHint.decode(payload)
        except ValueError:
            log.warning("ignoring a malformed task event %r", payload[:200])
            return
        self.hub.deliver(hint)

    async def _listen_forever(self) -> None:
        import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

        delay = 0.1
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self._connected.set()
                self.hub.resync_all()  # hints sent while we were not listening are lost: re-read
                delay = 0.1
                await lost.wait()
                log.warning("event bus: the listening connection was lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event bus: cannot listen (%s); retrying in %.1fs", exc, delay)
            finally:
                self._connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            self.hub.resync_all()
            await asyncio.sleep(delay)
            delay = min(RECONNECT_MAX, delay * 2)
