"""Rate limits (per key, per minute: a moving window in this process's memory, or on Redis when several
API processes share it) and task admission (per account: in-flight concurrency and a daily cap, counted
in the database so they hold across processes)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.media import ACTIVE
from mediagate.errors import RateLimitExceeded
from mediagate.services.plans import Plan, PlanBook
from mediagate.services.redis_window import RedisWindows
from mediagate.services.views import Principal
from mediagate.store import prepared
from mediagate.store.tables import Account, Task

#: built once: every task creation reads its account's plan (and locks the row on PostgreSQL)
ACCOUNT_LIMITS = (
    select(Account.__table__.c.plan, Account.__table__.c.limits_override)
    .where(Account.__table__.c.id == bindparam("account"))
    .with_for_update()
)


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    reset_seconds: int  #: seconds until a slot frees up / the window resets

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


class MemoryWindows:
    """Moving one-minute windows in process memory (embedded mode): the hit times of each (key, scope)
    in a deque — expired hits drop off the left, new ones go on the right.

    The same moving-window semantics as `limits`' MovingWindowRateLimiter, at O(1) per hit: `limits`'
    own memory storage copies the whole window list and hands an expiry scan to a thread on every hit,
    which made it one of the costliest steps of a request (docs/benchmarks.md).
    """

    WINDOW = 60.0

    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], deque[float]] = {}

    def hit(self, key: tuple[str, str], limit: int, count: int = 1) -> tuple[bool, int, float]:
        """Count `count` hits unless the window has no room for all of them (then none): (allowed,
        remaining, when the oldest hit expires)."""
        now = time.time()
        window = self.windows.get(key)
        if window is None:
            if len(self.windows) >= 10_000:
                self._prune(now)
            window = self.windows[key] = deque()
        cutoff = now - self.WINDOW
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) + count > limit:
            return False, max(0, limit - len(window)), (window[0] if window else now) + self.WINDOW
        window.extend([now] * count)
        return True, limit - len(window), window[0] + self.WINDOW

    def _prune(self, now: float) -> None:
        cutoff = now - self.WINDOW
        for key in [k for k, w in self.windows.items() if not w or w[-1] <= cutoff]:
            del self.windows[key]


class LimitService:
    def __init__(self, plans: PlanBook, redis_url: str | None = None) -> None:
        self.plans = plans
        #: shared by every API process (scale-out): on Redis; else in this process's memory
        self.redis: RedisWindows | None = None
        self.memory: MemoryWindows | None = None
        if redis_url:
            self.redis = RedisWindows(redis_url)
        else:
            self.memory = MemoryWindows()

    def plan(self, principal: Principal) -> Plan:
        return self.plans.get(principal.plan)

    async def hit(self, principal: Principal, kind: str, count: int = 1) -> RateInfo | None:
        """Count `count` requests of `kind` (create | query) — e.g. one per root field of a GraphQL
        operation; raise 429 when the plan's window has no room for all of them (a window never takes
        part of them).

        Returns the tightest applicable window for the X-RateLimit-* headers, or None when the plan
        is unlimited.
        """
        plan = self.plan(principal)
        checks: list[tuple[str, int]] = []
        if plan.rpm is not None:
            checks.append(("all", plan.rpm))
        specific = plan.create_rpm if kind == "create" else plan.query_rpm
        if specific is not None:
            checks.append((kind, specific))
        tightest: RateInfo | None = None
        for scope, amount in checks:
            if self.memory is not None:
                allowed, remaining, reset_at = self.memory.hit((principal.key_id, scope), amount, count)
            else:
                assert self.redis is not None
                allowed, remaining, reset_at = await self.redis.hit((principal.key_id, scope), amount, count)
            reset = max(1, math.ceil(reset_at - time.time()))
            info = RateInfo(limit=amount, remaining=remaining, reset_seconds=reset)
            if not allowed:
                raise RateLimitExceeded(
                    f"Rate limit exceeded: {amount} requests per minute on the {plan.name} plan. Retry after {reset} s.",
                    headers={**info.headers(), "Retry-After": str(reset)},
                )
            if tightest is None or info.remaining < tightest.remaining:
                tightest = info
        return tightest

    async def admit_task(self, session: AsyncSession, principal: Principal) -> None:
        """Inside the creating transaction: refuse when the account is at its concurrency or daily cap."""
        # Serialize creations per account (PostgreSQL row lock; SQLite writers are already serialized).
        row = await prepared.first(session, ACCOUNT_LIMITS, {"account": principal.account_id})
        plan = self.plans.get(row["plan"] if row else principal.plan, row["limits_override"] if row else None)
        if plan.concurrent is not None:
            in_flight = await session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.account_id == principal.account_id, Task.status.in_([s.value for s in ACTIVE]))
            )
            if int(in_flight or 0) >= plan.concurrent:
                raise RateLimitExceeded(
                    f"Concurrency limit reached: {plan.concurrent} task(s) in flight on the {plan.name} plan. "
                    "Retry when one finishes.",
                    headers={"Retry-After": "5"},
                )
        if plan.daily is not None:
            now = datetime.now(UTC)
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            today = await session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.account_id == principal.account_id, Task.created_at >= midnight)
            )
            if int(today or 0) >= plan.daily:
                retry = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
                raise RateLimitExceeded(
                    f"Daily limit reached: {plan.daily} tasks per day on the {plan.name} plan.",
                    headers={"Retry-After": str(retry)},
                )
