"""Which database errors are an outage (retry later) rather than a bug.

A job that meets one of these must not fail its task: the vendor may be running the job, and the row
is still there to resume from once the database answers again. `StoreUnavailable` is what the job
raises to its runner, which runs the job again later (embedded: after a backoff; procrastinate: a retry).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc


class StoreUnavailable(Exception):
    """The database did not answer (pool exhausted, connection lost, locked); run the job again later."""


#: a connection pool that timed out, a lost or refused connection, SQLite busy/locked
TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.TimeoutError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sqlite3.OperationalError,
    ConnectionError,
)
#: PostgreSQL SQLSTATE prefixes of the same kind (asyncpg's errors reach us as DBAPIError with the code): connection exception, transaction rollback
#: (serialization failure, deadlock), insufficient resources, operator intervention (shutdown, cannot
#: connect now), lock not available
TRANSIENT_SQLSTATES = ("08", "40", "53", "57P", "55P03")


def is_transient(error: BaseException) -> bool:
    if isinstance(error, TRANSIENT_STORE_ERRORS):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    code = getattr(error.orig, "pgcode", None) or getattr(error.orig, "sqlstate", None)
    return error.connection_invalidated or (isinstance(code, str) and code.startswith(TRANSIENT_SQLSTATES))
