"""The in-process bus (embedded mode, SQLite): a hint reaches this process's subscribers right after
the transaction that published it commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.events.base import Hub, Subscription, TaskHint
from mediagate.store.db import after_commit


class LocalBus:
    def __init__(self) -> None:
        self.hub = Hub()

    async def publish(self, session: AsyncSession, hint: TaskHint) -> None:
        after_commit(session, lambda: self.hub.deliver(hint))

    def subscribe(self, *, task_id: str | None = None, account_id: str | None = None) -> Subscription:
        return Subscription(self.hub, task_id=task_id, account_id=account_id)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.hub.resync_all()  # whoever still waits re-reads the row (and finds the database closing)
