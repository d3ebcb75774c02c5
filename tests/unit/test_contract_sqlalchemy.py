"""Contract of the prepared statements (`src/mediagate/store/prepared.py`) and of the database handle
(`src/mediagate/store/db.py`) with SQLAlchemy.

`prepared.prepare` compiles a Core statement once and, on the inline SQLite driver, sends the compiled
SQL straight to `sqlite3` with SQLAlchemy's own bind and result processors. It reads the compiled
statement's `positiontup`, `binds` (each `BindParameter`'s `expanding`, `literal_execute`, `callable`, `required`,
`value`, `type`) and `insert_prefetch` / `update_prefetch`. This checks those names still mean what prepared.py
takes them to mean, and — the part that matters — that for sample statements shaped like the hot ones
(a guarded reservation, a guarded transition with literals, an insert with Python-side defaults, a
point read) the SQL and the parameters prepared.py sends are exactly those SQLAlchemy sends, and the
values it reads back are SQLAlchemy's. `MEDIAGATE_FAST_PATHS=false` (`Database(url, fast=False)`) runs
every statement through SQLAlchemy Core instead.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, insert, or_, select, update
from sqlalchemy.engine import Compiled
from sqlalchemy.sql.elements import BindParameter

from mediagate.store import prepared
from mediagate.store.db import Database
from mediagate.store.tables import Account, Task

REVISIT = "revisit src/mediagate/store/prepared.py (_compile, Prepared) for this SQLAlchemy release"

_accounts = Account.__table__.c
_tasks = Task.__table__.c
NOW = datetime(2026, 11, 22, 9, 10, 11, 123456, tzinfo=UTC)

RESERVE = (
    update(Account)
    .where(_accounts.id == bindparam("account"), _accounts.balance >= bindparam("amount"))
    .values(balance=_accounts.balance - bindparam("amount"), reserved=_accounts.reserved + bindparam("amount"))
)
MARK = (
    update(Task)
    .where(_tasks.id == bindparam("task_id"), or_(_tasks.status == "pending", _tasks.status == "processing"))
    .values(
        status=bindparam("new_status"),
        progress=100,
        provider_state=bindparam("state", type_=_tasks.provider_state.type),
        started_at=func.coalesce(_tasks.started_at, bindparam("now", type_=_tasks.started_at.type)),
        updated_at=bindparam("now", type_=_tasks.updated_at.type),
    )
)
INSERT_TASK = insert(Task)
INSERT_ACCOUNT = insert(Account)
TASK_BY_ID = select(*Task.__table__.columns).where(_tasks.id == bindparam("task_id"))
BY_STATUS_IN = select(_tasks.id).where(_tasks.status.in_(bindparam("statuses", expanding=True)))


def account_row(account_id: str = "acc-1") -> dict[str, Any]:
    return {
        "id": account_id,
        "name": "tester",
        "plan": "pro",
        "balance": 1000,
        "reserved": 0,
        "webhook_secret": "whsec",
        "webhook_secret_previous": None,
        "webhook_secret_previous_until": None,
        "webhook_url": None,
        "limits_override": {"rpm": 5, "note": "café ☕"},
        "created_at": NOW,
    }


def task_row(task_id: str = "task-1") -> dict[str, Any]:
    return {
        "id": task_id,
        "account_id": "acc-1",
        "mode": "live",
        "status": "pending",
        "media_type": "video",
        "task_type": "text_to_video",
        "model": "seedance-1.0",
        "requested_model": "seedance",
        "provider": "seedance",
        "request": {"prompt": "a lighthouse", "n": 1, "nested": {"ok": True}, "f": 1.5},
        "prompt": "a lighthouse",
        "credit_cost": 25,
        "progress": 0,
        "created_at": NOW,
        "updated_at": NOW,
        "deadline_at": NOW + timedelta(minutes=10),
    }


@pytest.fixture
async def stock(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}", fast=False)
    await db.migrate()
    yield db
    await db.close()


def test_compiled_statement_internals_prepared_reads(stock: Database) -> None:
    dialect = stock.write_engine.dialect
    compiled = RESERVE.compile(dialect=dialect, column_keys=["account", "amount"])
    assert isinstance(compiled, Compiled)
    assert compiled.positiontup == ["amount", "amount", "account", "amount"], (
        f"positiontup no longer lists the qmark parameters in order: {REVISIT}"
    )
    assert compiled.string.count("?") == len(compiled.positiontup), REVISIT
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        assert isinstance(bind, BindParameter), f"compiled.binds no longer maps names to BindParameter: {REVISIT}"
        for attribute in ("expanding", "literal_execute", "callable", "required", "value", "type"):
            assert hasattr(bind, attribute), f"BindParameter.{attribute} is gone: {REVISIT}"
    marked = MARK.compile(dialect=dialect, column_keys=["task_id", "new_status", "state", "now"])
    literals = {
        n: marked.binds[n].value for n in marked.positiontup if n not in ("task_id", "new_status", "state", "now")
    }
    assert sorted(literals.values(), key=str) == [100, "pending", "processing"], f"literal binds moved: {REVISIT}"
    inserted = INSERT_TASK.compile(
        dialect=dialect, column_keys=[k for k in task_row() if k not in ("prompt", "progress")]
    )
    assert {c.key for c in inserted.insert_prefetch} == {"prompt", "progress"}, (
        f"insert_prefetch no longer lists the Python-side defaults: {REVISIT}"
    )
    assert inserted.update_prefetch == [], REVISIT
    # the processors prepared.py takes from each type (public TypeEngine API, positional arguments)
    assert list(inspect.signature(_tasks.request.type.bind_processor).parameters) == ["dialect"], REVISIT
    assert list(inspect.signature(_tasks.request.type.result_processor).parameters) == ["dialect", "coltype"], REVISIT


def test_what_prepared_will_not_run_itself(stock: Database) -> None:
    dialect = stock.write_engine.dialect
    assert prepared.prepare(BY_STATUS_IN, dialect, {"statuses": ["pending"]}) is None  # an IN list: expanded
    missing_defaults = {k: v for k, v in task_row().items() if k not in ("prompt", "progress")}
    assert prepared.prepare(INSERT_TASK, dialect, missing_defaults) is None, (
        f"a Python-side column default would be sent as NULL: {REVISIT}"
    )
    assert prepared.prepare(RESERVE, dialect, {"account": "a"}) is None  # a required parameter missing


async def test_prepared_sends_what_sqlalchemy_sends_and_reads_what_it_reads(stock: Database) -> None:
    """The same SQL text and parameter values as SQLAlchemy's own execution, and the same row back."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    @event.listens_for(stock.write_engine.sync_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, tuple(parameters)))

    dialect = stock.write_engine.dialect
    other_zone = timezone(timedelta(hours=5, minutes=30))
    samples: list[tuple[Any, dict[str, Any]]] = [
        (INSERT_ACCOUNT, account_row()),
        (INSERT_TASK, task_row()),
        (RESERVE, {"account": "acc-1", "amount": 25}),
        (
            MARK,
            {
                "task_id": "task-1",
                "new_status": "processing",
                "state": {"endpoint": "v2"},
                "now": NOW.astimezone(other_zone),
            },
        ),
        (MARK, {"task_id": "task-1", "new_status": "processing", "state": None, "now": NOW}),
        (TASK_BY_ID, {"task_id": "task-1"}),
    ]
    async with stock.write_engine.connect() as conn:
        for statement, params in samples:
            ready = prepared.prepare(statement, dialect, params)
            assert ready is not None, REVISIT
            sent.clear()
            result = await conn.execute(statement, params)
            (sql, parameters) = sent[-1]
            assert ready.sql == sql, f"prepared SQL differs from SQLAlchemy's: {REVISIT}"
            assert tuple(ready.args(params)) == parameters, f"prepared parameters differ from SQLAlchemy's: {REVISIT}"
            if statement is TASK_BY_ID:
                expected = dict(result.mappings().one())
                raw = await conn.exec_driver_sql(ready.sql, tuple(ready.args(params)))
                got = ready.row(tuple(raw.one()))
                assert got == expected, f"prepared result processing differs from SQLAlchemy's: {REVISIT}"
                assert got["started_at"] == NOW and got["started_at"].tzinfo is UTC
                assert got["provider_state"] is None and got["progress"] == 100
                assert got["request"] == task_row()["request"]
        await conn.commit()


def test_public_sqlalchemy_api_db_py_uses() -> None:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
    from sqlalchemy.util import await_only

    assert callable(await_only), "sqlalchemy.util.await_only is gone: revisit store/db.py (_on_begin)"
    assert callable(create_async_engine)  # (`async_creator=`: tests/unit/test_contract_aiosqlite.py)
    assert hasattr(AsyncConnection, "get_raw_connection"), "revisit store/prepared.py (inline)"
    assert hasattr(Connection, "connection"), "revisit store/db.py (_on_begin)"
