"""Webhook outbox and delivery.

`enqueue` runs inside the transaction that ends a task, so a task never ends without its webhook
being recorded. `deliver_due` posts due messages, signed per Standard Webhooks, and reschedules
failures on `MEDIAGATE_WEBHOOK_RETRY_SCHEDULE` (with jitter; `Retry-After` honoured on 429).
2xx is success; redirects are not followed; 410 stops retries.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import timedelta
from types import EllipsisType
from typing import Any

import httpx
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.config import Settings
from mediagate.domain.tasks import TaskRecord
from mediagate.net.urlguard import UnsafeURL, URLGuard
from mediagate.services.rendering import task_json
from mediagate.services.views import TaskView
from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Account, WebhookAttempt, WebhookMessage
from mediagate.store.types import utcnow
from mediagate.testing.crash import crash_point
from mediagate.webhooks import signature_header

#: built once: every task's end looks up its account's webhook URL
ACCOUNT_WEBHOOK_URL = select(Account.__table__.c.webhook_url).where(Account.__table__.c.id == bindparam("account"))
#: … and, when there is one, inserts its outbox row (prepared, in the transaction that ends the task)
INSERT_MESSAGE = insert(WebhookMessage)
EVENTS = {"completed": "task.completed", "failed": "task.failed", "cancelled": "task.cancelled"}


def _ts(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def payload(view: TaskView) -> dict[str, Any]:
    """The seed's callback body, extended with `outputs` (and `error_code`) for every media type, and with
    `task`: the task object of `GET /api/v1/tasks/{id}` (the same data as the task's SSE events)."""
    body: dict[str, Any] = {"event": EVENTS[view.status], "task_id": view.id, "status": view.status}
    if view.status == "completed":
        body["video_url"] = view.first_url("video") or view.first_url("avatar")
        for media in ("image", "audio"):
            if (url := view.first_url(media)) is not None:
                body[f"{media}_url"] = url
        body["outputs"] = [o.model_dump(mode="json") for o in view.outputs]
        body["created_at"] = _ts(view.created_at)
        body["completed_at"] = _ts(view.completed_at)
    else:
        body["error_message"] = view.error_message
        body["error_code"] = view.error_code
        body["created_at"] = _ts(view.created_at)
        body["failed_at"] = _ts(view.failed_at)
    body["model"] = view.model
    body["task_type"] = view.task_type
    body["task"] = task_json(view)
    return body


class WebhookService:
    def __init__(self, settings: Settings, db: Database, http: httpx.AsyncClient, guard: URLGuard) -> None:
        self.guard = guard
        self.settings = settings
        self.db = db
        self.http = http

    async def enqueue(
        self,
        session: AsyncSession,
        task: TaskRecord,
        view: Callable[[], TaskView],
        *,
        account_url: str | EllipsisType | None = ...,
    ) -> str | None:
        """Record the task's webhook in the outbox, in the transaction of `session` (the one that ends the
        task), when it has a URL (its own, or else its account's: `account_url` when the caller read it
        already, looked up otherwise). `view` builds the task's view: called only then. Prepared Core
        statements only (`Database.write(core=True)`)."""
        url = task.callback_url
        if url is None:
            if account_url is ...:
                found = await prepared.first(session, ACCOUNT_WEBHOOK_URL, {"account": task.account_id})
                account_url = found["webhook_url"] if found else None
            url = account_url
        if not url:
            return None
        shown = view()
        msg_id = f"msg_{task.id.replace('-', '')}_{shown.status}"
        now = utcnow()
        await prepared.execute(
            session,
            INSERT_MESSAGE,
            {
                "id": msg_id,
                "account_id": task.account_id,
                "task_id": task.id,
                "event": EVENTS[shown.status],
                "url": url,
                "payload": json.dumps(payload(shown), ensure_ascii=False, separators=(",", ":")),
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
        return msg_id

    async def secrets_for(self, account_id: str) -> list[str]:
        async with self.db.read() as session:
            account = await session.get(Account, account_id)
        if account is None:
            return []
        secrets = [account.webhook_secret]
        if (
            account.webhook_secret_previous
            and account.webhook_secret_previous_until
            and account.webhook_secret_previous_until > utcnow()
        ):
            secrets.append(account.webhook_secret_previous)
        return secrets

    async def deliver_due(self, limit: int = 50) -> int:
        """Attempt every due message once; returns how many were attempted."""
        now = utcnow()
        async with self.db.read() as session:
            due = (
                await session.scalars(
                    select(WebhookMessage)
                    .where(WebhookMessage.state == "pending", WebhookMessage.next_attempt_at <= now)
                    .order_by(WebhookMessage.next_attempt_at)
                    .limit(limit)
                )
            ).all()
        attempted = 0
        for message in due:
            crash_point("before_webhook")
            if await self._claim(message.id, now):
                await self.attempt(message)
                attempted += 1
        return attempted

    async def _claim(self, message_id: str, now: Any) -> bool:
        """Lease a due message for 60 s so that only one process delivers it (scale-out mode)."""
        async with self.db.write() as session:
            result = await session.execute(
                update(WebhookMessage)
                .where(
                    WebhookMessage.id == message_id,
                    WebhookMessage.state == "pending",
                    WebhookMessage.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=60))
            )
            return bool(getattr(result, "rowcount", 0))

    async def attempt(self, message: WebhookMessage) -> None:
        secrets = await self.secrets_for(message.account_id)
        timestamp = int(time.time())
        body = message.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "mediagate-webhooks/1",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, message.id, timestamp, body),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        refused = False
        try:
            response = await self.guard.post(self.http, message.url, content=body, headers=headers, timeout=15)
            status = response.status_code
            if status == 429 and (value := response.headers.get("retry-after", "")).isdigit():
                retry_after = float(value)
        except UnsafeURL as exc:
            error, refused = f"refused: {exc}", True
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:500]
        latency = (time.perf_counter() - started) * 1000
        await self._record(message, status, error, latency, retry_after, give_up=refused)

    async def _record(
        self,
        message: WebhookMessage,
        status: int | None,
        error: str | None,
        latency: float,
        retry_after: float | None,
        give_up: bool = False,
    ) -> None:
        attempt = message.attempts + 1
        now = utcnow()
        schedule = self.settings.webhook_schedule
        values: dict[str, Any] = {"attempts": attempt}
        if status is not None and 200 <= status < 300:
            values.update(state="delivered", delivered_at=now)
        elif give_up or status == 410 or attempt >= len(schedule):
            values.update(state="failed")
        else:
            delay = schedule[attempt]
            delay = delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not crypto
            if retry_after is not None:
                delay = max(delay, retry_after)
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        async with self.db.write() as session:
            session.add(
                WebhookAttempt(
                    message_id=message.id,
                    attempt=attempt,
                    status_code=status,
                    error=error,
                    latency_ms=latency,
                    created_at=now,
                )
            )
            await session.execute(update(WebhookMessage).where(WebhookMessage.id == message.id).values(**values))

    async def redeliver(self, message_id: str) -> None:
        """Schedule a message (delivered or given up) for one more round of attempts, now."""
        from mediagate.errors import NotFound

        async with self.db.write() as session:
            result = await session.execute(
                update(WebhookMessage)
                .where(WebhookMessage.id == message_id)
                .values(state="pending", next_attempt_at=utcnow(), attempts=0)
            )
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"Webhook message {message_id} not found")

    async def deliveries(self, task_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            messages = (await session.scalars(select(WebhookMessage).where(WebhookMessage.task_id == task_id))).all()
            out = []
            for m in messages:
                attempts = (
                    await session.scalars(
                        select(WebhookAttempt).where(WebhookAttempt.message_id == m.id).order_by(WebhookAttempt.attempt)
                    )
                ).all()
                out.append(
                    {
                        "id": m.id,
                        "event": m.event,
                        "url": m.url,
                        "state": m.state,
                        "attempts": [
                            {
                                "attempt": a.attempt,
                                "status_code": a.status_code,
                                "error": a.error,
                                "latency_ms": round(a.latency_ms, 1),
                                "at": a.created_at.isoformat(),
                            }
                            for a in attempts
                        ],
                        "next_attempt_at": m.next_attempt_at.isoformat() if m.state == "pending" else None,
                    }
                )
            return out
