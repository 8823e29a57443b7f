"""The durable ledger: the ``discount_usage`` table that outlives any loss of the usage store.

The store's stream is copied here in batches, at least once; the insert ignores a (code, user)
that is already there, so a batch copied twice (a crash between commit and acknowledge) lands
once. Only after the rows are committed are the entries acknowledged in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.usage.models import DiscountUsage
from discounts.usage.store import Usage, UsageStore


def _row(usage: Usage) -> dict[str, Any]:
    return {
        "code": usage.code,
        "user_id": usage.user,
        "brand": usage.brand,
        "discount": usage.discount,
        "amount": usage.amount,
        "discount_amount": usage.discount_amount,
        "amount_to_pay": usage.amount_to_pay,
        "used_at": usage.used_at,
    }


async def insert_usages(session: AsyncSession, usages: Sequence[Usage]) -> None:
    """Add usages to the ledger, ignoring the ones it holds already (the copy is at-least-once)."""
    if not usages:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(DiscountUsage).on_conflict_do_nothing(index_elements=["code", "user_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(DiscountUsage).on_conflict_do_nothing(index_elements=["code", "user_id"])
    else:
        raise RuntimeError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")
    unique = {(u.code, u.user): u for u in usages}
    await session.execute(statement, [_row(u) for u in unique.values()])


async def copy_to_ledger(store: UsageStore, sessions: async_sessionmaker[AsyncSession], batch_size: int) -> int:
    """Move up to ``batch_size`` stream entries into the ledger; returns how many were handled.

    Commit first, acknowledge second: a crash in between re-delivers the batch, which the
    idempotent insert absorbs; the other order could lose usages.
    """
    entries = await store.pending(batch_size)
    if not entries:
        return 0
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, [entry.usage for entry in entries])
    await store.acknowledge([entry.id for entry in entries])
    return len(entries)
