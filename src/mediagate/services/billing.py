"""Credits: reserve on submit, capture on success, refund on failure/cancel/timeout.

Invariants (checked by property tests):
- `accounts.balance` (available) and `accounts.reserved` never go negative (CHECK constraints, and
  every debit is a conditional UPDATE);
- together they never exceed `MAX_CREDITS` (2^53 - 1; a CHECK constraint, and every top-up is a
  conditional UPDATE: reserving, capturing and refunding never raise the sum), so a balance is always a
  64-bit integer — on SQLite an overflowing sum would silently become REAL;
- the ledger is append-only; a task has at most one `reserve`, `capture` and `refund` row
  (unique on (task_id, kind)), so settling twice is a no-op;
- balance == sum(ledger.amount) for every account; reserved == reserves not yet settled.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.domain.safety import MAX_CREDITS
from mediagate.errors import InsufficientCredits, InvalidParameter
from mediagate.store import prepared
from mediagate.store.tables import Account, LedgerEntry
from mediagate.store.types import utcnow


async def top_up(session: AsyncSession, account_id: str, amount: int, note: str | None = None) -> None:
    """Add (or, negative, remove) available credits. Removing never takes the balance below 0; adding
    never takes balance + reserved past `MAX_CREDITS` (INVALID_PARAMETER, nothing changed)."""
    if not -MAX_CREDITS <= amount <= MAX_CREDITS:
        raise InvalidParameter(f"amount must be between -{MAX_CREDITS} and {MAX_CREDITS}", field="amount")
    stmt = update(Account).where(Account.id == account_id).values(balance=Account.balance + amount)
    if amount < 0:
        stmt = stmt.where(Account.balance >= -amount)
    else:  # (the bound is computed here, in Python: the database never adds past 64 bits)
        stmt = stmt.where(Account.balance + Account.reserved <= MAX_CREDITS - amount)
    result = await session.execute(stmt)
    if not getattr(result, "rowcount", 0):
        found = (
            await session.execute(select(Account.balance, Account.reserved).where(Account.id == account_id))
        ).first()
        balance, reserved = (int(found[0]), int(found[1])) if found is not None else (0, 0)
        if amount > 0:
            raise InvalidParameter(
                f"a top-up of {amount} would take the account past the maximum of {MAX_CREDITS} credits "
                f"(balance {balance}, reserved {reserved})",
                field="amount",
            )
        raise InsufficientCredits(-amount, balance)
    session.add(
        LedgerEntry(
            account_id=account_id,
            kind="topup" if amount > 0 else "adjust",
            amount=amount,
            credits=abs(amount),
            note=note,
            created_at=utcnow(),
        )
    )


_accounts = Account.__table__.c
#: built once: reserving runs on every task creation (Core statements on the session's connection)
RESERVE = (
    update(Account)
    .where(_accounts.id == bindparam("account"), _accounts.balance >= bindparam("amount"))
    .values(balance=_accounts.balance - bindparam("amount"), reserved=_accounts.reserved + bindparam("amount"))
)
INSERT_LEDGER = insert(LedgerEntry)


async def reserve(session: AsyncSession, account_id: str, task_id: str, credits: int, model: str) -> None:
    """Move `credits` from available to reserved, or raise INSUFFICIENT_CREDITS having changed nothing."""
    if not await prepared.execute(session, RESERVE, {"account": account_id, "amount": credits}):
        available = await session.scalar(select(Account.balance).where(Account.id == account_id))
        raise InsufficientCredits(credits, int(available or 0))
    await prepared.execute(
        session,
        INSERT_LEDGER,
        {
            "account_id": account_id,
            "task_id": task_id,
            "kind": "reserve",
            "amount": -credits,
            "credits": credits,
            "model": model,
            "note": None,
            "created_at": utcnow(),
        },
    )


#: the settle guard row, per dialect: INSERT … ON CONFLICT DO NOTHING (built once)
SETTLE_GUARD = {
    "postgresql": postgresql.insert(LedgerEntry).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(LedgerEntry).on_conflict_do_nothing(),
}
CAPTURE = (
    update(Account)
    .where(_accounts.id == bindparam("account"))
    .values(reserved=_accounts.reserved - bindparam("amount"))
)
REFUND = (
    update(Account)
    .where(_accounts.id == bindparam("account"))
    .values(reserved=_accounts.reserved - bindparam("amount"), balance=_accounts.balance + bindparam("amount"))
)


async def settle(
    session: AsyncSession, account_id: str, task_id: str, credits: int, model: str, *, capture: bool
) -> bool:
    """Capture (success) or refund (anything else) a task's reservation, once. False if already settled."""
    kind = "capture" if capture else "refund"
    now = utcnow()
    # A task settles one way only: the (task_id, "settle") guard row makes capture and refund exclusive.
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    guard = SETTLE_GUARD["postgresql" if dialect == "postgresql" else "sqlite"]
    row = {"account_id": account_id, "task_id": task_id, "amount": 0, "credits": 0, "model": None, "created_at": now}
    if not await prepared.execute(session, guard, {**row, "kind": "settle", "note": kind}):
        return False
    await prepared.execute(
        session,
        INSERT_LEDGER,
        {**row, "kind": kind, "amount": 0 if capture else credits, "credits": credits, "model": model, "note": None},
    )
    await prepared.execute(session, CAPTURE if capture else REFUND, {"account": account_id, "amount": credits})
    return True
