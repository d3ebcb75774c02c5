"""The bus interface, and the in-process fan-out every bus delivers through.

A *hint* says "task T of account A changed (it is now status S, progress P)". Publishers call
`publish(session, hint)` inside the transaction that commits the change; a bus delivers the hint
only once that transaction has committed (never for one that rolled back). Subscribers never trust a
hint for the data: they re-read the task row, which is the truth. That makes the bus simple and the
subscribers robust:

- hints for one task that arrive faster than a subscriber reads **coalesce** into the latest (a
  subscription holds at most one pending hint per task: no queue to overflow, nothing to drop);
- a subscriber that may have missed hints (a bus reconnect) is told to **resync**: it re-reads
  everything it watches;
- a subscriber that waits too long without a hint re-reads anyway (`next(timeout=…)` returns None:
  the caller's keep-alive and safety re-read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.tasks import TaskRecord


@dataclass(frozen=True, slots=True)
class TaskHint:
    task_id: str
    account_id: str
    status: str
    progress: int = 0
    #: the task as the publishing transaction wrote it, for this process's subscribers only (never on
    #: the wire): a *terminal* hint's record is final, so a waiter may use it instead of re-reading
    record: TaskRecord | None = field(default=None, compare=False, repr=False)

    def encode(self) -> str:
        """The wire form (a NOTIFY payload: well under PostgreSQL's 8000 bytes)."""
        return f"{self.task_id} {self.account_id} {self.status} {self.progress}"

    @classmethod
    def decode(cls, text: str) -> TaskHint:
        task_id, account_id, status, progress = text.split(" ")
        return cls(task_id, account_id, status, int(progress))


#: what `Subscription.next` yields when the bus may have lost hints: re-read everything watched
RESYNC = TaskHint("*", "*", "resync")


class Subscription:
    """The hints for one task or one account, coalesced per task. Use as an async context manager
    (it is registered with the hub while inside) and iterate it, or call `next(timeout=…)`."""

    def __init__(self, hub: Hub, *, task_id: str | None = None, account_id: str | None = None) -> None:
        if (task_id is None) == (account_id is None):
            raise ValueError("subscribe to exactly one of task_id or account_id")
        self.hub = hub
        self.task_id = task_id
        self.account_id = account_id
        #: after `narrow`: the tasks watched (instead of `task_id` / `account_id`)
        self.task_ids: frozenset[str] = frozenset()
        self._pending: dict[str, TaskHint] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._registered = False

    def narrow(self, task_ids: Iterable[str]) -> None:
        """From now on, only the hints of these tasks (those already pending for them are kept, and a
        pending resync). One synchronous step, so nothing published in between is lost: subscribe to
        the account before creating tasks, narrow to them once their ids are known — and an account's
        hints stop waking every one of its waiters."""
        ids = frozenset(task_ids)
        registered = self._registered
        if registered:
            self.hub.remove(self)
        self.task_id = self.account_id = None
        self.task_ids = ids
        self._pending = {k: v for k, v in self._pending.items() if k in ids or k == RESYNC.task_id}
        if registered:
            self.hub.add(self)

    def deliver(self, hint: TaskHint) -> None:
        self._pending[hint.task_id] = hint
        self._wake()

    def resync(self) -> None:
        self._pending = {RESYNC.task_id: RESYNC}
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> TaskHint | None:
        """The next hint (the latest one per task), or None when `timeout` passed without one."""
        while not self._pending:
            # one future and one timer handle (no task per wait, as `asyncio.wait_for` would make)
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._pending and timeout is not None:
                return None  # timed out
        if RESYNC.task_id in self._pending:
            self._pending.clear()
            return RESYNC
        task_id = next(iter(self._pending))
        return self._pending.pop(task_id)

    def __aiter__(self) -> AsyncIterator[TaskHint]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[TaskHint]:
        while True:
            hint = await self.next()
            assert hint is not None
            yield hint

    async def __aenter__(self) -> Subscription:
        self.hub.add(self)
        self._registered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._registered = False
        self.hub.remove(self)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Hub:
    """This process's subscriptions, by task and by account; `deliver` fans a hint out to them."""

    def __init__(self) -> None:
        self._by_task: dict[str, set[Subscription]] = {}
        self._by_account: dict[str, set[Subscription]] = {}

    def _keys(self, sub: Subscription) -> list[tuple[dict[str, set[Subscription]], str]]:
        if sub.task_ids:
            return [(self._by_task, t) for t in sub.task_ids]
        if sub.task_id is not None:
            return [(self._by_task, sub.task_id)]
        assert sub.account_id is not None
        return [(self._by_account, sub.account_id)]

    def add(self, sub: Subscription) -> None:
        for index, key in self._keys(sub):
            index.setdefault(key, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        for index, key in self._keys(sub):
            subs = index.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del index[key]

    def deliver(self, hint: TaskHint) -> None:
        for sub in (*self._by_task.get(hint.task_id, ()), *self._by_account.get(hint.account_id, ())):
            sub.deliver(hint)

    def resync_all(self) -> None:
        for sub in self._all():
            sub.resync()

    def _all(self) -> Iterator[Subscription]:
        seen: set[int] = set()
        for subs in (*self._by_task.values(), *self._by_account.values()):
            for sub in subs:
                if id(sub) not in seen:  # (a narrowed subscription is under each of its tasks)
                    seen.add(id(sub))
                    yield sub

    def count(self) -> int:
        return sum(1 for _ in self._all())


class EventBus(Protocol):
    async def publish(self, session: AsyncSession, hint: TaskHint) -> None:
        """Publish `hint` once the transaction of `session` commits (never if it rolls back)."""

    def subscribe(self, *, task_id: str | None = None, account_id: str | None = None) -> Subscription:
        """The hints of one task or of one account (enter it with `async with` before reading the row)."""
        ...

    async def start(self) -> None:
        """Connect (the PostgreSQL bus listens from here on)."""

    async def stop(self) -> None: ...
