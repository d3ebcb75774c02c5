"""The distributed runner: procrastinate on PostgreSQL.

- A task's job is deferred **in the transaction that inserts the task and reserves its credits**
  (`enqueue` calls procrastinate's own `procrastinate_defer_jobs_v1` SQL function through our
  connection: procrastinate's Python API defers on its own connections, outside our transaction), so a
  task can never exist without its job, nor a job without its task. That one statement is the only raw
  procrastinate SQL here (fenced by the version pin and `tests/integration/test_procrastinate_contract.py`);
  everything else goes through procrastinate's API.
- Jobs carry `lock = task_id`: procrastinate never runs two jobs of one task at once.
- Queues per provider family: `local` (models running on this machine, e.g. Piper; GPU machines
  subscribe to it) and `remote` (every HTTP vendor and the sandbox).
- `mediagate worker` runs jobs concurrently (one asyncio job per task, polling inside it: thousands in
  flight per process). Workers heartbeat; a worker killed with `kill -9` stops heartbeating and its jobs
  are retried by the other workers' stalled-job loop; the retried job resumes from the saved vendor job
  id (no second submission, no second charge).
- Cancel from any API process asks procrastinate to abort the task's job (`cancel_job_by_id_async`
  with `abort=True`: the worker cancels it) and cancels the vendor job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.tasks import QUEUES, TaskRecord, queue_for
from mediagate.engine.job import TaskJob
from mediagate.store.errors import StoreUnavailable

log = logging.getLogger("mediagate.engine")

TASK_NAME = "mediagate.run_task"
__all__ = ["QUEUES", "TASK_NAME", "ProcrastinateRunner", "libpq_url", "queue_for"]

#: procrastinate's own defer function (its schema's `procrastinate_defer_jobs_v1`: queue, task name,
#: priority, lock, queueing lock, args, scheduled at), run on our connection inside our transaction
DEFER_SQL = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task_name, 0, :lock, NULL, CAST(:args AS jsonb), NULL)"
    "::procrastinate_job_to_defer_v1])"
)
#: job states of a job that still runs or will
LIVE_STATES = frozenset({"todo", "doing"})


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class ProcrastinateRunner:
    def __init__(
        self,
        job: TaskJob,
        database_url: str,
        *,
        queues: Iterable[str] | None = None,
        concurrency: int = 500,
        fetchers: int = 1,
        heartbeat_seconds: float = 10.0,
        stalled_seconds: float = 30.0,
    ) -> None:
        from procrastinate import App, PsycopgConnector

        self.job = job
        self.queues = list(queues) if queues else None
        self.concurrency = concurrency
        self.fetchers = max(1, min(fetchers, concurrency))
        self.heartbeat_seconds = heartbeat_seconds
        self.stalled_seconds = stalled_seconds
        pool = 10 + 2 * self.fetchers  # each pickup loop holds a connection while it fetches
        self.app = App(connector=PsycopgConnector(conninfo=libpq_url(database_url), min_size=1, max_size=pool))
        self._open = False
        self._workers: list[asyncio.Task[None]] = []
        self._stalled: asyncio.Task[None] | None = None

        # A job interrupted by a worker shutdown (CancelledError) or by a database outage
        # (StoreUnavailable) goes back to the queue; the job itself never raises otherwise (it records
        # failures on the task).
        from procrastinate import RetryStrategy

        retry = RetryStrategy(
            max_attempts=1000,
            wait=1,
            retry_exceptions={asyncio.CancelledError, StoreUnavailable},  # type: ignore[arg-type]  # typed as Exception subclasses; a worker shutdown raises CancelledError (a BaseException) in the job
        )

        @self.app.task(name=TASK_NAME, retry=retry)
        async def run_task(task_id: str) -> None:
            await job.run(task_id)

    async def apply_schema(self) -> None:
        """Create procrastinate's tables once (idempotent; safe when several processes start together)."""
        async with self.app.open_async():
            exists = await self.app.connector.execute_query_one_async(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
            )
            if not exists["present"]:
                await self.app.connector.execute_query_async("SELECT pg_advisory_lock(715518)")
                try:
                    again = await self.app.connector.execute_query_one_async(
                        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
                    )
                    if not again["present"]:
                        await self.app.schema_manager.apply_schema_async()
                finally:
                    await self.app.connector.execute_query_async("SELECT pg_advisory_unlock(715518)")

    @property
    def running(self) -> bool:
        return bool(self._workers)

    async def enqueue(
        self, session: AsyncSession, task_id: str, queue: str, *, record: TaskRecord | None = None
    ) -> None:
        await session.execute(
            DEFER_SQL,
            {"queue": queue, "task_name": TASK_NAME, "lock": task_id, "args": json.dumps({"task_id": task_id})},
        )

    async def start(self, *, workers: bool = True, queues: Sequence[str] | None = None) -> None:
        """Open procrastinate (creating its schema on first use); with `workers`, run jobs here."""
        await self.apply_schema()
        await self.app.open_async()
        self._open = True
        if queues:
            self.queues = list(queues)
        if workers:
            options: dict[str, Any] = {"queues": self.queues} if self.queues else {}
            # several procrastinate workers in this process, sharing the concurrency: each takes jobs
            # one database round trip at a time, so several take a burst of jobs several times faster
            share, extra = divmod(self.concurrency, self.fetchers)
            for index in range(self.fetchers):
                worker = self.app.run_worker_async(
                    **options,
                    name=f"mediagate-{index}",
                    concurrency=share + (1 if index < extra else 0),
                    install_signal_handlers=False,
                    update_heartbeat_interval=self.heartbeat_seconds,
                    stalled_worker_timeout=self.stalled_seconds,
                    listen_notify=True,
                    fetch_job_polling_interval=1.0,
                    abort_job_polling_interval=1.0,
                    delete_jobs="successful",
                    shutdown_graceful_timeout=2.0,
                )
                self._workers.append(asyncio.create_task(worker, name=f"procrastinate-worker-{index}"))
            self._stalled = asyncio.create_task(self._retry_stalled_forever(), name="stalled-jobs")

    async def _retry_stalled_forever(self) -> None:
        """Periodic: re-queue the jobs of workers that stopped heartbeating (killed, lost)."""
        interval = max(1.0, self.heartbeat_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_seconds):
                    log.warning("retrying stalled job %s (%s)", job.id, job.task_kwargs)
                    await self.app.job_manager.retry_job(job)
                await self.requeue_orphans()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stalled-job check failed; continuing")

    async def requeue_orphans(self) -> int:
        """Safety net: an unfinished task without a live job (its job was aborted or failed) gets a new one."""
        rows = await self.app.connector.execute_query_all_async(
            "SELECT t.id, t.provider, t.mode FROM tasks t WHERE t.status IN ('pending', 'processing') "
            "AND t.updated_at < now() - make_interval(secs => %(grace)s) "
            "AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.lock = t.id AND j.status IN ('todo', 'doing')) "
            "LIMIT 500",
            grace=self.stalled_seconds,
        )
        for row in rows:
            deferrer = self.app.configure_task(TASK_NAME, queue=queue_for(row["provider"], row["mode"]), lock=row["id"])
            await deferrer.defer_async(task_id=row["id"])
            log.warning("re-queued orphaned task %s", row["id"])
        return len(rows)

    async def stop(self) -> None:
        for task in (self._stalled, *self._workers):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._workers = []
        self._stalled = None
        if self._open:
            self._open = False
            await self.app.close_async()

    async def abort(self, task_id: str) -> None:
        for job in await self.app.job_manager.list_jobs_async(lock=task_id):
            if job.id is not None and job.status in LIVE_STATES:
                await self.app.job_manager.cancel_job_by_id_async(job.id, abort=True)
        await self.job.cancel_at_vendor(task_id)

    def in_flight(self) -> int:
        return 0

    async def stats(self) -> dict[str, Any]:
        rows = await self.app.connector.execute_query_all_async(
            "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs GROUP BY status"
        )
        return {r["status"]: r["n"] for r in rows}
