"""The engine-facing side of tasks: the task record read by the engine, and the guarded state
transitions it makes (submitted, attempts, progress, completed/failed/cancelled). Every terminal
transition settles credits and enqueues the webhook in the same transaction.

Split from `TaskService` (the client-facing side: create, get, list, cancel), which hands tasks to the
runner; the runner runs the job, and the job reports back here. So the service depends on the runner,
the runner on the job, the job on this module, and nothing depends upwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update

from mediagate.catalog import Catalog
from mediagate.domain.media import ACTIVE, TaskStatus
from mediagate.domain.outputs import StoredOutput
from mediagate.domain.requests import GenerationRequest
from mediagate.domain.tasks import TaskRecord
from mediagate.errors import ErrorCode
from mediagate.events import EventBus, TaskHint
from mediagate.services import billing
from mediagate.services.assets import INSERT_ASSET, AssetRow, AssetService
from mediagate.services.metrics import Metrics
from mediagate.services.views import OutputView, TaskView
from mediagate.services.webhooks import WebhookService
from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Account, Task
from mediagate.store.types import utcnow

ACTIVE_VALUES = [s.value for s in ACTIVE]
INSERT_TASK = insert(Task)
_tasks = Task.__table__.c
#: built once: every task is marked submitted once, by the engine
MARK_SUBMITTED = (
    update(Task)
    # (`or_` of literals rather than an IN list, which SQLAlchemy expands at each execution)
    .where(_tasks.id == bindparam("task_id"), or_(*(_tasks.status == v for v in ACTIVE_VALUES)))
    .values(
        status=bindparam("processing"),
        provider=bindparam("provider_name"),
        provider_job_id=bindparam("job_id"),
        provider_state=bindparam("state", type_=Task.__table__.c.provider_state.type),
        started_at=func.coalesce(_tasks.started_at, bindparam("now", type_=_tasks.started_at.type)),
        updated_at=bindparam("now", type_=_tasks.updated_at.type),
    )
)
_active = or_(*(_tasks.status == v for v in ACTIVE_VALUES))
_now = bindparam("now", type_=_tasks.updated_at.type)
#: the guarded terminal transitions (built once; see `finish`)
FINISH_COMPLETED = (
    update(Task)
    .where(_tasks.id == bindparam("task_id"), _active)
    .values(
        status=bindparam("new_status"),
        updated_at=_now,
        outputs=bindparam("outputs", type_=_tasks.outputs.type),
        completed_at=_now,
        progress=100,
    )
)
FINISH_FAILED = (
    update(Task)
    .where(_tasks.id == bindparam("task_id"), _active)
    .values(
        status=bindparam("new_status"),
        updated_at=_now,
        error_code=bindparam("error_code", type_=_tasks.error_code.type),
        error_message=bindparam("error_message", type_=_tasks.error_message.type),
        failed_at=_now,
    )
)
#: a synchronous vendor's task: submitted and completed in one transaction (see `complete`)
FINISH_COMPLETED_SUBMITTED = FINISH_COMPLETED.values(
    provider=bindparam("provider_name"),
    provider_job_id=bindparam("job_id"),
    provider_state=bindparam("state", type_=_tasks.provider_state.type),
    started_at=func.coalesce(_tasks.started_at, _now),
)
TASK_BY_ID = select(*Task.__table__.columns).where(Task.__table__.c.id == bindparam("task_id"))
#: `finish` reads the ended task back with its account's webhook URL (one statement, not two)
_accounts = Account.__table__.c
FINISHED_TASK = (
    select(*Task.__table__.columns, _accounts.webhook_url.label("account_webhook_url"))
    .select_from(Task.__table__.outerjoin(Account.__table__, _accounts.id == _tasks.account_id))
    .where(_tasks.id == bindparam("task_id"))
)
LIST_STATUSES = [s.value for s in TaskStatus]


class TaskStates:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        assets: AssetService,
        webhooks: WebhookService,
        metrics: Metrics,
        bus: EventBus,
    ) -> None:
        self.bus = bus
        self.db = db
        self.catalog = catalog
        self.assets = assets
        self.webhooks = webhooks
        self.metrics = metrics

    # --- views -----------------------------------------------------------------------------------

    def view(self, row: TaskRecord) -> TaskView:
        """The service-level view of a task."""
        outputs = []
        for raw in row.outputs or []:
            # (our own `StoredOutput.model_dump(mode="json")`, read as it was written: validating it
            # again on every poll of a finished task cost more than the rest of building the view)
            expires = datetime.fromisoformat(raw["expires_at"]) if raw.get("expires_at") else self.assets.expiry()
            outputs.append(
                OutputView.model_construct(
                    url=self.assets.url(raw["asset_id"], raw["format"], expires),
                    media_type=raw["media_type"],
                    format=raw["format"],
                    content_type=raw["content_type"],
                    bytes=raw["bytes"],
                    width=raw.get("width"),
                    height=raw.get("height"),
                    duration=raw.get("duration"),
                    expires_at=expires,
                )
            )
        model = self.catalog.models.get(row.model)
        # (constructed, not validated: every value comes typed from our own row; validating the request
        # dict and the timestamps again cost more than the rest of a `GET /api/v1/tasks/{id}`)
        return TaskView.model_construct(
            id=row.id,
            status=row.status,
            type=row.media_type,
            task_type=row.task_type,
            model=row.requested_model,
            model_id=row.model,
            provider=row.provider,
            prompt=row.prompt,
            progress=row.progress,
            credit_cost=row.credit_cost,
            sandbox=row.mode == "test",
            outputs=outputs,
            error_code=row.error_code,
            error_message=row.error_message,
            callback_url=row.callback_url,
            estimated_time=model.speed if model else 60.0,
            request=row.request,
            attempts=row.attempts or [],
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            completed_at=row.completed_at,
            failed_at=row.failed_at,
        )

    async def load(self, task_id: str) -> TaskRecord | None:
        """The task's record (a prepared point read: the engine loads a task per step)."""
        found = await self.db.fetch_one(TASK_BY_ID, {"task_id": task_id})
        return TaskRecord.from_row(found) if found is not None else None

    async def active_ids(self) -> list[str]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Task.id).where(Task.status.in_(ACTIVE_VALUES)).order_by(Task.created_at)
            )
            return list(rows.all())

    async def mark_submitted(
        self, task_id: str, provider: str, vendor_job_id: str | None, state: dict[str, Any], *, account_id: str
    ) -> bool:
        """pending → processing, saving the vendor's job id before the first poll."""
        now = utcnow()
        async with self.db.write(core=True) as session:
            changed = await prepared.execute(
                session,
                MARK_SUBMITTED,
                {
                    "task_id": task_id,
                    "processing": TaskStatus.PROCESSING.value,
                    "provider_name": provider,
                    "job_id": vendor_job_id,
                    "state": state,
                    "now": now,
                },
            )
            if changed:
                await self.bus.publish(session, TaskHint(task_id, account_id, TaskStatus.PROCESSING.value))
            return bool(changed)

    async def record_attempt(
        self,
        task_id: str,
        attempt: dict[str, Any],
        *,
        model: str | None = None,
        request: GenerationRequest | None = None,
    ) -> None:
        async with self.db.write() as session:
            row = await session.get(Task, task_id)
            if row is None:
                return
            row.attempts = [*(row.attempts or []), attempt]
            if model is not None and request is not None:
                row.model = model
                row.provider = request.provider
                row.request = {
                    **request.model_dump(mode="json"),
                    "fallbacks": row.request.get("fallbacks", []),
                    "input": row.request.get("input"),
                }
            row.updated_at = utcnow()

    async def set_progress(self, task_id: str, progress: int, *, account_id: str) -> None:
        async with self.db.write() as session:
            result = await session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status.in_(ACTIVE_VALUES), Task.progress < progress)
                .values(progress=progress, updated_at=utcnow())
            )
            if getattr(result, "rowcount", 0):
                hint = TaskHint(task_id, account_id, TaskStatus.PROCESSING.value, progress)
                await self.bus.publish(session, hint)

    async def complete(
        self,
        task_id: str,
        outputs: list[StoredOutput],
        assets: Sequence[AssetRow],
        *,
        submitted: tuple[str, str | None] | None = None,
    ) -> bool:
        """Completed with these stored outputs (and their asset rows). `submitted`: (provider, vendor job
        id) of a synchronous vendor's answer, recorded in this same transaction (what `mark_submitted`
        records for a vendor that is polled; see `TaskJob._submit`)."""
        expires = {a.id: a.expires_at.isoformat() for a in assets}
        serialized = [{**o.model_dump(mode="json"), "expires_at": expires.get(o.asset_id)} for o in outputs]
        return await self.finish(task_id, TaskStatus.COMPLETED, outputs=serialized, assets=assets, submitted=submitted)

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        error_code: ErrorCode | str | None = None,
        error_message: str | None = None,
        outputs: list[dict[str, Any]] | None = None,
        assets: Sequence[AssetRow] = (),
        submitted: tuple[str, str | None] | None = None,
    ) -> bool:
        """The one guarded terminal transition: status, credits and webhook outbox in one transaction.

        Returns False (and changes nothing) when the task had already ended.
        """
        now = utcnow()
        params: dict[str, Any] = {"task_id": task_id, "new_status": status.value, "now": now}
        if status is TaskStatus.COMPLETED:
            statement, params["outputs"] = FINISH_COMPLETED, outputs or []
            if submitted is not None:
                statement = FINISH_COMPLETED_SUBMITTED
                params.update(provider_name=submitted[0], job_id=submitted[1], state={})
        else:
            statement = FINISH_FAILED
            params.update(error_code=str(error_code) if error_code else None, error_message=error_message)
        # prepared Core statements only (the asset rows and the webhook outbox row too): no ORM objects,
        # so the transaction takes `Database.write`'s Core path
        async with self.db.write(core=True) as session:
            if not await prepared.execute(session, statement, params):
                return False
            found = await prepared.first(session, FINISHED_TASK, {"task_id": task_id})
            assert found is not None
            row = TaskRecord.from_row(found)
            await billing.settle(
                session, row.account_id, row.id, row.credit_cost, row.model, capture=status is TaskStatus.COMPLETED
            )
            for asset in assets:
                await prepared.execute(session, INSERT_ASSET, asset.values())
            # (the view is built only when there is a webhook to send: most tasks have none)
            await self.webhooks.enqueue(session, row, lambda: self.view(row), account_url=found["account_webhook_url"])
            await self.bus.publish(session, TaskHint(row.id, row.account_id, row.status, row.progress, row))
        self.metrics.task_finished(row.provider, status.value, row.error_code)
        return True
