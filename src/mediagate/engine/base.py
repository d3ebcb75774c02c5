"""The runner: the one interface between the services and whatever runs task jobs.

The composition root (`mediagate.gateway`) builds one runner and passes it into `TaskService`; nothing
else knows which runner runs. Two implement it, each over its own machinery (as procrastinate's
`manager.py` sits over a `connector.py`):

- `EmbeddedRunner`: asyncio tasks in this process; `enqueue` starts the job once the creating
  transaction has committed (`store.db.after_commit`);
- `ProcrastinateRunner`: procrastinate on PostgreSQL; `enqueue` defers the job *inside* the creating
  transaction, so a task never exists without its job, nor a job without its task.

`mediagate.testing.InMemoryRunner` is a third, for unit tests of the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.tasks import TaskRecord


class Runner(Protocol):
    async def enqueue(
        self, session: AsyncSession, task_id: str, queue: str, *, record: TaskRecord | None = None
    ) -> None:
        """Hand the task being created in `session`'s transaction to the runner: its job runs once that
        transaction commits, and never if it rolls back. `record`: the task as inserted (a runner in
        this process may start from it instead of reading it back)."""

    async def start(self, *, workers: bool = True, queues: Sequence[str] | None = None) -> None:
        """Get ready to take jobs; with `workers`, run jobs (of `queues`, default all) in this process
        and resume every task that is not terminal."""

    async def stop(self) -> None:
        """Stop taking work; in-flight jobs are interrupted and resumed at the next start."""

    async def abort(self, task_id: str) -> None:
        """Stop a task's job wherever it runs (after the task was cancelled), and cancel it at the vendor."""

    @property
    def running(self) -> bool:
        """True between a `start` with workers and `stop`."""
        ...

    def in_flight(self) -> int:
        """Jobs running in this process."""
        ...
