"""Contract of the inline SQLite driver (`src/mediagate/store/sqlite_inline.py`) with aiosqlite and
SQLAlchemy's `sqlite+aiosqlite` dialect.

The inline driver is plugged into SQLAlchemy's aiosqlite dialect (`create_async_engine(async_creator=…)`)
and so has to look like an `aiosqlite.Connection` to it — including aiosqlite's private attributes that
the dialect reaches into: `_conn` (the `sqlite3` connection), `_tx` (the queue the dialect's
isolation-level setter puts a call on), `_connection` (truthy while open) and `stop()` (terminate).
This checks (1) which names the dialect uses, read from its source, are the ones the driver
implements; (2) that each exists, and means the same, on a real aiosqlite connection; (3) that a
workload through the fast driver (`Database(url)`) writes exactly the rows, and reads exactly the
values, that the stock driver (`Database(url, fast=False)`, what `MEDIAGATE_FAST_PATHS=false` gives)
does.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy.connectors.asyncio as sa_asyncio
import sqlalchemy.dialects.sqlite.aiosqlite as sa_aiosqlite
from sqlalchemy import select, text

from mediagate.store import prepared, sqlite_inline
from mediagate.store.db import Database
from mediagate.store.sqlite_inline import InlineConnection, InlineCursor
from mediagate.store.tables import Account, LedgerEntry, Task
from tests.unit.test_contract_sqlalchemy import MARK, RESERVE, TASK_BY_ID, account_row, task_row

REVISIT = "revisit src/mediagate/store/sqlite_inline.py (InlineConnection / InlineCursor) for this release"

#: what SQLAlchemy's aiosqlite adapter calls on the driver's connection and cursor (aiosqlite's API,
#: private names included) — all of it implemented by the inline driver
CONNECTION_NAMES = {
    "_conn",
    "_connection",
    "_tx",
    "close",
    "commit",
    "rollback",
    "create_function",
    "cursor",
    "isolation_level",
    "stop",
}
CURSOR_NAMES = {
    "__aiter__",
    "arraysize",
    "close",
    "description",
    "execute",
    "executemany",
    "fetchall",
    "fetchmany",
    "fetchone",
    "lastrowid",
    "nextset",
    "rowcount",
    "setinputsizes",
}
#: cursor names SQLAlchemy may call that aiosqlite has no cursor for either (server-side cursors,
#: `nextset`): mediagate uses neither, so the inline driver does not imitate them
NOT_IN_AIOSQLITE = {"__aiter__", "nextset", "setinputsizes"}


def names_used(module: Any, pattern: str) -> set[str]:
    return set(re.findall(pattern, Path(module.__file__).read_text()))


def test_sqlalchemy_uses_only_what_the_inline_driver_implements() -> None:
    used_connection = names_used(sa_aiosqlite, r"self\._connection\.(\w+)") | names_used(
        sa_asyncio, r"self\._connection\.(\w+)"
    )
    assert used_connection <= CONNECTION_NAMES, (
        f"SQLAlchemy's aiosqlite adapter now uses {sorted(used_connection - CONNECTION_NAMES)} of the driver: {REVISIT}"
    )
    used_cursor = names_used(sa_asyncio, r"self\._cursor\.(\w+)") | names_used(sa_aiosqlite, r"self\._cursor\.(\w+)")
    assert used_cursor <= CURSOR_NAMES, (
        f"SQLAlchemy's async cursor adapter now uses {sorted(used_cursor - CURSOR_NAMES)}: {REVISIT}"
    )
    for name in CONNECTION_NAMES:
        assert hasattr(InlineConnection, name) or name in ("_conn", "_connection", "_tx"), name
    for name in CURSOR_NAMES - NOT_IN_AIOSQLITE:
        assert hasattr(InlineCursor, name), f"InlineCursor lacks {name}: {REVISIT}"
    # the dialect's own private use of aiosqlite: the isolation-level setter's call through `_tx`
    setter = Path(sa_aiosqlite.__file__).read_text()
    assert "self._connection._tx.put_nowait((future, function))" in setter, (
        f"SQLAlchemy's aiosqlite isolation-level setter changed: {REVISIT} (_ImmediateQueue)"
    )
    assert "partial(set_iso, self._connection._conn, value)" in setter, REVISIT


async def test_the_aiosqlite_names_imitated_exist_on_a_real_connection(tmp_path: Path) -> None:
    real = await aiosqlite.connect(tmp_path / "real.db")
    inline = await sqlite_inline.connect(str(tmp_path / "inline.db"))
    try:
        for conn in (real, inline):
            label = type(conn).__name__
            assert isinstance(conn._conn, sqlite3.Connection), f"{label}._conn: {REVISIT}"
            assert conn._connection, f"{label}._connection is falsy while open: {REVISIT}"
            assert callable(conn.stop), f"{label}.stop: {REVISIT}"
            # what SQLAlchemy's isolation-level setter does: a call on `_tx`, run against `_conn`
            future = asyncio.get_running_loop().create_future()

            def set_level(conn: Any = conn) -> None:
                conn._conn.isolation_level = None

            conn._tx.put_nowait((future, set_level))
            await asyncio.wait_for(future, 5)
            assert conn._conn.isolation_level is None, f"{label}._tx did not run the call: {REVISIT}"
        real_cursor = await real.cursor()
        for name in CURSOR_NAMES - NOT_IN_AIOSQLITE:
            assert hasattr(real_cursor, name), f"aiosqlite.Cursor lost {name}: {REVISIT}"
        await real_cursor.close()
    finally:
        await real.close()
        await inline.close()
    assert not real._connection and not inline._connection, f"_connection stays truthy after close: {REVISIT}"


async def test_sqlalchemy_drives_the_inline_driver(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    try:
        async with db.write_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection), REVISIT
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")  # the `_tx` setter
            assert (await auto.execute(text("SELECT 41 + 1"))).scalar() == 42
    finally:
        await db.close()
    stock = Database(f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}", fast=False)
    try:
        async with stock.write_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, aiosqlite.Connection)
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await stock.close()


async def workload(db: Database) -> list[Any]:
    """The kinds of transactions mediagate runs, through `db`; returns everything it read."""
    await db.migrate()
    read: list[Any] = []
    async with db.write() as session:  # ORM write
        session.add(Account(**account_row()))
    async with db.write(core=True) as session:  # Core-only writer: prepared statements, raw SAVEPOINT
        await prepared.execute(session, Task.__table__.insert(), task_row())
        read.append(await prepared.execute(session, RESERVE, {"account": "acc-1", "amount": 25}))
        await prepared.execute(
            session,
            LedgerEntry.__table__.insert(),
            {
                "account_id": "acc-1",
                "task_id": "task-1",
                "kind": "reserve",
                "amount": -25,
                "credits": 25,
                "model": "m",
                "note": None,
                "created_at": task_row()["created_at"],
            },
        )

    async def failing_writer() -> None:
        async with db.write(core=True) as session:
            await prepared.execute(session, RESERVE, {"account": "acc-1", "amount": 1})
            raise ValueError("rolled back alone")

    async def marking_writer() -> int:
        async with db.write(core=True) as session:
            params = {
                "task_id": "task-1",
                "new_status": "processing",
                "state": {"k": [1, 2]},
                "now": task_row()["updated_at"],
            }
            return await prepared.execute(session, MARK, params)

    # (fast: one group-commit batch; stock: one transaction each)
    results = await asyncio.gather(failing_writer(), marking_writer(), return_exceptions=True)
    read.append([type(r).__name__ if isinstance(r, BaseException) else r for r in results])
    read.append(await db.fetch_one(TASK_BY_ID, {"task_id": "task-1"}))
    async with db.read() as session:
        read.append(await prepared.first(session, TASK_BY_ID, {"task_id": "task-1"}))
        account = (await session.execute(select(Account))).scalar_one()
        read.append((account.balance, account.reserved, account.limits_override, account.created_at))
    return read


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as stored (the text SQLite holds)."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables if t != "alembic_version"}  # noqa: S608


async def test_the_fast_driver_writes_and_reads_what_the_stock_driver_does(tmp_path: Path) -> None:
    outcomes = {}
    for fast in (True, False):
        path = tmp_path / f"{'fast' if fast else 'stock'}.db"
        db = Database(f"sqlite+aiosqlite:///{path}", fast=fast)
        try:
            outcomes[fast] = (await workload(db), dump(path))
        finally:
            await db.close()
    (fast_read, fast_rows), (stock_read, stock_rows) = outcomes[True], outcomes[False]
    assert fast_read == stock_read, f"the fast driver read other values than aiosqlite: {REVISIT}"
    assert fast_rows == stock_rows, f"the fast driver stored other rows than aiosqlite: {REVISIT}"
    assert fast_read[1] == ["ValueError", 1]  # the failing writer rolled back alone, the other one committed
    assert stock_rows["accounts"][0][3:5] == (975, 25)  # balance, reserved: one reservation kept


@pytest.mark.parametrize("fast", [True, False])
async def test_another_process_holding_the_write_lock_is_waited_out(tmp_path: Path, fast: bool) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", fast=fast)
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")

        async def write() -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))

        await asyncio.wait_for(write(), 10)  # the loop keeps running meanwhile (it calls the COMMIT)
        other.close()
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        await db.close()


@pytest.mark.parametrize("fast", [True, False])
async def test_a_writer_cancelled_mid_transaction_is_cancelled_and_alone(tmp_path: Path, fast: bool) -> None:
    """Cancelling a writer anywhere in its transaction raises CancelledError in it (never another error:
    background loops stop on it) and touches no other writer's work. On aiosqlite a statement really suspends, so
    the cancellation lands inside SQLAlchemy's execution (why the stock mode has no group commit)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}", fast=fast)
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"))
            await session.execute(text("INSERT INTO t VALUES (1, 0)"))
        committed = 0

        async def writer(hold: bool) -> None:
            nonlocal committed
            async with db.write() as session:
                await session.execute(text("INSERT INTO t (v) VALUES (1)"))
                await session.execute(text("UPDATE t SET v = v + 1 WHERE id = 1"))
                if hold:
                    await asyncio.sleep(10)
            committed += 1

        rng = __import__("random").Random(7)
        for _ in range(30):
            victim = asyncio.create_task(writer(hold=rng.random() < 0.3))
            bystander = asyncio.create_task(writer(hold=False))
            await asyncio.sleep(rng.random() * 0.003)
            victim.cancel()
            outcome = await asyncio.gather(victim, bystander, return_exceptions=True)
            assert outcome[0] is None or isinstance(outcome[0], asyncio.CancelledError), (
                f"cancelling a writer raised {outcome[0]!r} instead of CancelledError: {REVISIT}"
            )
            assert outcome[1] is None, f"a cancelled writer failed another one: {outcome[1]!r}"
        async with db.read() as session:
            counter = (await session.execute(text("SELECT v FROM t WHERE id = 1"))).scalar()
            rows = (await session.execute(text("SELECT count(*) FROM t"))).scalar()
        # each writer's two statements are kept together or not at all; every writer that returned kept
        # its work (a writer cancelled at its COMMIT may have kept it too: like any database client)
        assert counter == rows - 1 and committed <= counter
    finally:
        await db.close()
