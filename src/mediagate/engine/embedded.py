"""The embedded runner: asyncio tasks inside `mediagate serve` (the default; no other process needed).

On start it resumes every task that is not terminal: a task whose vendor job id was saved is polled,
not resubmitted. A job stopped by a database outage (`StoreUnavailable`) runs again after a backoff.
Remote tasks cost one coroutine each while they wait, so thousands can be in flight. `enqueue` starts
a new task's job once its creating transaction has committed (never for one that rolled back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.tasks import TaskRecord
from mediagate.engine.job import TaskJob
from mediagate.store.db import after_commit
from mediagate.store.errors import StoreUnavailable

log = logging.getLogger("mediagate.engine")
#: the longest wait before a job interrupted by a database outage runs again (doubling from 1 s)
RERUN_MAX_DELAY = 30.0


class EmbeddedRunner:
    """Runs every queue in this process (`queues` is accepted for the interface; there is one process)."""

    def __init__(self, job: TaskJob, active_ids: Callable[[], Awaitable[list[str]]]) -> None:
        self.job = job
        self.active_ids = active_ids
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._started = False

    @property
    def running(self) -> bool:
        return self._started

    async def enqueue(
        self, session: AsyncSession, task_id: str, queue: str, *, record: TaskRecord | None = None
    ) -> None:
        after_commit(session, lambda: self.dispatch(task_id, record))

    async def start(self, *, workers: bool = True, queues: Sequence[str] | None = None) -> None:
        if not workers:
            return  # nothing runs here: tasks created meanwhile wait for a start with workers
        self._started = True
        resumed = await self.active_ids()
        for task_id in resumed:
            self.dispatch(task_id)
        if resumed:
            log.info("resumed %d unfinished task(s)", len(resumed))

    async def stop(self) -> None:
        self._started = False
        pending = list(self._jobs.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._jobs.clear()

    def dispatch(self, task_id: str, created: TaskRecord | None = None) -> None:
        """Start the task's job here (idempotent: a task whose job runs here already is left alone)."""
        if not self._started or task_id in self._jobs:
            return
        # (a task created here starts from its committed record: a cancel can only reach it through
        # `abort`, which cancels this asyncio task, so the record cannot be stale when the job starts)
        task = asyncio.create_task(self._run(task_id, created), name=f"task-{task_id}")
        self._jobs[task_id] = task

    async def _run(self, task_id: str, created: TaskRecord | None = None) -> None:
        delay = 1.0
        try:
            while True:
                try:
                    await self.job.run(task_id, created)
                    return
                except StoreUnavailable:
                    # the database did not answer: run the job again from its saved row (a vendor job id
                    # it saved is polled, not resubmitted; a task past its deadline fails as timed out)
                    log.warning("task %s: database unavailable; running its job again in %.0fs", task_id, delay)
                await asyncio.sleep(delay)
                created, delay = None, min(RERUN_MAX_DELAY, delay * 2)
        except asyncio.CancelledError:
            pass
        except Exception:  # the job records its own failures; this is a last resort
            log.exception("job for task %s failed", task_id)
        finally:
            self._jobs.pop(task_id, None)

    async def abort(self, task_id: str) -> None:
        task = self._jobs.get(task_id)
        if task is not None:
            task.cancel()
        await self.job.cancel_at_vendor(task_id)

    def in_flight(self) -> int:
        return len(self._jobs)
