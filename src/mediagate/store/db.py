"""The database handle: async engines, transactions and start-up migrations.

SQLite (default) runs in WAL mode. Every writing transaction starts with ``BEGIN IMMEDIATE`` so two
writers never deadlock on a lock upgrade, and in-process writers share one connection (SQLite has one
writer anyway; queueing in-process is cheaper than spinning on ``busy_timeout``). Reads use their own
pool and never block writes. Statements run inline on the event loop (`sqlite_inline`): they take
microseconds, less than handing them to a thread would. On PostgreSQL both sides use one pooled engine.

`Database(url, fast=False)` (`MEDIAGATE_FAST_PATHS=false`) runs SQLite on the stock aiosqlite driver
instead: no inline driver, no prepared point reads (`fetch_one` goes through SQLAlchemy Core), BEGIN
through SQLAlchemy, and no group commit (it relies on statements that never suspend: `Database.write`);
`store.prepared` then runs every statement through Core too. What stays: WAL, `BEGIN IMMEDIATE` and one
writer connection. See docs/architecture.md, "Fast paths and their fences".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import orjson
from sqlalchemy import Select, event
from sqlalchemy.engine import Connection, Result, ScalarResult, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable
from sqlalchemy.util import await_only

from mediagate.store import prepared, sqlite_inline

MIGRATIONS = Path(__file__).parent / "migrations"


#: every SQLite connection: WAL (readers and the writer never wait for each other), commits without
#: fsync (checkpoints still sync), foreign keys enforced
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
#: how long a statement keeps retrying while another process holds SQLite's write lock
SQLITE_BUSY_SECONDS = 30.0


def _json_dumps(value: Any) -> str:
    """JSON columns through orjson (~10× the stdlib's speed; compact, UTF-8 rather than \\u escapes)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_loads(text: str | bytes) -> Any:
    """orjson, falling back to the stdlib for what only it accepts (`NaN`, `Infinity`: rows written
    before JSON columns went through orjson, by `json.dumps`, may hold them)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


#: what every engine is created with: JSON columns encoded and decoded by orjson
JSON_OPTIONS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def _sqlite_engine(url: str, *, writer: bool, fast: bool = True) -> AsyncEngine:
    """An engine on SQLite: on the inline driver (`sqlite_inline`) when `fast`, else on the stock
    aiosqlite driver (a thread per connection; SQLite's busy timeout waits in that thread)."""
    path = make_url(url).database or ":memory:"
    # the writer: one connection for ORM sessions, one that group commit holds for Core-only batches
    # (`_GroupCommit`); both only ever used one at a time, under the group's lock
    pool: dict[str, Any] = {"pool_size": 2 if writer else 4, "max_overflow": 0 if writer else 8}
    if fast:

        async def connect() -> Any:
            return await sqlite_inline.connect(path, busy_seconds=SQLITE_BUSY_SECONDS, pragmas=SQLITE_PRAGMAS)

        engine = create_async_engine(url, async_creator=connect, **pool, **JSON_OPTIONS)
    else:
        # isolation_level=None: sqlite3 issues no BEGIN of its own, ours below does (SQLAlchemy's recipe
        # for SQLite transactions and SAVEPOINTs)
        engine = create_async_engine(
            url, connect_args={"isolation_level": None, "timeout": SQLITE_BUSY_SECONDS}, **pool, **JSON_OPTIONS
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite_inline.InlineConnection):
            if driver.in_transaction:
                return  # a Core batch's own BEGIN IMMEDIATE (`_GroupCommit`): SQLAlchemy joins it
            await_only(driver.execute_now(begin))  # straight to sqlite3: no statement machinery for BEGIN
        else:
            conn.exec_driver_sql(begin)

    return engine


class Database:
    def __init__(self, url: str, *, fast: bool = True) -> None:
        self.url = url
        self.fast = fast
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = _sqlite_engine(url, writer=True, fast=fast)
            self.read_engine = _sqlite_engine(url, writer=False, fast=fast)
            self._points: _SQLitePoints | None = (
                _SQLitePoints(make_url(url).database or ":memory:", self.read_engine) if fast else None
            )
        else:
            # No `pool_pre_ping`: on asyncpg it is a BEGIN and a ROLLBACK (two round trips) before every
            # checkout — more than a `GET /api/v1/tasks/{id}` needs in all. A connection that died
            # (PostgreSQL restarted) fails its statement once, and SQLAlchemy then drops the whole pool.
            self.write_engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_recycle=1800, **JSON_OPTIONS
            )
            self.read_engine = self.write_engine
            self._points = None
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._groups: dict[asyncio.AbstractEventLoop, _GroupCommit] = {}

    @asynccontextmanager
    async def write(self, *, core: bool = False) -> AsyncIterator[AsyncSession]:
        """One writing transaction: committed on success, rolled back on any exception.

        On SQLite, writers that queue up behind each other share one transaction (group commit,
        `_GroupCommit`): each still commits or fails on its own, and returns only once its work is
        committed. `core=True` promises that the block only runs Core statements (prepared ones or
        `session.execute`/`scalar`/`scalars` of a Core statement), no ORM objects: a batch it opens runs
        without an ORM session (`CoreSession`: BEGIN, SAVEPOINT and COMMIT straight to SQLite), and its
        SAVEPOINT goes straight to SQLite in any batch (the hot paths: creating, submitting and ending
        tasks, storing uploads).

        With `fast=False` every writer has its own transaction, as on PostgreSQL: group commit relies on
        statements that never suspend (the inline driver). On aiosqlite a writer cancelled in the middle
        of a statement has SQLAlchemy invalidate the shared connection, which would fail the whole batch
        — and turn the cancellation into another error."""
        hooks: list[Callable[[], None]] = []
        if not self.is_sqlite or not self.fast:
            async with self._writer() as session:
                async with session.begin():
                    session.info[AFTER_COMMIT] = hooks
                    yield session
            _run_hooks(hooks)
            return
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            for old in [k for k in self._groups if k.is_closed()]:
                # (its connection is loop-agnostic: the inline driver never suspends on a loop's I/O)
                await self._groups.pop(old).release()
            group = self._groups[loop] = _GroupCommit(self._writer, self.write_engine)
        async with group.unit(core=core) as unit:
            # (a batch's writers share one session, one after the other: each sees its own list)
            unit.info[AFTER_COMMIT] = hooks
            try:
                # a `CoreSession` answers what Core-only code asks of an AsyncSession (and says so otherwise)
                yield cast(AsyncSession, unit)
            finally:
                unit.info.pop(AFTER_COMMIT, None)
        # `unit` returns once the COMMIT holding this writer's work is done
        _run_hooks(hooks)

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
        # autocommit: one statement, one round trip (no BEGIN before it, no ROLLBACK after)
        async with self.read_engine.connect() as conn:
            if not self.is_sqlite:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
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
        for group in list(self._groups.values()):
            await group.release()
        self._groups.clear()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


#: `session.info` key of the callbacks to run once the writing transaction committed (`after_commit`)
AFTER_COMMIT = "mediagate.after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], None]) -> None:
    """Run `hook` once the transaction of `session` (a `Database.write` block) has committed; never
    when it rolls back (on SQLite: when this writer's SAVEPOINT rolls back, even if its batch commits)."""
    hooks = session.info.get(AFTER_COMMIT)
    if hooks is None:
        raise RuntimeError("after_commit needs a session of Database.write()")
    hooks.append(hook)


def _run_hooks(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        hook()


class CoreSession:
    """The transaction a `Database.write(core=True)` block gets when it opens a batch on SQLite's inline
    driver: group commit's own writer connection, without an ORM session — no unit of work, no
    `SessionTransaction`, no pool checkout or reset per batch (`_GroupCommit`).

    It answers the part of `AsyncSession` that Core-only code uses (`execute`, `scalar`, `scalars`,
    `connection`, `bind`, `info`; `store.prepared` finds the inline driver in `info`), and anything else
    with an error naming what was asked for: the block promised no ORM objects."""

    __slots__ = ("_conn", "bind", "info")

    def __init__(self, conn: AsyncConnection, driver: sqlite_inline.InlineConnection) -> None:
        self._conn = conn
        self.bind = conn.engine
        self.info: dict[str, Any] = {prepared.INLINE_INFO: (driver, conn.dialect)}

    async def execute(self, statement: Executable, params: Any = None) -> Result[Any]:
        return await self._conn.execute(statement, params)

    async def scalar(self, statement: Executable, params: Any = None) -> Any:
        return await self._conn.scalar(statement, params)

    async def scalars(self, statement: Executable, params: Any = None) -> ScalarResult[Any]:
        return await self._conn.scalars(statement, params)

    async def connection(self) -> AsyncConnection:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        raise TypeError(
            f"{name!r}: a Database.write(core=True) block runs Core statements only and has no ORM session "
            "(use Database.write())"
        )


class _GroupCommit:
    """Group commit for SQLite's one writer.

    SQLite has a single writer, so in-process writers always queued for it. A commit writes every page
    the transaction touched to the WAL, and opening and committing a session costs more Python than the
    statements in it: most of a `POST /api/v1/generations` (see docs/benchmarks.md). So when writers are
    waiting, the next one continues the current transaction instead of starting its own, and the last of
    the batch commits for all of them:

    - each writer's work runs inside a SAVEPOINT: an exception rolls back that writer's work only, and
      only that writer sees it;
    - a writer leaves `write()` only after the COMMIT that contains its work (if that commit fails,
      every writer of the batch gets the error: nothing of theirs was kept);
    - a batch ends when no writer is waiting or after `MAX_UNITS` writers, so one writer alone commits
      at once, exactly as before, and a batch waits for nobody.

    A batch opened by a Core-only writer (`core=True`: the hot paths) runs on a writer connection the
    group keeps checked out between batches, with `BEGIN IMMEDIATE`, `SAVEPOINT` and `COMMIT` sent
    straight to `sqlite3` (`CoreSession`); a batch opened by any other writer has an ORM session on the
    pool's other writer connection, and Core-only writers that join it use that session. An ORM writer
    arriving while a Core batch is open commits that batch first (its writers are done and waiting for
    the commit) and opens its own. The two connections are never in a transaction at the same time.
    """

    MAX_UNITS = 32

    def __init__(self, maker: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> None:
        self._maker = maker
        self._engine = engine
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._session: AsyncSession | CoreSession | None = None
        self._committed: asyncio.Future[None] | None = None
        self._units = 0
        #: the Core batches' connection and its inline driver, kept between batches
        self._held: tuple[AsyncConnection, sqlite_inline.InlineConnection] | None = None

    @asynccontextmanager
    async def unit(self, *, core: bool = False) -> AsyncIterator[AsyncSession | CoreSession]:
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:  # cancelled while waiting: the open batch may have been left for us
            self._waiting -= 1
            if self._session is not None and not self._waiting and not self._lock.locked():
                asyncio.get_running_loop().create_task(self._commit_left_batch())
            raise
        self._waiting -= 1
        try:
            if not core and isinstance(self._session, CoreSession):
                await self._commit()  # an ORM writer: the open Core batch's writers are done, commit them
            if self._session is None:
                self._session, self._units = await self._begin(core), 0
                self._committed = asyncio.get_running_loop().create_future()
            session, committed = self._session, self._committed
            assert committed is not None
            try:
                if core:
                    async with _raw_savepoint(session):
                        yield session
                else:
                    assert isinstance(session, AsyncSession)
                    async with session.begin_nested():
                        # emit the SAVEPOINT now: SQLAlchemy would only when the session next asks for
                        # its connection, and the prepared statements (`store/prepared.py`) never ask
                        await session.connection()
                        yield session
            except BaseException:
                await self._end_unit()
                raise
            await self._end_unit()
        finally:
            self._lock.release()
        await asyncio.shield(committed)

    async def _begin(self, core: bool) -> AsyncSession | CoreSession:
        """A new batch's transaction, the write lock taken (BEGIN IMMEDIATE) before any work."""
        if core:
            if self._held is None:
                conn = await self._engine.connect()
                driver = (await conn.get_raw_connection()).driver_connection
                assert isinstance(driver, sqlite_inline.InlineConnection)  # group commit runs on it only
                self._held = (conn, driver)
            conn, driver = self._held
            await driver.execute_now("BEGIN IMMEDIATE")
            return CoreSession(conn, driver)
        session = self._maker()
        try:
            await session.begin()
            await session.connection()  # BEGIN IMMEDIATE now
        except BaseException:
            await session.close()
            raise
        return session

    async def _commit_left_batch(self) -> None:
        async with self._lock:
            if self._session is not None:
                await self._end_unit(force=True)

    async def _end_unit(self, force: bool = False) -> None:
        """After a writer's work: continue the batch when another writer waits, else commit it."""
        self._units += 1
        if not force and self._units < self.MAX_UNITS:
            if not self._waiting:
                # statements run inline (they never suspend), so a writer that is ready to run only
                # reaches the lock once we let the loop run: one turn of it, and any that did join
                await asyncio.sleep(0)
            if self._waiting:
                return
        await self._commit()

    async def _commit(self) -> None:
        session, committed = self._session, self._committed
        self._session = self._committed = None
        assert session is not None and committed is not None
        try:
            if isinstance(session, CoreSession):
                await self._commit_core(session)
            else:
                await session.commit()
        except BaseException as exc:
            committed.set_exception(exc)
            committed.exception()  # (retrieved: the writers that await it get it)
            raise
        else:
            committed.set_result(None)
        finally:
            if not isinstance(session, CoreSession):
                await session.close()

    async def _commit_core(self, session: CoreSession) -> None:
        conn, driver = session._conn, session.info[prepared.INLINE_INFO][0]
        try:
            if conn.in_transaction():  # SQLAlchemy ran a statement and joined the transaction
                await conn.commit()
            else:
                await driver.commit()
        except BaseException:
            # nothing of the batch is kept; the connection goes back to the pool, clean or invalidated
            await self.release()
            raise

    async def release(self) -> None:
        """Give the Core batches' connection back (rolled back if a transaction is left open)."""
        held, self._held = self._held, None
        if held is None:
            return
        conn, driver = held
        try:
            if conn.in_transaction():
                await conn.rollback()
            elif driver.in_transaction:
                await driver.rollback()
            await conn.close()
        except BaseException:
            await conn.invalidate()
            raise


@asynccontextmanager
async def _raw_savepoint(session: AsyncSession | CoreSession) -> AsyncIterator[None]:
    """A SAVEPOINT issued on the inline driver itself (for Core-only writers, see `Database.write`)."""
    raw, _ = await prepared.inline(cast(AsyncSession, session))
    if raw is None:  # the stock driver (`fast=False`): SQLAlchemy's own SAVEPOINT
        assert isinstance(session, AsyncSession)
        async with session.begin_nested():
            await session.connection()
            yield
        return
    await raw.execute_now("SAVEPOINT mediagate_writer")
    try:
        yield
    except BaseException:
        await raw.execute_now("ROLLBACK TO mediagate_writer")
        await raw.execute_now("RELEASE mediagate_writer")
        raise
    await raw.execute_now("RELEASE mediagate_writer")


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
