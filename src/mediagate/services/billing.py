"""Credits: reserve on submit, capture on success, refund on failure/cancel/timeout.

Invariants (checked by property tests):
- `accounts.balance` (available) and `accounts.reserved` never go negative (CHECK constraints, and
  every debit is a conditional UPDATE);
- the ledger is append-only; a task has at most one `reserve`, `capture` and `refund` row
  (unique on (task_id, kind)), so settling twice is a no-op;
- balance == sum(ledger.amount) for every account; reserved == reserves not yet settled.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediagate.errors import InsufficientCredits
from mediagate.services.sql import insert_ignore
from mediagate.store.tables import Account, LedgerEntry
from mediagate.store.types import utcnow


async def top_up(session: AsyncSession, account_id: str, amount: int, note: str | None = None) -> None:
    """Add (or, negative, remove) available credits. Removing never takes the balance below 0."""
    stmt = update(Account).where(Account.id == account_id).values(balance=Account.balance + amount)
    if amount < 0:
        stmt = stmt.where(Account.balance >= -amount)
    result = await session.execute(stmt)
    if not getattr(result, "rowcount", 0):
        available = await session.scalar(select(Account.balance).where(Account.id == account_id))
        raise InsufficientCredits(-amount, int(available or 0))
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


async def reserve(session: AsyncSession, account_id: str, task_id: str, credits: int, model: str) -> None:
    """Move `credits` from available to reserved, or raise INSUFFICIENT_CREDITS."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.balance >= credits)
        .values(balance=Account.balance - credits, reserved=Account.reserved + credits)
    )
    if not getattr(result, "rowcount", 0):
        available = await session.scalar(select(Account.balance).where(Account.id == account_id))
        raise InsufficientCredits(credits, int(available or 0))
    session.add(
        LedgerEntry(
            account_id=account_id,
            task_id=task_id,
            kind="reserve",
            amount=-credits,
            credits=credits,
            model=model,
            created_at=utcnow(),
        )
    )


async def settle(
    session: AsyncSession, account_id: str, task_id: str, credits: int, model: str, *, capture: bool
) -> bool:
    """Capture (success) or refund (anything else) a task's reservation, once. False if already settled."""
    kind = "capture" if capture else "refund"
    # A task settles one way only: the (task_id, "settle") guard row makes capture and refund exclusive.
    first = await insert_ignore(
        session,
        LedgerEntry.__table__,  # type: ignore[arg-type]
        {
            "account_id": account_id,
            "task_id": task_id,
            "kind": "settle",
            "amount": 0,
            "credits": 0,
            "note": kind,
            "created_at": utcnow(),
        },
    )
    if not first:
        return False
    session.add(
        LedgerEntry(
            account_id=account_id,
            task_id=task_id,
            kind=kind,
            amount=0 if capture else credits,
            credits=credits,
            model=model,
            created_at=utcnow(),
        )
    )
    values = (
        {"reserved": Account.reserved - credits}
        if capture
        else {"reserved": Account.reserved - credits, "balance": Account.balance + credits}
    )
    await session.execute(update(Account).where(Account.id == account_id).values(**values))
    return True
