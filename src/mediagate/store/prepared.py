"""Prepared statements for the hot paths: a module-level Core statement, compiled once, run on the
session's own connection (so inside its transaction).

On SQLite (the inline driver, `sqlite_inline`) the compiled SQL goes straight to `sqlite3`, with
SQLAlchemy's own bind and result processing for each column's type: one C call instead of SQLAlchemy's
per-statement execution machinery (~100 µs of Python per statement, more than SQLite takes to run it).
On PostgreSQL, and on SQLite's stock aiosqlite driver (`MEDIAGATE_FAST_PATHS=false`), the statement
runs through SQLAlchemy Core as usual.

What this reads of SQLAlchemy's compiled statement beyond its documented API — `positiontup`, `binds`
(each `BindParameter`'s `expanding`, `literal_execute`, `callable`, `required`, `value`, `type`),
`insert_prefetch` / `update_prefetch` — is asserted by `tests/unit/test_contract_sqlalchemy.py`, which
also checks that the SQL and parameters sent, and the values read back, are exactly SQLAlchemy's own
for sample statements (and the upper bound on SQLAlchemy in pyproject.toml names it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable
from sqlalchemy.sql.selectable import Select

from mediagate.store.sqlite_inline import InlineConnection
from mediagate.store.types import UTCDateTime, sqlite_utc_datetime, sqlite_utc_text


@dataclass(frozen=True)
class Prepared:
    sql: str
    names: tuple[str, ...]
    binds: tuple[Any, ...]
    keys: tuple[str, ...]
    results: tuple[Any, ...]
    constants: dict[str, Any]  #: values of the literals in the statement

    def args(self, params: dict[str, Any]) -> list[Any]:
        if self.constants:
            params = {**self.constants, **params}
        # (every bind processor sees None too, as in SQLAlchemy: JSON turns it into 'null')
        return [params[n] if proc is None else proc(params[n]) for n, proc in zip(self.names, self.binds, strict=True)]

    def row(self, values: tuple[Any, ...] | Any) -> dict[str, Any]:
        return {
            k: (v if proc is None or v is None else proc(v))
            for k, v, proc in zip(self.keys, values, self.results, strict=True)
        }


#: (statement id, dialect, parameter names) → (the statement, kept alive so that its id is never reused;
#: its prepared form, or None when it must go through SQLAlchemy)
_cache: dict[tuple[int, str, frozenset[str]], tuple[Executable, Prepared | None]] = {}


def prepare(statement: Executable, dialect: Dialect, params: dict[str, Any]) -> Prepared | None:
    """The statement compiled for `dialect` (cached), or None when it cannot run as plain SQL."""
    key = (id(statement), dialect.name, frozenset(params))
    cached = _cache.get(key)
    if cached is None:
        cached = (statement, _compile(statement, dialect, params))
        _cache[key] = cached
    return cached[1]


def _compile(statement: Executable, dialect: Dialect, params: dict[str, Any]) -> Prepared | None:
    compiled = statement.compile(dialect=dialect, column_keys=list(params))  # type: ignore[attr-defined]  # Executable is typed without compile(); every statement passed here is a ClauseElement
    names = tuple(compiled.positiontup or ())
    constants: dict[str, Any] = {}
    # columns whose Python-side default (or onupdate) SQLAlchemy fills in at execution
    computed = {c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute:
            return None  # an IN list, or a value rendered into the SQL at execution: not for us
        if name in params:
            continue
        if bind.callable is not None or bind.required or name in computed:
            return None  # a value SQLAlchemy computes (or complains is missing): not for us
        constants[name] = bind.value  # a literal in the statement (`status == "pending"`)
    binds = tuple(_bind_processor(compiled.binds[n].type, dialect) for n in names)
    keys: tuple[str, ...] = ()
    results: tuple[Any, ...] = ()
    if isinstance(statement, Select):
        columns = list(statement.selected_columns)
        keys = tuple(str(c.key) for c in columns)
        results = tuple(_result_processor(c.type, dialect) for c in columns)
    return Prepared(compiled.string, names, binds, keys, results, constants)


def _bind_processor(type_: Any, dialect: Dialect) -> Any:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_text  # the same text as SQLAlchemy's processors, in one C call
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: Any, dialect: Dialect) -> Any:
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):
        return sqlite_utc_datetime  # the same value as SQLAlchemy's processors, in one C call
    return type_.dialect_impl(dialect).result_processor(dialect, None)


#: `session.info` key of the session's inline driver and dialect (`inline`; set up front by `store.db.CoreSession`)
INLINE_INFO = "mediagate.inline"


async def inline(session: AsyncSession) -> tuple[InlineConnection | None, Dialect]:
    """The session's inline SQLite connection (None on other drivers) and its dialect, looked up once
    per session (asking the session for its connection costs more than the statement itself)."""
    found: tuple[InlineConnection | None, Dialect] | None = session.info.get(INLINE_INFO)
    if found is None:
        conn = await session.connection()
        driver: Any = None
        if conn.dialect.name == "sqlite":
            driver = (await conn.get_raw_connection()).driver_connection
        found = (driver if isinstance(driver, InlineConnection) else None, conn.dialect)
        session.info[INLINE_INFO] = found
    return found


async def execute(session: AsyncSession, statement: Executable, params: dict[str, Any]) -> int:
    """Run an INSERT/UPDATE/DELETE in the session's transaction; returns the row count."""
    driver, dialect = await inline(session)
    if driver is not None:
        prepared = prepare(statement, dialect, params)
        if prepared is not None:
            cursor = await driver.execute(prepared.sql, prepared.args(params))
            count = cursor.rowcount
            await cursor.close()
            return count
    result = await (await session.connection()).execute(statement, params)
    return int(getattr(result, "rowcount", 0) or 0)


async def first(session: AsyncSession, statement: Select[Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of a SELECT, run in the session's transaction, as a dict."""
    driver, dialect = await inline(session)
    if driver is not None:
        prepared = prepare(statement, dialect, params)
        if prepared is not None:
            cursor = await driver.execute(prepared.sql, prepared.args(params))
            values = await cursor.fetchone()
            await cursor.close()
            return prepared.row(values) if values is not None else None
    row = (await (await session.connection()).execute(statement, params)).mappings().first()
    return dict(row) if row is not None else None
