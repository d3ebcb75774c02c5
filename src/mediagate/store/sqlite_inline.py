"""An aiosqlite-compatible SQLite driver that runs each statement inline, on the event loop's thread.

aiosqlite gives every connection its own thread and hands each call (cursor, execute, fetch, close,
commit …) to it through a queue: a thread round trip — and a fight for the GIL — per call, several per
statement. Our statements are primary-key lookups and single-row writes that SQLite answers in a few
microseconds, far less than one round trip; measured on the benchmark machine, a `GET /api/v1/tasks/{id}`
spent ~2 ms in about ten round trips for ~50 µs of SQLite work (see docs/benchmarks.md).

So this driver calls `sqlite3` directly. What makes that safe on the event loop:

- WAL mode: readers never wait for the writer, and the writer never waits for readers;
- the busy timeout is 0, so SQLite never sleeps inside a call: when another *process* holds the write
  lock (`mediagate admin …` against a running server), `SQLITE_BUSY` comes back at once and we retry
  with `asyncio.sleep` (1 ms growing to 50 ms) until `busy_seconds` have passed — the loop keeps
  serving meanwhile;
- `synchronous=NORMAL` in WAL mode: a commit does not fsync (only checkpoints do).

It is plugged into SQLAlchemy's `sqlite+aiosqlite` dialect through `create_async_engine(async_creator=…)`,
which only needs the subset of aiosqlite's interface implemented here — including aiosqlite's private
`_conn`, `_tx` and `_connection`, which the dialect reaches into, and `stop()`. Which names the dialect
uses (read from its source), that each means the same on a real aiosqlite connection, and that a
workload stores and reads exactly what the stock driver does, is asserted by
`tests/unit/test_contract_aiosqlite.py` (the upper bounds on SQLAlchemy and aiosqlite in pyproject.toml
name it). `MEDIAGATE_FAST_PATHS=false` uses the stock aiosqlite driver instead (`Database(fast=False)`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

#: SQLite's "busy"/"locked" result codes (another connection holds the lock we need)
_BUSY_CODES = frozenset({5, 6, 261, 517})  # SQLITE_BUSY, SQLITE_LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code in _BUSY_CODES
    text = str(error).lower()
    return "database is locked" in text or "database table is locked" in text


class InlineCursor:
    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    # the subset of aiosqlite.Cursor that SQLAlchemy's adapter uses
    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> InlineCursor:
        if parameters is None:
            await self._connection._retry(self._cursor.execute, sql)
        else:
            await self._connection._retry(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)
        await self._connection._retry(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class _CursorContext:
    """What `connection.cursor()` returns: awaitable, and an async context manager (like aiosqlite's)."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor: InlineCursor | None = None

    def __await__(self) -> Any:
        return self.__aenter__().__await__()

    async def __aenter__(self) -> InlineCursor:
        self._cursor = InlineCursor(self._connection)
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class _ImmediateQueue:
    """aiosqlite's `_tx` queue, as SQLAlchemy's isolation-level setter uses it: run the call now."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    def __init__(self, conn: sqlite3.Connection, busy_seconds: float) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # aiosqlite's name; SQLAlchemy checks it
        self._tx = _ImmediateQueue()
        self.busy_seconds = busy_seconds

    async def _retry(self, call: Callable[..., Any], *args: Any) -> Any:
        """`call(*args)`; on SQLITE_BUSY, sleep (without blocking the loop) and try again."""
        deadline: float | None = None
        delay = 0.001
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.busy_seconds
                elif now >= deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(0.05, delay * 2)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (aiosqlite's name, sqlite3's meaning)."""
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # type: ignore[assignment]  # typeshed narrows it to the literal levels; SQLAlchemy passes what it read back

    def cursor(self) -> _CursorContext:
        return _CursorContext(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> InlineCursor:
        cursor = InlineCursor(self)
        return await cursor.execute(sql, parameters)

    async def execute_now(self, sql: str) -> None:
        """Run one statement without a cursor object (BEGIN)."""
        await self._retry(self._conn.execute, sql)

    async def commit(self) -> None:
        await self._retry(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        """aiosqlite's forced close (SQLAlchemy's terminate)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._conn.create_function(name, num_params, func, **kw)


async def connect(path: str, *, busy_seconds: float = 30.0, pragmas: Sequence[str] = ()) -> InlineConnection:
    """Open `path` for inline use: autocommit mode (the caller issues BEGIN), busy timeout 0, `pragmas` run."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    connection = InlineConnection(conn, busy_seconds)
    for pragma in pragmas:
        await connection._retry(conn.execute, pragma)
    return connection
