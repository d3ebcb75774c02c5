"""The database handle: async engines, transactions and start-up migrations.

SQLite (default) runs in WAL mode. Every writing transaction starts with ``BEGIN IMMEDIATE`` so two
writers never deadlock on a lock upgrade, and in-process writers share one connection (SQLite has one
writer anyway; queueing in-process is cheaper than spinning on ``busy_timeout``). Reads use their own
pool and never block writes. Statements run inline on the event loop (`sqlite_inline`): they take
microseconds, less than handing them to a thread would. On PostgreSQL both sides use one pooled engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from mediagate.store import prepared, sqlite_inline

MIGRATIONS = Path(__file__).parent / "migrations"


#: every SQLite connection: WAL (readers and the writer never wait for each other), commits without
#: fsync (checkpoints still sync), foreign keys enforced
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
#: how long a statement keeps retrying while another process holds SQLite's write lock
SQLITE_BUSY_SECONDS = 30.0


def _sqlite_engine(url: str, *, writer: bool) -> AsyncEngine:
    path = make_url(url).database or ":memory:"

    async def connect() -> Any:
        return await sqlite_inline.connect(path, busy_seconds=SQLITE_BUSY_SECONDS, pragmas=SQLITE_PRAGMAS)

    engine = create_async_engine(
        url,
        async_creator=connect,
        pool_size=1 if writer else 4,
        max_overflow=0 if writer else 8,
    )

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite_inline.InlineConnection):
            await_only(driver.execute_now(begin))  # straight to sqlite3: no statement machinery for BEGIN
        else:
            conn.exec_driver_sql(begin)

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = _sqlite_engine(url, writer=True)
            self.read_engine = _sqlite_engine(url, writer=False)
            self._points: _SQLitePoints | None = _SQLitePoints(make_url(url).database or ":memory:", self.read_engine)
        else:
            self.write_engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.read_engine = self.write_engine
            self._points = None
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One writing transaction: committed on success, rolled back on any exception."""
        async with self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    async def fetch_one(self, statement: Select[Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row of a read-only `statement` (a prepared module-level `select`), without the ORM.

        For the hot read paths (`GET /api/v1/tasks/{id}`): on SQLite it is one `sqlite3` call on a
        dedicated connection, with SQLAlchemy's own type processing; on PostgreSQL a Core execute.
        """
        if self._points is not None and self._points.can_run(statement, params):
            return await self._points.fetch_one(statement, params)
        async with self.read_engine.connect() as conn:
            row = (await conn.execute(statement, params)).mappings().first()
            return dict(row) if row is not None else None

    async def migrate(self) -> None:
        """Apply every Alembic migration (idempotent; safe to run at each start-up)."""
        async with self.write_engine.connect() as conn:
            if not self.is_sqlite:
                # one migrator at a time when several processes start together
                await conn.exec_driver_sql("SELECT pg_advisory_lock(715517)")
            try:
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.exec_driver_sql("SELECT pg_advisory_unlock(715517)")
                    await conn.commit()

    async def close(self) -> None:
        if self._points is not None:
            self._points.close()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


class _SQLitePoints:
    """Prepared point reads on one inline SQLite connection (a single SELECT reads one WAL snapshot)."""

    def __init__(self, path: str, engine: AsyncEngine) -> None:
        self.path = path
        self.dialect = engine.dialect
        self._conn: sqlite_inline.InlineConnection | None = None

    def can_run(self, statement: Select[Any], params: dict[str, Any]) -> bool:
        return prepared.prepare(statement, self.dialect, params) is not None

    async def fetch_one(self, statement: Select[Any], params: dict[str, Any]) -> dict[str, Any] | None:
        ready = prepared.prepare(statement, self.dialect, params)
        assert ready is not None
        if self._conn is None:
            self._conn = await sqlite_inline.connect(
                self.path, busy_seconds=SQLITE_BUSY_SECONDS, pragmas=SQLITE_PRAGMAS
            )
        cursor = await self._conn.execute(ready.sql, ready.args(params))
        row = await cursor.fetchone()
        await cursor.close()
        return ready.row(row) if row is not None else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.stop()
            self._conn = None


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
