"""Bringing a database to the latest schema with Alembic, from code (``discounts migrate``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from discounts.db import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
#: An arbitrary constant naming the advisory lock that serialises migrations on PostgreSQL.
MIGRATION_LOCK = 0x6469_7363


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, url, revision)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Several machines may start `serve` at once: the first migrates, the others wait and
        # then find nothing to do. The lock is released when this transaction ends.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    elif connection.dialect.name == "sqlite":
        # Batch migrations copy a table and drop the old one, which the rows of other tables
        # still reference; SQLite only lets that happen with its checks off, and the pragma
        # only takes effect outside a transaction. The references are checked again below.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # The sqlite3 module starts no transaction before DDL, so two processes would both
        # create the tables. SQLite's write lock, taken first, makes them wait instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows that reference nothing: {broken[:5]}")


def upgrade_sync(url: str) -> None:
    asyncio.run(upgrade(url))
