"""`InMemoryRunner`: a runner for unit tests of the job, stepped by the test itself.

It implements `mediagate.engine.base.Runner` like the embedded and procrastinate runners, but runs
nothing on its own: `enqueue` puts a created task on an in-memory queue once its transaction commits
(never when it rolls back), and the test decides when jobs run (`run_next`, `run_all`, or
`run_in_background` to cancel or crash a job while it waits at its vendor). Like procrastinate's
`InMemoryConnector`, it lets a test see exactly what was queued (`queued`, `queues`).

    gateway = Gateway(settings, runner=InMemoryRunner)
    await gateway.start()
    task = await gateway.tasks.create(principal, inp)
    await gateway.runner.run_all()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.tasks import TaskRecord
from mediagate.engine.job import TaskJob
from mediagate.store.db import after_commit
from mediagate.store.errors import StoreUnavailable


@dataclass(frozen=True)
class Queued:
    task_id: str
    queue: str
    record: TaskRecord | None


class InMemoryRunner:
    def __init__(self, job: TaskJob) -> None:
        self.job = job
        #: jobs waiting to run, oldest first
        self.queued: deque[Queued] = deque()
        #: every queue name a job was enqueued to, in order (for assertions)
        self.queues: list[str] = []
        #: task ids `abort` was called for
        self.aborted: list[str] = []
        #: how many times each task's job was run (a rerun after an outage counts again)
        self.runs: dict[str, int] = {}
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._started = False

    # --- the Runner interface ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._started

    async def enqueue(
        self, session: AsyncSession, task_id: str, queue: str, *, record: TaskRecord | None = None
    ) -> None:
        after_commit(session, lambda: self._push(Queued(task_id, queue, record)))

    async def start(self, *, workers: bool = True, queues: Sequence[str] | None = None) -> None:
        """With `workers`: queue every unfinished task again (what a real runner resumes at start)."""
        if not workers:
            return
        self._started = True
        waiting = {q.task_id for q in self.queued}
        for task_id in await self.job.tasks.active_ids():
            if task_id not in waiting and task_id not in self._jobs:
                self._push(Queued(task_id, "resumed", None))

    async def stop(self) -> None:
        """Interrupt running jobs (as a shutdown or a crash would); queued jobs stay queued."""
        self._started = False
        pending = list(self._jobs.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._jobs.clear()

    async def abort(self, task_id: str) -> None:
        self.aborted.append(task_id)
        self.queued = deque(q for q in self.queued if q.task_id != task_id)
        running = self._jobs.get(task_id)
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await self.job.cancel_at_vendor(task_id)

    def in_flight(self) -> int:
        return len(self._jobs)

    # --- stepping, for tests ----------------------------------------------------------------------

    def _push(self, item: Queued) -> None:
        self.queued.append(item)
        self.queues.append(item.queue)

    async def run_next(self) -> str | None:
        """Run the oldest queued job to its end; returns its task id (None when nothing is queued).

        A job interrupted by a database outage (`StoreUnavailable`) goes back to the end of the queue
        without its record, as the real runners run it again from the saved row."""
        if not self.queued:
            return None
        item = self.queued.popleft()
        task = self._start(item)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return item.task_id

    async def run_all(self, *, limit: int = 1000) -> int:
        """Run queued jobs (and any they requeue) until none is left; returns how many ran."""
        count = 0
        while self.queued:
            if count >= limit:
                raise RuntimeError(f"still {len(self.queued)} job(s) queued after {limit} runs")
            await self.run_next()
            count += 1
        return count

    def run_in_background(self) -> asyncio.Task[str | None]:
        """Start the oldest queued job without waiting for it (to cancel, crash or abort it midway)."""
        item = self.queued.popleft()
        return asyncio.ensure_future(self._wait(self._start(item), item.task_id))

    async def _wait(self, task: asyncio.Task[None], task_id: str) -> str:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return task_id

    def _start(self, item: Queued) -> asyncio.Task[None]:
        self.runs[item.task_id] = self.runs.get(item.task_id, 0) + 1
        task = asyncio.create_task(self._run(item), name=f"in-memory-{item.task_id}")
        self._jobs[item.task_id] = task
        return task

    async def _run(self, item: Queued) -> None:
        try:
            await self.job.run(item.task_id, item.record)
        except StoreUnavailable:
            self._push(Queued(item.task_id, item.queue, None))
        finally:
            self._jobs.pop(item.task_id, None)
