"""Property test of the credits ledger: for any interleaving of reserve / capture / refund,
balance = credits added − captured − reserved-outstanding, and nothing ever goes negative."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediagate.errors import InsufficientCredits
from mediagate.services import billing
from mediagate.store.db import Database
from mediagate.store.tables import Account
from mediagate.store.types import utcnow

Op = tuple[str, int, int]  # (kind, task index, credits)

ops = st.lists(
    st.tuples(st.sampled_from(["reserve", "capture", "refund", "topup"]), st.integers(0, 5), st.integers(1, 40)),
    max_size=30,
)


async def scenario(initial: int, steps: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}")
        await db.migrate()
        account_id = str(uuid.uuid4())
        async with db.write() as session:
            session.add(
                Account(
                    id=account_id, name="p", plan="free", balance=0, reserved=0, webhook_secret="w", created_at=utcnow()
                )
            )
            await session.flush()
            await billing.top_up(session, account_id, initial)
        added, captured = initial, 0
        reserved: dict[int, int] = {}
        settled: set[int] = set()
        for kind, index, credits in steps:
            task_id = f"task-{index}"
            async with db.write() as session:
                if kind == "topup":
                    await billing.top_up(session, account_id, credits)
                    added += credits
                elif kind == "reserve":
                    if index in reserved:
                        continue
                    try:
                        await billing.reserve(session, account_id, task_id, credits, "m")
                        reserved[index] = credits
                    except InsufficientCredits:
                        pass
                elif index in reserved:
                    done = await billing.settle(
                        session, account_id, task_id, reserved[index], "m", capture=kind == "capture"
                    )
                    assert done is (index not in settled)
                    if done:
                        settled.add(index)
                        if kind == "capture":
                            captured += reserved[index]
            async with db.read() as session:
                account = await session.get(Account, account_id)
                assert account is not None
                outstanding = sum(c for i, c in reserved.items() if i not in settled)
                assert account.balance >= 0 and account.reserved >= 0
                assert account.reserved == outstanding
                assert account.balance == added - captured - outstanding
        await db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=st.integers(0, 100), steps=ops)
def test_any_interleaving_keeps_the_ledger_balanced(initial: int, steps: list[Op]) -> None:
    asyncio.run(scenario(initial, steps))
