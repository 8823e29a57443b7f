"""Every limit in the same atomic step as once-per-user, on every backend (embedded, Redis, Redis Cluster)."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.usage.ledger import LiveCode, copy_to_ledger, insert_usages, rebuild_store, verify_store
from discounts.usage.models import DiscountUsage
from discounts.usage.store import Limits, Outcome, Usage, UsageStore
from tests.usage.conftest import EXPIRES, GRACE, NOW, Backend, add_code, usage


def fixed(user: str, discount: str, code: str = "LIMITED") -> Usage:
    """A fixed-amount use: ``discount`` off an order of 100.00 in EUR."""
    off = Decimal(discount)
    return dataclasses.replace(
        usage(user, code=code),
        discount=None,
        amount=Decimal("100.00"),
        discount_amount=off,
        amount_to_pay=Decimal("100.00") - off,
        amount_off=off,
        currency="EUR",
    )


async def test_max_uses_n_under_n_plus_500_concurrent_attempts_gives_exactly_n(store: UsageStore) -> None:
    limits = Limits(max_uses=100)
    attempts = [store.record(usage(f"u-{n}", code="LIMITED"), expires_at=EXPIRES, limits=limits) for n in range(600)]
    outcomes = [recorded.outcome for recorded in await asyncio.gather(*attempts)]

    assert outcomes.count(Outcome.CLAIMED) == 100
    assert outcomes.count(Outcome.EXHAUSTED) == 500
    assert await store.count("LIMITED", NOW) == 100
    assert len(await store.pending(1000)) == 100
    # A winner asking again is refused as "used", not "exhausted": the user's own count comes first.
    winner = next(n for n, outcome in enumerate(outcomes) if outcome is Outcome.CLAIMED)
    again = await store.record(usage(f"u-{winner}", code="LIMITED"), expires_at=EXPIRES, limits=limits)
    assert again.outcome is Outcome.USED


async def test_three_uses_per_user_under_50_concurrent_attempts_gives_exactly_3(store: UsageStore) -> None:
    limits = Limits(per_user=3)
    attempts = [store.record(usage("u-1", code="THRICE"), expires_at=EXPIRES, limits=limits) for _ in range(50)]
    outcomes = [recorded.outcome for recorded in await asyncio.gather(*attempts)]

    assert outcomes.count(Outcome.CLAIMED) == 3
    assert outcomes.count(Outcome.USED) == 47
    assert await store.count("THRICE", NOW) == 3
    assert await store.used_at("THRICE", "u-1", limits, now=NOW) == NOW
    entries = await store.pending(100)
    assert sorted(entry.usage.use for entry in entries) == [1, 2, 3]
    # Another user still has three of their own.
    assert await store.record(usage("u-2", code="THRICE"), expires_at=EXPIRES, limits=limits)


async def test_concurrent_redemptions_never_pass_the_budget_by_a_cent(store: UsageStore) -> None:
    budget = 10_000  # 100.00
    amounts = ["7.33", "12.50", "0.01", "33.00", "9.99"] * 40
    claims = [  # each claim carries its own share of the budget
        store.record(
            fixed(f"u-{n}", amount),
            expires_at=EXPIRES,
            limits=Limits(budget_cents=budget, discount_cents=int(Decimal(amount) * 100)),
        )
        for n, amount in enumerate(amounts)
    ]
    outcomes = [recorded.outcome for recorded in await asyncio.gather(*claims)]

    given = sum(Decimal(a) for a, outcome in zip(amounts, outcomes, strict=True) if outcome is Outcome.CLAIMED)
    assert given <= Decimal("100.00")
    assert Outcome.EXHAUSTED in outcomes
    # Whatever is left is less than the smallest refused share (or nothing was refused that fit).
    refused = [Decimal(a) for a, outcome in zip(amounts, outcomes, strict=True) if outcome is Outcome.EXHAUSTED]
    assert min(refused) > Decimal("100.00") - given or given == Decimal("100.00")
    pending = await store.pending(1000)
    assert sum(entry.usage.discount_amount for entry in pending) == given
    assert {entry.usage.amount_off for entry in pending} <= {Decimal(a) for a in amounts}
    assert {entry.usage.currency for entry in pending} == {"EUR"}


async def test_a_dry_run_answers_like_the_claim_and_changes_nothing(store: UsageStore) -> None:
    limits = Limits(per_user=2, max_uses=2)
    assert await store.record(usage("u-1", code="DRY"), expires_at=EXPIRES, limits=limits, dry_run=True)
    assert await store.count("DRY", NOW) == 0
    assert await store.pending(10) == []
    assert await store.record(usage("u-1", code="DRY"), expires_at=EXPIRES, limits=limits)
    assert await store.record(usage("u-2", code="DRY"), expires_at=EXPIRES, limits=limits)
    dry = await store.record(usage("u-3", code="DRY"), expires_at=EXPIRES, limits=limits, dry_run=True)
    assert dry.outcome is Outcome.EXHAUSTED
    plain = await store.record(usage("u-1", code="PLAIN"), expires_at=EXPIRES, dry_run=True)
    assert plain.outcome is Outcome.CLAIMED
    assert await store.record(usage("u-1", code="PLAIN"), expires_at=EXPIRES)
    again = await store.record(usage("u-1", code="PLAIN"), expires_at=EXPIRES, dry_run=True)
    assert again.outcome is Outcome.USED
    assert await store.count("DRY", NOW) == 2


async def test_a_rebuild_puts_back_every_use_and_the_shared_totals(
    backend: Backend, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """After the store loses everything, a rebuild from the ledger restores each user's count and the code's totals."""
    await add_code(sessions, "LIMITED", max_uses=5, max_uses_per_user=2)
    limits = Limits(per_user=2, max_uses=5)
    store = backend.open()
    try:
        for user in ("u-1", "u-1", "u-2", "u-3"):
            assert await store.record(usage(user, code="LIMITED"), expires_at=EXPIRES, limits=limits)
        await copy_to_ledger(store, sessions, batch_size=100)
        async with sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(DiscountUsage))
        assert rows == 4
        store = await backend.wipe(store)
        report = await rebuild_store(store, sessions, now=NOW, grace=GRACE, batch_size=2)
        assert report.restored == 4
        assert await store.count("LIMITED", NOW) == 4
        outcomes = [
            (await store.record(usage(user, code="LIMITED"), expires_at=EXPIRES, limits=limits)).outcome
            for user in ("u-1", "u-2", "u-4")
        ]
        # u-1 had both of theirs; u-2 gets a second; then the fifth use overall was the last.
        assert outcomes == [Outcome.USED, Outcome.CLAIMED, Outcome.EXHAUSTED]
        verified = await verify_store(store, sessions, now=NOW, grace=GRACE, batch_size=100)
        assert verified.missing_in_store == 0
    finally:
        await store.close()


async def test_the_ledger_keeps_each_use_of_a_user(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    limits = Limits(per_user=3)
    for _ in range(3):
        assert await store.record(fixed("u-1", "5.00", code="MULTI"), expires_at=EXPIRES, limits=limits)
    assert await copy_to_ledger(store, sessions, batch_size=100) == 3
    async with sessions() as session:
        await insert_usages(session, [fixed("u-1", "5.00", code="MULTI")])  # a copy delivered twice lands once
        await session.commit()
        rows = (await session.scalars(select(DiscountUsage).order_by(DiscountUsage.use))).all()
    assert [(row.user_id, row.use, row.amount_off, row.currency, row.discount) for row in rows] == [
        ("u-1", n, Decimal("5.00"), "EUR", None) for n in (1, 2, 3)
    ]


def test_live_codes_carry_the_limits_that_place_their_usages() -> None:
    assert LiveCode("X", EXPIRES).limits.shared is False
    assert LiveCode("X", EXPIRES, Limits(max_uses=3)).limits.shared is True
