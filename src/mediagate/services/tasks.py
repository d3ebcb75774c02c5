"""Tasks, the client-facing side: creation (validate → price → reserve → insert → enqueue), queries and
cancel. The engine-facing transitions live in `task_states`; the task service hands committed tasks to
the runner it was built with (`engine.base.Runner`), without knowing which runner that is."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.catalog import Catalog
from mediagate.config import Settings
from mediagate.domain.media import ACTIVE, TaskStatus
from mediagate.domain.requests import GenerationInput
from mediagate.domain.tasks import TaskRecord, queue_for
from mediagate.errors import InvalidParameter, TaskNotFound
from mediagate.events import TaskHint
from mediagate.services import billing
from mediagate.services.assets import AssetService
from mediagate.services.idempotency import Claim
from mediagate.services.limits import LimitService
from mediagate.services.routing import Router
from mediagate.services.task_states import TASK_BY_ID, TaskStates
from mediagate.services.views import Principal, TaskPage, TaskView
from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Task
from mediagate.store.types import utcnow
from mediagate.testing.crash import crash_point

ACTIVE_VALUES = [s.value for s in ACTIVE]
INSERT_TASK = insert(Task)
LIST_STATUSES = [s.value for s in TaskStatus]
#: every column of a task, for the list query (rows become `TaskRecord`s, as point reads do)
LIST_COLUMNS = tuple(Task.__table__.columns)


class TaskRunner(Protocol):
    """What the task service needs of a runner (`mediagate.engine.base.Runner` is the whole interface;
    the service names only this part of it, so services never import the engine)."""

    async def enqueue(
        self, session: AsyncSession, task_id: str, queue: str, *, record: TaskRecord | None = None
    ) -> None: ...

    async def abort(self, task_id: str) -> None: ...


def new_task_id() -> str:
    """A UUID version 7 (RFC 9562): the creation time in milliseconds, then 74 random bits. Ids of
    tasks created one after the other sort together, so each insert lands at the end of the primary-key
    index (and of the ledger's task index) instead of on a random page: fewer pages written per commit."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    return str(uuid.UUID(int=value))


class TaskService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        catalog: Catalog,
        router: Router,
        assets: AssetService,
        limits: LimitService,
        states: TaskStates,
        runner: TaskRunner,
    ) -> None:
        self.settings = settings
        self.db = db
        self.catalog = catalog
        self.router = router
        self.assets = assets
        self.limits = limits
        self.states = states
        self.runner = runner
        self.metrics = states.metrics

    def view(self, row: TaskRecord) -> TaskView:
        return self.states.view(row)

    # --- client-facing ---------------------------------------------------------------------------

    async def create(
        self,
        principal: Principal,
        inp: GenerationInput,
        claim: Claim | None = None,
        render: Callable[[TaskView], tuple[int, dict[str, Any]]] | None = None,
    ) -> TaskView:
        """Validate, price, admit, reserve and insert in one transaction, then dispatch.

        With an idempotency `claim`, the response `render` gives is stored in that same transaction."""
        candidates = self.router.candidates(inp, test_mode=principal.is_test)
        chosen = candidates[0]
        request = chosen.request
        for index, url in enumerate(request.image_urls):
            await self.assets.check_input_url(url, f"image_urls[{index}]")
        if request.audio_url is not None:
            await self.assets.check_input_url(request.audio_url, "audio_url")
        if request.callback_url is not None:
            await self.assets.check_input_url(request.callback_url, "callback_url")
        now = utcnow()
        task_id = new_task_id()
        values: dict[str, Any] = {
            "id": task_id,
            "account_id": principal.account_id,
            "api_key_id": principal.key_id,
            "mode": principal.mode,
            "status": TaskStatus.PENDING.value,
            "media_type": request.type.value,
            "task_type": request.task_type.value,
            "model": chosen.model.id,
            "requested_model": request.requested_model,
            "provider": chosen.model.provider,
            "request": {
                **request.model_dump(mode="json"),
                "fallbacks": [c.model.id for c in candidates[1:]] if not inp.model else [],
                "input": inp.model_dump(mode="json"),
            },
            "prompt": request.prompt,
            "credit_cost": chosen.credits,
            "provider_job_id": None,
            "provider_state": None,
            "progress": 0,
            "outputs": None,
            "error_code": None,
            "error_message": None,
            "callback_url": request.callback_url,
            "attempts": [],
            "created_at": now,
            "updated_at": now,
            "started_at": None,
            "completed_at": None,
            "failed_at": None,
            "deadline_at": now + timedelta(seconds=self.settings.task_timeout_seconds),
        }
        record = TaskRecord.from_row(values, validated=request)
        async with self.db.write(core=True) as session:
            # (on PostgreSQL the admission locks the account row first, which serializes an account's
            # creations; reserving last instead, to hold the lock shorter, was tried and made things
            # far worse: see docs/benchmarks.md)
            await self.limits.admit_task(session, principal)
            await billing.reserve(session, principal.account_id, task_id, chosen.credits, chosen.model.id)
            # a prepared INSERT (no unit-of-work flush for a row we never modify); NULL columns are left
            # out, so JSON columns hold SQL NULL as they did with the ORM
            await prepared.execute(session, INSERT_TASK, {k: v for k, v in values.items() if v is not None})
            await self.runner.enqueue(session, task_id, queue_for(record.provider, record.mode), record=record)
            await self.states.bus.publish(session, TaskHint(task_id, record.account_id, record.status))
            if claim is not None and render is not None:
                await claim.store(session, *render(self.view(record)))
        crash_point("after_reserve")
        self.metrics.task_created(record.provider, record.media_type, record.mode)
        return self.view(record)

    async def get(self, principal: Principal, task_id: str) -> TaskView:
        # the hottest read (clients poll it): one prepared SELECT, no ORM session
        # (an id with NUL is no task of ours; PostgreSQL text could not even be compared with it)
        found = None if "\x00" in task_id else await self.db.fetch_one(TASK_BY_ID, {"task_id": task_id})
        if found is None or found["account_id"] != principal.account_id:
            raise TaskNotFound("Task not found")
        return self.view(TaskRecord.from_row(found))

    async def list_tasks(self, principal: Principal, status: str | None, limit: int, offset: int) -> TaskPage:
        if status is not None and status not in LIST_STATUSES:
            raise InvalidParameter(f"status must be one of: {', '.join(LIST_STATUSES)}", field="status")
        if not 1 <= limit <= 100:
            raise InvalidParameter("limit must be between 1 and 100", field="limit")
        if offset < 0:
            raise InvalidParameter("offset must be >= 0", field="offset")
        where = [Task.account_id == principal.account_id]
        if status is not None:
            where.append(Task.status == status)
        async with self.db.read() as session:
            total = int(await session.scalar(select(func.count()).select_from(Task).where(*where)) or 0)
            rows = (
                await session.execute(
                    select(*LIST_COLUMNS)
                    .where(*where)
                    .order_by(Task.created_at.desc(), Task.id)
                    .limit(limit)
                    .offset(offset)
                )
            ).mappings()
            records = [TaskRecord.from_row(row) for row in rows]
        return TaskPage(tasks=[self.view(r) for r in records], total=total, limit=limit, offset=offset)

    async def cancel(self, principal: Principal, task_id: str) -> TaskView:
        row = None if "\x00" in task_id else await self.states.load(task_id)
        if row is None or row.account_id != principal.account_id:
            raise TaskNotFound("Task not found")
        if row.status in ACTIVE_VALUES:
            changed = await self.states.finish(
                task_id, TaskStatus.CANCELLED, error_code=None, error_message="Cancelled by the client"
            )
            if changed:
                await self.runner.abort(task_id)
        else:
            raise InvalidParameter(f"Task is already {row.status} and cannot be cancelled", field="task_id")
        return await self.get(principal, task_id)

    async def load(self, task_id: str) -> TaskRecord | None:
        """The task's record, whoever owns it (operators and tests; clients use `get`)."""
        return None if "\x00" in task_id else await self.states.load(task_id)
