"""Accounts and API keys: creation, revocation, credits top-up and authentication."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from sqlalchemy import select, update

from mediagate.domain.media import KeyMode
from mediagate.domain.safety import MAX_CREDITS
from mediagate.errors import InvalidApiKey, InvalidParameter, NotFound
from mediagate.services import billing
from mediagate.services.plans import PlanBook
from mediagate.services.views import AccountView, KeyView, Principal
from mediagate.store.db import Database
from mediagate.store.tables import Account, ApiKey, LedgerEntry
from mediagate.store.types import utcnow

KEY_PREFIX = {KeyMode.LIVE: "mg_live_", KeyMode.TEST: "mg_test_"}
#: authenticated keys are cached this long in each process (revocation elsewhere takes effect within it)
KEY_CACHE_SECONDS = 10.0


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_webhook_secret() -> str:
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def account_view(row: Account) -> AccountView:
    return AccountView(
        id=row.id,
        name=row.name,
        plan=row.plan,
        balance=row.balance,
        reserved=row.reserved,
        webhook_secret=row.webhook_secret,
        webhook_url=row.webhook_url,
        created_at=row.created_at,
    )


def key_view(row: ApiKey) -> KeyView:
    return KeyView(
        id=row.id,
        account_id=row.account_id,
        prefix=row.prefix,
        last4=row.last4,
        mode=row.mode,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


class AccountService:
    def __init__(self, db: Database, plans: PlanBook) -> None:
        self.db = db
        self.plans = plans
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def create_account(self, name: str, plan: str | None = None, credits: int = 0) -> AccountView:
        if not name.strip():
            raise InvalidParameter("name must not be empty", field="name")
        plan = plan or self.plans.default
        self.plans.get(plan)  # validates
        if not 0 <= credits <= MAX_CREDITS:
            raise InvalidParameter(f"credits must be between 0 and {MAX_CREDITS}", field="credits")
        now = utcnow()
        row = Account(
            id=str(uuid.uuid4()),
            name=name.strip(),
            plan=plan,
            balance=0,
            reserved=0,
            webhook_secret=new_webhook_secret(),
            created_at=now,
        )
        async with self.db.write() as session:
            session.add(row)
            await session.flush()
            if credits:
                await billing.top_up(session, row.id, credits, "initial credits")
        return await self.get(row.id)

    async def get(self, account_id: str) -> AccountView:
        async with self.db.read() as session:
            row = await session.get(Account, account_id)
            if row is None:
                raise NotFound(f"Account {account_id} not found")
            return account_view(row)

    async def list_accounts(self) -> list[AccountView]:
        async with self.db.read() as session:
            rows = (await session.scalars(select(Account).order_by(Account.created_at))).all()
            return [account_view(r) for r in rows]

    async def set_plan(self, account_id: str, plan: str) -> AccountView:
        self.plans.get(plan)
        async with self.db.write() as session:
            result = await session.execute(update(Account).where(Account.id == account_id).values(plan=plan))
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"Account {account_id} not found")
        self._cache.clear()
        return await self.get(account_id)

    async def set_webhook_url(self, account_id: str, url: str | None) -> AccountView:
        async with self.db.write() as session:
            await session.execute(update(Account).where(Account.id == account_id).values(webhook_url=url))
        return await self.get(account_id)

    async def add_credits(self, account_id: str, amount: int, note: str | None = None) -> AccountView:
        if amount == 0:
            raise InvalidParameter("amount must not be 0", field="amount")
        async with self.db.write() as session:
            if await session.get(Account, account_id) is None:
                raise NotFound(f"Account {account_id} not found")
            await billing.top_up(session, account_id, amount, note)
        return await self.get(account_id)

    async def activity(self, account_id: str) -> tuple[int, int]:
        return await activity(self.db, account_id)

    async def usage(self, account_id: str, days: int = 30) -> dict[str, object]:
        return await usage(self.db, account_id, days)

    async def rotate_webhook_secret(self, account_id: str, overlap_hours: float = 24.0) -> AccountView:
        """New secret; the old one keeps being sent alongside for `overlap_hours`."""
        from datetime import timedelta

        async with self.db.write() as session:
            row = await session.get(Account, account_id)
            if row is None:
                raise NotFound(f"Account {account_id} not found")
            row.webhook_secret_previous = row.webhook_secret
            row.webhook_secret_previous_until = utcnow() + timedelta(hours=overlap_hours)
            row.webhook_secret = new_webhook_secret()
        return await self.get(account_id)

    async def ledger(self, account_id: str, limit: int = 100) -> list[dict[str, object]]:
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.account_id == account_id)
                    .order_by(LedgerEntry.id.desc())
                    .limit(limit)
                )
            ).all()
            return [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "amount": r.amount,
                    "credits": r.credits,
                    "task_id": r.task_id,
                    "model": r.model,
                    "note": r.note,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]

    # --- keys -----------------------------------------------------------------------------------

    async def create_key(
        self, account_id: str, mode: KeyMode = KeyMode.LIVE, name: str | None = None
    ) -> tuple[str, KeyView]:
        """A new key; the plaintext is returned once and never stored."""
        raw = KEY_PREFIX[mode] + secrets.token_urlsafe(24)
        row = ApiKey(
            id=str(uuid.uuid4()),
            account_id=account_id,
            key_hash=hash_key(raw),
            prefix=raw[:12],
            last4=raw[-4:],
            mode=mode.value,
            name=name,
            created_at=utcnow(),
        )
        async with self.db.write() as session:
            if await session.get(Account, account_id) is None:
                raise NotFound(f"Account {account_id} not found")
            session.add(row)
        return raw, key_view(row)

    async def list_keys(self, account_id: str) -> list[KeyView]:
        async with self.db.read() as session:
            rows = (await session.scalars(select(ApiKey).where(ApiKey.account_id == account_id))).all()
            return [key_view(r) for r in rows]

    async def revoke_key(self, key_id: str) -> KeyView:
        async with self.db.write() as session:
            row = await session.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"Key {key_id} not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            view = key_view(row)
        self._cache.clear()
        return view

    async def authenticate(self, authorization: str | None) -> Principal:
        """`Authorization: Bearer <key>` → the caller, or INVALID_API_KEY."""
        if not authorization:
            raise InvalidApiKey("Invalid or missing API key")
        scheme, _, raw = authorization.strip().partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise InvalidApiKey("Invalid or missing API key (expected 'Authorization: Bearer <key>')")
        # cached by the presented key itself: a hit costs a dict lookup, not a SHA-256 (this runs on
        # every request); the database only ever sees the hash
        cached = self._cache.get(raw)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        digest = hash_key(raw)
        async with self.db.read() as session:
            result = (
                await session.execute(
                    select(ApiKey.id, ApiKey.account_id, ApiKey.mode, ApiKey.revoked_at, Account.plan)
                    .join(Account, Account.id == ApiKey.account_id)
                    .where(ApiKey.key_hash == digest)
                )
            ).first()
        if result is None:
            raise InvalidApiKey("Invalid or missing API key")
        if result.revoked_at is not None:
            raise InvalidApiKey("This API key has been revoked")
        principal = Principal(account_id=result.account_id, key_id=result.id, mode=result.mode, plan=result.plan)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[raw] = (now + KEY_CACHE_SECONDS, principal)
        return principal


async def activity(db: Database, account_id: str) -> tuple[int, int]:
    """(tasks in flight, tasks created today UTC) for an account."""
    from datetime import UTC, datetime

    from sqlalchemy import func

    from mediagate.domain.media import ACTIVE
    from mediagate.store.tables import Task

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with db.read() as session:
        in_flight = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.account_id == account_id, Task.status.in_([s.value for s in ACTIVE]))
        )
        today = await session.scalar(
            select(func.count()).select_from(Task).where(Task.account_id == account_id, Task.created_at >= midnight)
        )
    return int(in_flight or 0), int(today or 0)


async def usage(db: Database, account_id: str, days: int = 30) -> dict[str, object]:
    """Credits captured per model and per UTC day over the last `days` days."""
    from datetime import timedelta

    since = utcnow() - timedelta(days=days)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(LedgerEntry.model, LedgerEntry.credits, LedgerEntry.created_at).where(
                    LedgerEntry.account_id == account_id, LedgerEntry.kind == "capture", LedgerEntry.created_at >= since
                )
            )
        ).all()
    per_model: dict[str, dict[str, int]] = {}
    per_day: dict[str, dict[str, int]] = {}
    for model, credits, created in rows:
        m = per_model.setdefault(model or "unknown", {"credits": 0, "tasks": 0})
        m["credits"] += credits
        m["tasks"] += 1
        d = per_day.setdefault(created.date().isoformat(), {"credits": 0, "tasks": 0})
        d["credits"] += credits
        d["tasks"] += 1
    return {
        "days": days,
        "total_credits": sum(v["credits"] for v in per_model.values()),
        "by_model": [{"model": k, **v} for k, v in sorted(per_model.items())],
        "by_day": [{"date": k, **v} for k, v in sorted(per_day.items())],
    }
