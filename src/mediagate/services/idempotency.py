"""Idempotency-Key: one logical create per (account, key), however often the client retries.

- the key is claimed with an atomic insert (the primary key is (account_id, key));
- the response is stored in the same transaction that creates the task, so a crash can never leave a
  task without its stored response (or a stored response without its task);
- same key + same body → the stored response, replayed (`Idempotent-Replayed: true`), nothing charged;
- same key + different body → 422; first request still being handled → 409;
- a request that fails (validation, 402, 429 …) releases its claim: it created nothing;
- a claim left `in_progress` by a crashed process is taken over after `STALE_CLAIM_SECONDS`;
- keys are kept `RETENTION_HOURS` (≥ 24 h).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.errors import IdempotencyConflict, IdempotencyMismatch, InvalidParameter
from mediagate.services.sql import insert_ignore
from mediagate.services.views import Principal
from mediagate.store.db import Database
from mediagate.store.tables import IdempotencyKey
from mediagate.store.types import utcnow

RETENTION_HOURS = 24
STALE_CLAIM_SECONDS = 120
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


class Claim:
    """A claimed key. The creating service calls `store` inside its own transaction."""

    def __init__(self, account_id: str, key: str) -> None:
        self.account_id = account_id
        self.key = key

    async def store(self, session: AsyncSession, status: int, payload: dict[str, Any]) -> None:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.account_id == self.account_id, IdempotencyKey.key == self.key)
            .values(state="done", status_code=status, response_body=json.dumps(payload, ensure_ascii=False))
        )


Handler = Callable[[Claim | None], Awaitable[tuple[int, dict[str, Any]]]]


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


class IdempotencyService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run(
        self, principal: Principal, key: str | None, body: Any, handler: Handler
    ) -> tuple[int, dict[str, Any], bool]:
        """Run `handler` at most once per key; returns (status, body, replayed)."""
        if key is None:
            status, payload = await handler(None)
            return status, payload, False
        if not KEY_PATTERN.match(key):
            raise InvalidParameter(
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces", field="Idempotency-Key"
            )
        digest = fingerprint(body)
        account = principal.account_id
        if not await self._claim(account, key, digest):
            return await self._replay(account, key, digest)
        try:
            status, payload = await handler(Claim(account, key))
        except BaseException:
            async with self.db.write() as session:
                await session.execute(
                    delete(IdempotencyKey).where(
                        IdempotencyKey.account_id == account,
                        IdempotencyKey.key == key,
                        IdempotencyKey.state == "in_progress",
                    )
                )
            raise
        return status, payload, False

    async def _claim(self, account: str, key: str, digest: str) -> bool:
        now = utcnow()
        async with self.db.write() as session:
            # expired keys and abandoned claims (a crashed process) can be claimed again
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.account_id == account,
                    IdempotencyKey.key == key,
                    (IdempotencyKey.expires_at < now)
                    | (
                        (IdempotencyKey.state == "in_progress")
                        & (IdempotencyKey.created_at < now - timedelta(seconds=STALE_CLAIM_SECONDS))
                    ),
                )
            )
            return await insert_ignore(
                session,
                IdempotencyKey.metadata.tables[IdempotencyKey.__tablename__],  # typed Table (__table__ is FromClause)
                {
                    "account_id": account,
                    "key": key,
                    "request_hash": digest,
                    "state": "in_progress",
                    "created_at": now,
                    "expires_at": now + timedelta(hours=RETENTION_HOURS),
                },
            )

    async def _replay(self, account: str, key: str, digest: str) -> tuple[int, dict[str, Any], bool]:
        async with self.db.read() as session:
            row = (
                await session.scalars(
                    select(IdempotencyKey).where(IdempotencyKey.account_id == account, IdempotencyKey.key == key)
                )
            ).first()
        if row is None:  # released between our claim attempt and now: the client may retry
            raise IdempotencyConflict("A request with this Idempotency-Key just failed; retry it")
        if row.request_hash != digest:
            raise IdempotencyMismatch(
                "This Idempotency-Key was already used with a different request body", field="Idempotency-Key"
            )
        if row.state != "done" or row.response_body is None or row.status_code is None:
            raise IdempotencyConflict(
                "A request with this Idempotency-Key is still being handled; retry later",
                headers={"Retry-After": "1"},
            )
        return row.status_code, json.loads(row.response_body), True

    async def sweep(self) -> int:
        async with self.db.write() as session:
            result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < utcnow()))
            return int(getattr(result, "rowcount", 0) or 0)
