"""Alembic environment. Start-up passes a live connection; the `alembic` CLI uses MEDIAGATE_* settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from mediagate.store.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online_from_settings() -> None:
    from mediagate.config import Settings
    from mediagate.store.db import Database

    db = Database(Settings().resolved_database_url)

    async def go() -> None:
        async with db.write_engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
        await db.close()

    asyncio.run(go())


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_online_from_settings()
