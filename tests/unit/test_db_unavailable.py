"""A PostgreSQL that went away or is restarting is a store unreachable (a 503), never a 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from discounts.db import make_engine
from discounts.errors import UNREACHABLE
from tests.conftest import POSTGRES_ADMIN_URL

WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND query LIKE 'SELECT pg_sleep%'")


async def test_a_connection_the_server_ends_is_unreachable_and_the_pool_recovers(postgres_url: str) -> None:
    engine, admin = make_engine(postgres_url), make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            sleeping = asyncio.create_task(conn.execute(text("SELECT pg_sleep(30)")))
            async with admin.connect() as other:
                for _ in range(1000):  # until the statement runs
                    if (await other.execute(WAITING, {"pid": pid})).scalar_one():
                        break
                    await asyncio.sleep(0.01)
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(UNREACHABLE) as raised:  # SQLSTATE 57P01 in the middle of the statement
                await sleeping
        assert "terminating connection" in str(raised.value)
        async with engine.connect() as conn:  # the dead connection was dropped, not handed out again
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_a_statement_that_is_wrong_is_not_unreachable(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as raised:
                await conn.execute(text("SELECT 1/0"))  # SQLSTATE 22012: a bug, a 500
        assert not isinstance(raised.value, UNREACHABLE)
    finally:
        await engine.dispose()
