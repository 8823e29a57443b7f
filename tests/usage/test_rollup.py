"""The per-hour rollup always equals the ledger it summarises, whatever order and how often usages arrive."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.money import to_cents
from discounts.usage.ledger import insert_usages
from discounts.usage.models import CodeUsageHour, CodeUsageTotals, DiscountUsage
from discounts.usage.rollup import hour_of
from discounts.usage.store import Status, Usage
from tests.usage.conftest import NOW

LIVES = [
    [Status.USED],
    [Status.USED, Status.ROLLED_BACK],
    [Status.HELD],
    [Status.HELD, Status.USED],
    [Status.HELD, Status.RELEASED],
    [Status.HELD, Status.USED, Status.ROLLED_BACK],
]


def lives(rng: random.Random, users: int) -> list[list[Usage]]:
    """Each usage's successive states, with its time, currency and amounts fixed at its first."""
    every = []
    for n in range(users):
        amount = Decimal(rng.randint(100, 99_999)) / 100
        first = Usage(
            code=rng.choice(["SPRING", "SUMMER"]),
            user=f"u-{n}",
            brand="acme",
            discount=10,
            amount=amount,
            discount_amount=(amount / 10).quantize(Decimal("0.01")),
            amount_to_pay=amount - (amount / 10).quantize(Decimal("0.01")),
            used_at=NOW + timedelta(minutes=rng.randint(0, 600)),
            currency=rng.choice([None, "EUR", "USD"]),
        )
        every.append([dataclasses.replace(first, status=status) for status in rng.choice(LIVES)])
    return every


async def rollup_of_ledger(session: AsyncSession) -> tuple[Counter[tuple[object, ...]], dict[str, tuple[int, ...]]]:
    """What the rollup should hold, recomputed from the ledger's rows."""
    hours: Counter[tuple[object, ...]] = Counter()
    totals: dict[str, list[int]] = {}
    for row in (await session.execute(select(DiscountUsage))).scalars():
        total = totals.setdefault(row.code, [0, 0, 0, 0])
        if row.status == "used":
            key = (row.code, hour_of(row.used_at), row.currency or "")
            hours[(*key, "uses")] += 1
            hours[(*key, "amount")] += to_cents(row.amount)
            hours[(*key, "discount")] += to_cents(row.discount_amount)
            total[0] += 1
            total[1] += to_cents(row.discount_amount)
        total[2] += row.status == "released"
        total[3] += row.status == "rolled_back"
    return hours, {code: tuple(values) for code, values in totals.items()}


async def stored_rollup(session: AsyncSession) -> tuple[Counter[tuple[object, ...]], dict[str, tuple[int, ...]]]:
    hours: Counter[tuple[object, ...]] = Counter()
    for row in (await session.execute(select(CodeUsageHour))).scalars():
        key = (row.code, row.hour, row.currency)
        hours[(*key, "uses")] += row.uses
        hours[(*key, "amount")] += row.amount_cents
        hours[(*key, "discount")] += row.discount_cents
    totals = {
        row.code: (row.uses, row.discount_cents, row.released, row.rolled_back)
        for row in (await session.execute(select(CodeUsageTotals))).scalars()
    }
    return +hours, totals


async def copy(sessions: async_sessionmaker[AsyncSession], batch: list[Usage]) -> None:
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, batch)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_rollup_matches_the_ledger_however_entries_arrive(
    sessions: async_sessionmaker[AsyncSession], seed: int
) -> None:
    rng = random.Random(seed)
    entries = [state for life in lives(rng, 120) for state in life]
    rng.shuffle(entries)  # out of order, as a dead consumer's entries taken over later
    entries += rng.sample(entries, 60)  # and some twice, as a batch re-delivered after a crash
    while entries:
        size = rng.randint(1, 40)
        batch, entries = entries[:size], entries[size:]
        await copy(sessions, batch)
    async with sessions() as session:
        expected = await rollup_of_ledger(session)
        assert await stored_rollup(session) == expected
    assert sum(value for key, value in expected[0].items() if key[-1] == "uses") > 0


async def test_concurrent_copies_of_the_same_usages_count_each_move_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Copiers racing on the same new rows (a stream entry handed to two consumers) wait for each other."""
    rng = random.Random(7)
    every = lives(rng, 60)
    for step in range(3):
        batch = [life[min(step, len(life) - 1)] for life in every]
        await asyncio.gather(*(copy(sessions, rng.sample(batch, len(batch))) for _ in range(4)))
    async with sessions() as session:
        expected = await rollup_of_ledger(session)
        assert await stored_rollup(session) == expected
        assert sum(total[0] for total in expected[1].values()) > 0
