"""Tasks: creation (validate → price → reserve → insert → dispatch), queries, cancel, and the guarded
state transitions the engine uses. Every terminal transition settles credits and enqueues the webhook
in the same transaction."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.catalog import Catalog
from mediagate.config import Settings
from mediagate.domain.media import ACTIVE, TaskStatus
from mediagate.domain.outputs import StoredOutput
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.errors import ErrorCode, InvalidParameter, TaskNotFound
from mediagate.services import billing
from mediagate.services.assets import AssetService
from mediagate.services.idempotency import Claim
from mediagate.services.limits import LimitService
from mediagate.services.metrics import Metrics
from mediagate.services.routing import Router
from mediagate.services.views import OutputView, Principal, TaskPage, TaskView
from mediagate.services.webhooks import WebhookService
from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Asset, Task
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
INSERT_ASSET = insert(Asset)
TASK_BY_ID = select(*Task.__table__.columns).where(Task.__table__.c.id == bindparam("task_id"))
LIST_STATUSES = [s.value for s in TaskStatus]


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
        webhooks: WebhookService,
        limits: LimitService,
    ) -> None:
        self.settings = settings
        self.db = db
        self.catalog = catalog
        self.router = router
        self.assets = assets
        self.webhooks = webhooks
        self.limits = limits
        self.metrics = Metrics()
        #: set by the gateway: hands a committed task (its id, and its row as committed) to the engine
        self.dispatch: Callable[[str, SimpleNamespace], Awaitable[None]] | None = None
        #: set by the gateway: stops a running task's job wherever it runs
        self.abort: Callable[[str], Awaitable[None]] | None = None
        #: set by the gateway in distributed mode: defers the task's job inside the creating transaction
        self.enqueue_in_transaction: Callable[[AsyncSession, str, str], Awaitable[None]] | None = None

    # --- views -----------------------------------------------------------------------------------

    def view(self, row: Task | SimpleNamespace) -> TaskView:
        """The service-level view of a task row (an ORM `Task`, or the columns of one as attributes)."""
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
        row = SimpleNamespace(**values)
        async with self.db.write(core=True) as session:
            # (on PostgreSQL the admission locks the account row first, which serializes an account's
            # creations; reserving last instead, to hold the lock shorter, was tried and made things
            # far worse: see docs/benchmarks.md)
            await self.limits.admit_task(session, principal)
            await billing.reserve(session, principal.account_id, task_id, chosen.credits, chosen.model.id)
            # a prepared INSERT (no unit-of-work flush for a row we never modify); NULL columns are left
            # out, so JSON columns hold SQL NULL as they did with the ORM
            await prepared.execute(session, INSERT_TASK, {k: v for k, v in values.items() if v is not None})
            if self.enqueue_in_transaction is not None:
                await self.enqueue_in_transaction(session, task_id, "sandbox" if principal.is_test else row.provider)
            if claim is not None and render is not None:
                await claim.store(session, *render(self.view(row)))
        self.metrics.task_created(row.provider, row.media_type, row.mode)
        if self.dispatch is not None:
            await self.dispatch(task_id, SimpleNamespace(**values, request_model=request))
        return self.view(row)

    async def get(self, principal: Principal, task_id: str) -> TaskView:
        # the hottest read (clients poll it): one prepared SELECT, no ORM session
        found = await self.db.fetch_one(TASK_BY_ID, {"task_id": task_id})
        if found is None or found["account_id"] != principal.account_id:
            raise TaskNotFound("Task not found")
        return self.view(SimpleNamespace(**found))

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
                await session.scalars(
                    select(Task).where(*where).order_by(Task.created_at.desc(), Task.id).limit(limit).offset(offset)
                )
            ).all()
        return TaskPage(tasks=[self.view(r) for r in rows], total=total, limit=limit, offset=offset)

    async def cancel(self, principal: Principal, task_id: str) -> TaskView:
        async with self.db.read() as session:
            row = await session.get(Task, task_id)
        if row is None or row.account_id != principal.account_id:
            raise TaskNotFound("Task not found")
        if row.status in ACTIVE_VALUES:
            changed = await self.finish(
                task_id, TaskStatus.CANCELLED, error_code=None, error_message="Cancelled by the client"
            )
            if changed and self.abort is not None:
                await self.abort(task_id)
        else:
            raise InvalidParameter(f"Task is already {row.status} and cannot be cancelled", field="task_id")
        return await self.get(principal, task_id)

    # --- engine-facing ---------------------------------------------------------------------------

    async def load(self, task_id: str) -> SimpleNamespace | None:
        """The task's columns as attributes (a prepared point read: the engine loads a task per step)."""
        found = await self.db.fetch_one(TASK_BY_ID, {"task_id": task_id})
        return SimpleNamespace(**found) if found is not None else None

    async def active_ids(self) -> list[str]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Task.id).where(Task.status.in_(ACTIVE_VALUES)).order_by(Task.created_at)
            )
            return list(rows.all())

    async def mark_submitted(
        self, task_id: str, provider: str, vendor_job_id: str | None, state: dict[str, Any]
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

    async def set_progress(self, task_id: str, progress: int) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(Task)
                .where(Task.id == task_id, Task.status.in_(ACTIVE_VALUES), Task.progress < progress)
                .values(progress=progress, updated_at=utcnow())
            )

    async def complete(self, task_id: str, outputs: list[StoredOutput], assets: list[Asset]) -> bool:
        expires = {a.id: a.expires_at.isoformat() for a in assets}
        serialized = [{**o.model_dump(mode="json"), "expires_at": expires.get(o.asset_id)} for o in outputs]
        return await self.finish(task_id, TaskStatus.COMPLETED, outputs=serialized, assets=assets)

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        error_code: ErrorCode | str | None = None,
        error_message: str | None = None,
        outputs: list[dict[str, Any]] | None = None,
        assets: list[Asset] | None = None,
    ) -> bool:
        """The one guarded terminal transition: status, credits and webhook outbox in one transaction.

        Returns False (and changes nothing) when the task had already ended.
        """
        now = utcnow()
        params: dict[str, Any] = {"task_id": task_id, "new_status": status.value, "now": now}
        if status is TaskStatus.COMPLETED:
            statement, params["outputs"] = FINISH_COMPLETED, outputs or []
        else:
            statement = FINISH_FAILED
            params.update(error_code=str(error_code) if error_code else None, error_message=error_message)
        async with self.db.write() as session:
            if not await prepared.execute(session, statement, params):
                return False
            found = await prepared.first(session, TASK_BY_ID, {"task_id": task_id})
            assert found is not None
            row = SimpleNamespace(**found)
            await billing.settle(
                session, row.account_id, row.id, row.credit_cost, row.model, capture=status is TaskStatus.COMPLETED
            )
            for asset in assets or []:
                values = {c.key: getattr(asset, c.key) for c in Asset.__table__.columns}
                await prepared.execute(session, INSERT_ASSET, {k: v for k, v in values.items() if v is not None})
            await self.webhooks.enqueue(session, row, self.view(row))
        self.metrics.task_finished(row.provider, status.value, row.error_code)
        return True
