"""The stream → ledger copy on the embedded store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.settings import Settings
from discounts.usage.embedded import SQLiteUsageStore
from discounts.usage.ledger import copy_to_ledger
from discounts.usage.models import DiscountUsage
from tests.usage.conftest import EXPIRES, NOW, usage


@pytest.fixture
async def embedded(settings: Settings) -> AsyncIterator[SQLiteUsageStore]:
    store = SQLiteUsageStore(settings.resolved_usage_store_url.removeprefix("sqlite:///"))
    yield store
    await store.close()


async def ledger_rows(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, Decimal, datetime]]:
    async with sessions() as session:
        result = await session.execute(
            select(DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.amount_to_pay, DiscountUsage.used_at)
        )
        return sorted(tuple(row) for row in result.all())  # type: ignore[misc]


async def test_copies_in_batches_then_acknowledges(
    embedded: SQLiteUsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for n in range(5):
        assert await embedded.record(usage(f"u-{n}"), expires_at=EXPIRES)

    assert await copy_to_ledger(embedded, sessions, batch_size=3) == 3
    assert len(await embedded.pending(10)) == 2
    assert await copy_to_ledger(embedded, sessions, batch_size=3) == 2
    assert await copy_to_ledger(embedded, sessions, batch_size=3) == 0

    rows = await ledger_rows(sessions)
    assert rows == [("SPRING", f"u-{n}", Decimal("108.00"), NOW) for n in range(5)]


async def test_a_batch_delivered_twice_lands_once(
    embedded: SQLiteUsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Concurrent copiers see the same un-acknowledged entries; the ledger keeps one row each."""
    for n in range(20):
        assert await embedded.record(usage(f"u-{n}"), expires_at=EXPIRES)

    copied = await asyncio.gather(*(copy_to_ledger(embedded, sessions, batch_size=50) for _ in range(3)))

    assert sum(copied) >= 20
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DiscountUsage)) == 20
    assert await embedded.pending(50) == []
