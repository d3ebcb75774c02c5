"""The one raw procrastinate statement (`engine/distributed.py` `DEFER_SQL`) against procrastinate's
own schema, and the runner seam on real PostgreSQL: a job deferred inside the creating transaction
exists exactly when that transaction commits; abort goes through procrastinate's API.

If the schema checks fail after a procrastinate upgrade, revisit `engine/distributed.py` (DEFER_SQL)
and the version pin in pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

from procrastinate import schema

from mediagate.domain.tasks import queue_for
from mediagate.engine.distributed import DEFER_SQL, TASK_NAME, ProcrastinateRunner
from mediagate.gateway import Gateway
from tests.helpers import fast_settings, make_principal


def _schema() -> str:
    return schema.SchemaManager.get_schema()


def test_the_defer_function_and_its_row_type_are_as_deferred() -> None:
    text = _schema()
    assert re.search(r"CREATE FUNCTION procrastinate_defer_jobs_v1\(\s*jobs procrastinate_job_to_defer_v1\[\]\s*\)", text), (
        "procrastinate_defer_jobs_v1(jobs procrastinate_job_to_defer_v1[]) changed: revisit engine/distributed.py DEFER_SQL"
    )
    match = re.search(r"CREATE TYPE procrastinate_job_to_defer_v1 AS \((.*?)\);", text, re.S)
    assert match, "procrastinate_job_to_defer_v1 is gone: revisit engine/distributed.py DEFER_SQL"
    fields = [line.strip().split()[0] for line in match.group(1).strip().splitlines()]
    # DEFER_SQL builds ROW(queue, task name, priority 0, lock, NULL queueing lock, args, NULL scheduled at)
    assert fields == ["queue_name", "task_name", "priority", "lock", "queueing_lock", "args", "scheduled_at"]
    assert "procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task_name, 0, :lock, NULL, CAST(:args AS jsonb), NULL)" in str(
        DEFER_SQL
    )


def test_queues() -> None:
    assert queue_for("piper") == "local" and queue_for("piper", "test") == "remote"
    assert queue_for("kling") == "remote"


async def test_enqueue_defers_in_the_transaction_and_abort_uses_the_api(pg_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, database_url=pg_url, engine="procrastinate")
    gateway = Gateway(settings)
    assert isinstance(gateway.runner, ProcrastinateRunner)
    await gateway.start(workers=False)  # an API process: procrastinate open, no worker here
    try:
        runner = gateway.runner
        # a transaction that rolls back leaves no job
        try:
            async with gateway.db.write() as session:
                await runner.enqueue(session, "rolled-back-task", "remote")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert list(await runner.app.job_manager.list_jobs_async(lock="rolled-back-task")) == []

        principal, _ = await make_principal(gateway, test=True)
        from mediagate.domain.requests import GenerationInput

        task = await gateway.tasks.create(principal, GenerationInput(model="flux-dev", prompt="a kite"))
        jobs = list(await runner.app.job_manager.list_jobs_async(lock=task.id))
        assert [(j.task_name, j.queue, j.status, j.task_kwargs) for j in jobs] == [
            (TASK_NAME, "remote", "todo", {"task_id": task.id})
        ]
        cancelled = await gateway.tasks.cancel(principal, task.id)
        assert cancelled.status == "cancelled"
        (job,) = await runner.app.job_manager.list_jobs_async(lock=task.id)
        assert job.status == "cancelled"  # a job not yet running is cancelled outright
    finally:
        await gateway.stop()
