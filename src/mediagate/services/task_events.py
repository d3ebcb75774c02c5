"""Task events: the one event path behind server-side waits, SSE streams, GraphQL subscriptions and
the SDK. Hints from the bus (`mediagate.events`) wake a watcher, the watcher re-reads the task row (the
truth) and turns what changed into events:

    status (pending | processing) → progress (1–99) → output (one per file) → completed | failed | cancelled

Every event has an **id derived from the task's state**, increasing along that sequence: `0` pending,
`1000` processing, `1000+p` progress p, `2000+i` output i, `3000` the terminal event. A task's states
only move forward, so the id alone says where a client was: a stream resumed with `Last-Event-ID`
sends exactly what happened after it, from the row, with no event log to keep. A watcher that missed
hints (a bus reconnect, a coalesced burst) loses nothing but the intermediate progress steps, which
the row no longer holds either.

Account streams carry `<task id>:<rank>` ids: a resumed account stream sends the current state of
every task of the account that changed since the named event's task did.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from mediagate.errors import RateLimitExceeded, TaskNotFound
from mediagate.events import EventBus
from mediagate.events.base import RESYNC, Subscription
from mediagate.services.task_states import TaskStates
from mediagate.services.views import Principal, TaskView
from mediagate.store.tables import Task

TERMINAL = frozenset({"completed", "failed", "cancelled"})
PENDING, PROCESSING, OUTPUT, TERMINAL_RANK = 0, 1000, 2000, 3000
#: a server-side wait re-reads its tasks when no hint came for this long (a safety net: hints are hints)
REREAD_SECONDS = 1.0
#: seconds a client over the open-stream cap is told to wait (`Retry-After`)
STREAM_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class TaskEvent:
    #: status | progress | output | completed | failed | cancelled
    event: str
    #: the state-derived rank (see the module docstring); the SSE `id` of a task stream
    rank: int
    task: TaskView
    #: for `output` events: which of `task.outputs`
    output_index: int | None = None

    @property
    def id(self) -> str:
        return str(self.rank)

    @property
    def terminal(self) -> bool:
        return self.rank >= TERMINAL_RANK


def events_after(rank: int, view: TaskView) -> list[TaskEvent]:
    """The events that take a client that saw everything up to `rank` (-1: nothing) to `view`."""
    out: list[TaskEvent] = []
    if view.status == "pending":
        if rank < PENDING:
            out.append(TaskEvent("status", PENDING, view))
        return out
    if view.status == "processing":
        if rank < PROCESSING:
            out.append(TaskEvent("status", PROCESSING, view))
        if view.progress > 0 and rank < PROCESSING + min(99, view.progress):
            out.append(TaskEvent("progress", PROCESSING + min(99, view.progress), view))
        return out
    if view.status == "completed":
        for index in range(len(view.outputs)):
            if rank < OUTPUT + index:
                out.append(TaskEvent("output", OUTPUT + index, view, output_index=index))
    if rank < TERMINAL_RANK:
        out.append(TaskEvent(view.status, TERMINAL_RANK, view))
    return out


def parse_rank(last_event_id: str | None) -> int:
    """The rank of a task stream's `Last-Event-ID` (-1 when absent or not ours: start from the top)."""
    try:
        return int(last_event_id) if last_event_id else -1
    except ValueError:
        return -1


class TaskEvents:
    def __init__(
        self, states: TaskStates, bus: EventBus, *, keepalive_seconds: float = 15.0, max_streams_per_key: int = 20
    ) -> None:
        self.states = states
        self.bus = bus
        self.keepalive_seconds = keepalive_seconds
        self.max_streams_per_key = max_streams_per_key
        self._open: Counter[str] = Counter()

    async def _owned(self, principal: Principal, task_id: str) -> TaskView:
        row = await self.states.load(task_id)
        if row is None or row.account_id != principal.account_id:
            raise TaskNotFound("Task not found")
        return self.states.view(row)

    @contextmanager
    def _slot(self, principal: Principal) -> Iterator[None]:
        """One of the key's open streams (in this process); over the cap → 429 with Retry-After."""
        key = principal.key_id or principal.account_id
        if self._open[key] >= self.max_streams_per_key:
            raise RateLimitExceeded(
                f"Too many open event streams for this API key (at most {self.max_streams_per_key})",
                headers={"Retry-After": str(STREAM_RETRY_AFTER)},
                details={"limit": "streams", "max_streams": self.max_streams_per_key},
            )
        self._open[key] += 1
        try:
            yield
        finally:
            self._open[key] -= 1
            if not self._open[key]:
                del self._open[key]

    def open_streams(self) -> int:
        return sum(self._open.values())

    async def stream(
        self, principal: Principal, task_id: str, *, last_event_id: str | None = None
    ) -> AsyncGenerator[TaskEvent | None, None]:
        """One task's events from `last_event_id` (or from its current state) to its terminal event.
        Yields None after `keepalive_seconds` without an event (the caller's keep-alive).

        Ownership is checked before the first yield, so a caller that pulls one item gets
        `TaskNotFound` (and the stream cap's `RateLimited`) before it starts answering."""
        with self._slot(principal):
            async with self.bus.subscribe(task_id=task_id) as sub:
                view = await self._owned(principal, task_id)  # read after subscribing: no change is missed
                rank = parse_rank(last_event_id)
                first = True
                while True:
                    events = events_after(rank, view)
                    if first and not events and view.status not in TERMINAL:
                        yield None  # (resumed at the current state: the caller learns at once it may answer)
                    first = False
                    for event in events:
                        rank = event.rank
                        yield event
                    if view.status in TERMINAL:
                        return
                    hint = await sub.next(timeout=self.keepalive_seconds)
                    if hint is None:
                        yield None
                    view = await self._owned(principal, task_id)

    async def account_stream(
        self, principal: Principal, *, last_event_id: str | None = None
    ) -> AsyncGenerator[tuple[str, TaskEvent] | None, None]:
        """Every task of the principal's account as it changes: (SSE id, event), None as keep-alive.

        Starts with the current state of the account's unfinished tasks (or, resumed, of every task
        that changed since the task of `last_event_id`), then follows hints; never ends by itself."""
        with self._slot(principal):
            async with self.bus.subscribe(account_id=principal.account_id) as sub:
                ranks: dict[str, int] = {}
                for task_id, start in await self._account_start(principal, last_event_id):
                    ranks[task_id] = start
                pending: list[str] = list(ranks)
                while True:
                    for task_id in pending:
                        row = await self.states.load(task_id)
                        if row is None or row.account_id != principal.account_id:
                            continue
                        view = self.states.view(row)
                        for event in events_after(ranks.get(task_id, -1), view):
                            ranks[task_id] = event.rank
                            yield f"{task_id}:{event.rank}", event
                        if view.status in TERMINAL:
                            ranks.pop(task_id, None)
                    hint = await sub.next(timeout=self.keepalive_seconds)
                    if hint is None:
                        yield None
                        pending = []
                    elif hint is RESYNC:
                        pending = list(ranks)
                    else:
                        pending = [hint.task_id]

    async def _account_start(self, principal: Principal, last_event_id: str | None) -> list[tuple[str, int]]:
        task_id, _, rank_text = (last_event_id or "").partition(":")
        since: datetime | None = None
        if task_id:
            row = await self.states.load(task_id)
            if row is not None and row.account_id == principal.account_id:
                since = row.updated_at
        statement = select(Task.id).where(Task.account_id == principal.account_id)
        if since is not None:
            statement = statement.where(Task.updated_at >= since)
        else:
            statement = statement.where(Task.status.in_(("pending", "processing")))
        async with self.states.db.read() as session:
            newest = (await session.scalars(statement.order_by(Task.created_at.desc()).limit(500))).all()
        ids = list(reversed(newest))
        return [(i, parse_rank(rank_text) if i == task_id else -1) for i in ids]

    @asynccontextmanager
    async def watch(self, principal: Principal) -> AsyncIterator[Watch]:
        """The hints of the caller's account from now on: enter it *before* creating the tasks to wait
        for, and `Watch.wait` needs no first read of them (every change after their creation is hinted)."""
        async with self.bus.subscribe(account_id=principal.account_id) as sub:
            yield Watch(self, principal, sub)

    async def wait(self, principal: Principal, task_ids: list[str], *, timeout: float) -> dict[str, TaskView]:
        """Wait until every task is terminal or `timeout` passed; returns the terminal ones by id
        (`Watch.wait`, on a watch opened now: each task is read once first)."""
        async with self.watch(principal) as watch:
            return await watch.wait(task_ids, timeout=timeout)

    async def wait_one(self, principal: Principal, task_id: str, *, timeout: float) -> TaskView:
        """The task once terminal, or as it is when `timeout` passed."""
        done = await self.wait(principal, [task_id], timeout=timeout)
        return done.get(task_id) or await self._owned(principal, task_id)


class Watch:
    """An account's hints, subscribed to before its tasks were created (`TaskEvents.watch`); `wait`
    narrows it to the tasks it waits for (so one account's many concurrent waits do not wake each other)."""

    def __init__(self, events: TaskEvents, principal: Principal, sub: Subscription) -> None:
        self.events = events
        self.principal = principal
        self.sub = sub

    async def wait(
        self,
        task_ids: list[str],
        *,
        timeout: float,
        known: Mapping[str, TaskView] | None = None,
        idle: Callable[[], Awaitable[None]] | None = None,
        idle_seconds: float = 1.0,
    ) -> dict[str, TaskView]:
        """Wait until every task is terminal or `timeout` passed; returns the terminal ones by id.

        Woken by the tasks' hints (not a timer); re-reads them after a second without a hint anyway. `known`: views
        of tasks created while this watch was open, as their creation answered them — every later change
        of theirs is hinted here, so they are not read first (the others are). A terminal hint published
        in this process carries the row its transaction wrote (final, since a task ends once): that one is
        used as it is, any other is re-read. `idle` is awaited every `idle_seconds` of the wait (it may
        raise to end it: a client that went away)."""
        events, principal = self.events, self.principal
        self.sub.narrow(task_ids)  # (before any await: see `Subscription.narrow`)
        now = time.monotonic()
        deadline, next_idle, next_read = now + timeout, now + idle_seconds, now + REREAD_SECONDS
        done: dict[str, TaskView] = {}
        waiting: list[str] = []
        for task_id in task_ids:
            seen = (known or {}).get(task_id)
            if seen is None:
                waiting.append(task_id)
            elif seen.status in TERMINAL:
                done[task_id] = seen
        while True:
            for task_id in waiting:
                view = await events._owned(principal, task_id)
                if view.status in TERMINAL:
                    done[task_id] = view
            left = [i for i in task_ids if i not in done]
            now = time.monotonic()
            if not left or now >= deadline:
                return done
            if idle is not None and now >= next_idle:
                await idle()
                now = time.monotonic()
                next_idle = now + idle_seconds
            wake = min(deadline, next_read, next_idle if idle is not None else deadline)
            hint = await self.sub.next(timeout=max(0.0, wake - now))
            if hint is RESYNC or (hint is None and time.monotonic() >= next_read):
                waiting = left  # the bus may have lost hints, or none came for a while: read again
                next_read = time.monotonic() + REREAD_SECONDS
            elif hint is None or hint.task_id not in left or hint.status not in TERMINAL:
                waiting = []
            elif hint.record is not None and hint.record.account_id == principal.account_id:
                done[hint.task_id] = events.states.view(hint.record)
                waiting = []
            else:
                waiting = [hint.task_id]
