"""Group commit on SQLite (`Database.write`): writers that queue up share one transaction, yet each one
commits or fails on its own and returns only once its work is durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mediagate.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL UNIQUE)"))
    yield database
    await database.close()


async def values(db: Database) -> set[int]:
    async with db.read() as session:
        return set((await session.execute(text("SELECT v FROM t"))).scalars().all())


async def test_a_failing_writer_loses_only_its_own_work(db: Database) -> None:
    async def writer(i: int) -> bool:
        try:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": i})
                await asyncio.sleep(0)
                if i % 5 == 0:
                    raise ValueError(i)
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": -i})
        except ValueError:
            return False
        return True

    results = await asyncio.gather(*(writer(i) for i in range(1, 201)))
    ok = {i for i, good in zip(range(1, 201), results, strict=True) if good}
    assert len(ok) == 160
    assert await values(db) == ok | {-i for i in ok}


async def test_a_database_error_fails_its_writer_only(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (v) VALUES (1)"))

    async def duplicate() -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (2)"))
            await session.execute(text("INSERT INTO t (v) VALUES (1)"))  # UNIQUE violation

    async def fine(v: int) -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": v})

    results = await asyncio.gather(fine(10), duplicate(), fine(11), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception) and "UNIQUE" in str(results[1])
    assert await values(db) == {1, 10, 11}


async def test_queued_writers_share_commits(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    commits = 0
    original = AsyncSession.commit

    async def counting(self: AsyncSession) -> None:
        nonlocal commits
        commits += 1
        await original(self)

    monkeypatch.setattr(AsyncSession, "commit", counting)

    async def writer(i: int) -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": i})

    await asyncio.gather(*(writer(i) for i in range(100)))
    assert await values(db) == set(range(100))
    assert commits <= 100 // 32 + 2  # batches of at most 32, not one commit each

    commits = 0
    for i in range(100, 105):  # one at a time: each commits at once, alone
        await writer(i)
    assert commits == 5


async def test_a_writer_returns_only_after_its_commit(db: Database) -> None:
    seen: list[set[int]] = []

    async def writer(i: int) -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": i})
        seen.append(await values(db))  # another connection: sees only committed rows

    await asyncio.gather(*(writer(i) for i in range(20)))
    for i, snapshot in enumerate(seen):
        assert len(snapshot) >= i + 1


async def test_a_cancelled_waiter_does_not_leave_the_batch_open(db: Database) -> None:
    release = asyncio.Event()

    async def slow() -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (1)"))
            await release.wait()

    async def waiter() -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (2)"))

    first = asyncio.create_task(slow())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.wait_for(first, 5)
    await asyncio.gather(second, return_exceptions=True)
    async with asyncio.timeout(5):
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (3)"))
    assert {1, 3} <= await values(db)


@pytest.mark.parametrize("core", [False, True])
async def test_prepared_statements_are_rolled_back_with_their_writer(db: Database, core: bool) -> None:
    """The hot paths write through `store/prepared.py`, straight to `sqlite3`, past the session: a
    failing writer's rows must still go with its SAVEPOINT."""
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    from mediagate.store import prepared

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", Integer))
    statement = insert(table)

    async def writer(v: int, fail: bool) -> None:
        async with db.write(core=core) as session:
            await prepared.execute(session, statement, {"v": v})
            await asyncio.sleep(0)
            if fail:
                raise ValueError(v)

    results = await asyncio.gather(*(writer(v, v % 2 == 1) for v in range(1, 41)), return_exceptions=True)
    assert sum(isinstance(r, ValueError) for r in results) == 20
    assert await values(db) == set(range(2, 41, 2))


async def test_core_batches_run_without_an_orm_session(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch opened by a Core-only writer has no AsyncSession: statements SQLAlchemy runs itself (an IN
    list the prepared path leaves to it) join the same transaction; ORM calls are refused by name."""
    from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
    from sqlalchemy.ext.asyncio import AsyncSession

    from mediagate.store import prepared

    opened = 0
    original = AsyncSession.__init__

    def counting(self: AsyncSession, *args: object, **kwargs: object) -> None:
        nonlocal opened
        opened += 1
        original(self, *args, **kwargs)  # type: ignore[arg-type]  # passed through as received

    monkeypatch.setattr(AsyncSession, "__init__", counting)
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", Integer))

    async def writer(v: int) -> int:
        async with db.write(core=True) as session:
            await prepared.execute(session, insert(table), {"v": v})
            # expanding IN: not preparable, so SQLAlchemy runs it on the batch's connection
            seen = await session.scalar(select(func.count()).select_from(table).where(table.c.v.in_([v, -v])))
            return int(seen or 0)

    assert await asyncio.gather(*(writer(v) for v in range(1, 51))) == [1] * 50
    assert await writer(51) == 1  # alone
    assert opened == 0
    assert await values(db) == set(range(1, 52))
    async with db.write(core=True) as session:
        with pytest.raises(TypeError, match=r"'add'.*core=True"):
            session.add(object())


async def test_core_and_orm_writers_interleave(db: Database) -> None:
    """An ORM writer arriving while a Core batch is open commits it first; Core writers join an ORM
    batch. Each writer still keeps or loses only its own work."""
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    from mediagate.store import prepared

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", Integer))

    async def writer(v: int) -> None:
        core = v % 3 != 0
        async with db.write(core=core) as session:
            if core:
                await prepared.execute(session, insert(table), {"v": v})
            else:
                await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": v})
            await asyncio.sleep(0)
            if v % 7 == 0:
                raise ValueError(v)

    results = await asyncio.gather(*(writer(v) for v in range(1, 121)), return_exceptions=True)
    failed = {v for v, r in zip(range(1, 121), results, strict=True) if isinstance(r, ValueError)}
    assert failed == set(range(7, 121, 7))
    assert all(r is None for v, r in zip(range(1, 121), results, strict=True) if v not in failed)
    assert await values(db) == set(range(1, 121)) - failed


async def test_a_core_batch_whose_commit_fails_loses_all_of_it_and_the_next_one_works(tmp_path: Path) -> None:
    """A deferred foreign key fails at COMMIT: every writer of that batch gets the error, nothing of it
    is kept, and the connection is clean for the next batch."""
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, insert

    from mediagate.store import prepared

    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fk.db'}")
    try:
        async with database.write() as session:
            await session.execute(text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
            await session.execute(
                text(
                    "CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"
                )
            )
            await session.execute(text("INSERT INTO p (id) VALUES (1)"))
        meta = MetaData()
        child = Table("c", meta, Column("id", Integer, primary_key=True), Column("p", Integer, ForeignKey("p.id")))

        async def writer(parent: int) -> None:
            async with database.write(core=True) as session:
                await prepared.execute(session, insert(child), {"p": parent})

        results = await asyncio.gather(writer(1), writer(99), writer(1), return_exceptions=True)
        assert all(isinstance(r, Exception) and "FOREIGN KEY" in str(r) for r in results), results
        await writer(1)
        await writer(1)
        async with database.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM c"))).scalar() == 2
    finally:
        await database.close()
