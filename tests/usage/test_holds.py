"""Checkout holds, confirmations and give-backs, in the same atomic step as the claim, on every backend."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.usage.ledger import copy_to_ledger, rebuild_store, verify_store
from discounts.usage.models import DiscountUsage
from discounts.usage.store import NO_LIMITS, Change, Limits, Outcome, Status, Usage, UsageStore
from tests.usage.conftest import EXPIRES, GRACE, NOW, Backend, add_code, usage

HOLD = timedelta(minutes=15)
LATER = NOW + HOLD + timedelta(seconds=1)


def held(user: str, code: str = "SPRING", at: datetime = NOW) -> Usage:
    return dataclasses.replace(usage(user, code=code, used_at=at), status=Status.HELD, hold_until=at + HOLD)


def at(moment: datetime, user: str, code: str = "SPRING") -> Usage:
    return usage(user, code=code, used_at=moment)


@pytest.mark.parametrize("limits", [NO_LIMITS, Limits(max_uses=1)], ids=["per-user", "shared"])
async def test_a_hold_counts_until_it_ends_then_gives_back_by_itself(store: UsageStore, limits: Limits) -> None:
    first = await store.record(held("u-1"), expires_at=EXPIRES, limits=limits)
    assert (first.outcome, first.use) == (Outcome.CLAIMED, 1)
    assert (await store.record(usage("u-1"), expires_at=EXPIRES, limits=limits)).outcome is Outcome.USED
    if limits.shared:  # the one use of the code is held
        assert (await store.record(usage("u-2"), expires_at=EXPIRES, limits=limits)).outcome is Outcome.EXHAUSTED
    assert await store.used_at("SPRING", "u-1", limits, now=NOW) == NOW
    assert await store.count("SPRING", NOW) == 1
    # Past its end, with no sweeper: the hold counts no more, and the next claim gets it all.
    assert await store.used_at("SPRING", "u-1", limits, now=LATER) is None
    assert await store.count("SPRING", LATER) == 0
    quoted = await store.record(at(LATER, "u-2"), expires_at=EXPIRES, limits=limits, dry_run=True)
    assert quoted.outcome is Outcome.CLAIMED
    claimant = "u-2" if limits.shared else "u-1"
    again = await store.record(at(LATER, claimant), expires_at=EXPIRES, limits=limits)
    assert again.outcome is Outcome.CLAIMED
    assert again.use == (1 if limits.shared else 2)
    assert await store.count("SPRING", LATER) == 1


async def test_confirm_turns_a_live_hold_into_a_use(store: UsageStore) -> None:
    limits = Limits(max_uses=5)
    use = (await store.record(held("u-1"), expires_at=EXPIRES, limits=limits)).use
    confirmed = await store.confirm("SPRING", "u-1", use, limits=limits, now=NOW + timedelta(minutes=1))
    assert confirmed.change is Change.DONE
    assert confirmed.usage is not None
    assert (confirmed.usage.status, confirmed.usage.amount_to_pay, confirmed.usage.used_at) == (
        Status.USED,
        usage("u-1").amount_to_pay,
        NOW,
    )
    again = await store.confirm("SPRING", "u-1", use, limits=limits, now=LATER)
    assert again.change is Change.ALREADY
    assert again.usage == confirmed.usage
    # A use is a use: past the hold's end it still counts.
    assert await store.count("SPRING", LATER + HOLD) == 1
    assert (await store.confirm("SPRING", "u-1", 2, limits=limits, now=NOW)).change is Change.NOT_FOUND
    assert (await store.confirm("SPRING", "u-9", 1, limits=limits, now=NOW)).change is Change.NOT_FOUND


async def test_a_hold_that_ended_cannot_be_confirmed_nor_released(store: UsageStore) -> None:
    limits = Limits(max_uses=1, budget_cents=5000, discount_cents=1200)
    use = (await store.record(held("u-1"), expires_at=EXPIRES, limits=limits)).use
    assert (await store.confirm("SPRING", "u-1", use, limits=limits, now=LATER)).change is Change.EXPIRED
    assert (await store.confirm("SPRING", "u-1", use, limits=limits, now=LATER)).change is Change.EXPIRED
    assert (await store.give_back("SPRING", "u-1", use, limits=limits, now=LATER)).change is Change.NOT_FOUND
    # What it held came back once, not twice: one more use fits, then the code is full again.
    assert await store.record(at(LATER, "u-2"), expires_at=EXPIRES, limits=limits)
    assert (await store.record(at(LATER, "u-3"), expires_at=EXPIRES, limits=limits)).outcome is Outcome.EXHAUSTED


async def test_a_release_gives_back_the_use_the_total_and_the_budget(store: UsageStore) -> None:
    limits = Limits(max_uses=1, budget_cents=1200, discount_cents=1200)
    use = (await store.record(held("u-1"), expires_at=EXPIRES, limits=limits)).use
    assert (await store.record(usage("u-2"), expires_at=EXPIRES, limits=limits)).outcome is Outcome.EXHAUSTED
    released = await store.give_back("SPRING", "u-1", use, limits=limits, now=NOW)
    assert released.change is Change.DONE
    assert released.usage is not None
    assert released.usage.status is Status.RELEASED
    assert (await store.give_back("SPRING", "u-1", use, limits=limits, now=NOW)).change is Change.NOT_FOUND
    assert (await store.confirm("SPRING", "u-1", use, limits=limits, now=NOW)).change is Change.NOT_FOUND
    assert await store.used_at("SPRING", "u-1", limits, now=NOW) is None
    assert await store.record(usage("u-2"), expires_at=EXPIRES, limits=limits)


async def test_a_rollback_of_a_plain_use_gives_everything_back(store: UsageStore) -> None:
    limits = Limits(max_uses=1, budget_cents=1200, discount_cents=1200)
    first = usage("u-1")
    use = (await store.record(first, expires_at=EXPIRES, limits=limits)).use
    answer = await store.give_back("SPRING", "u-1", use, limits=limits, now=NOW)
    if answer.change is Change.NEEDS_USAGE:  # Redis keeps no body of a plain use: the ledger's copy is given
        answer = await store.give_back(
            "SPRING", "u-1", use, limits=limits, now=NOW, usage=dataclasses.replace(first, use=use)
        )
    assert answer.change is Change.DONE
    assert answer.usage is not None
    assert (answer.usage.status, answer.usage.changed_at) == (Status.ROLLED_BACK, NOW)
    assert (await store.give_back("SPRING", "u-1", use, limits=limits, now=NOW)).change is Change.NOT_FOUND
    # The user may use the code again (a new usage, with a new number); so may the budget.
    again = await store.record(usage("u-1"), expires_at=EXPIRES, limits=limits)
    assert (again.outcome, again.use) == (Outcome.CLAIMED, 2)
    assert await store.count("SPRING", NOW) == 1


async def test_holds_and_releases_under_concurrency_never_pass_max_uses(store: UsageStore) -> None:
    limits = Limits(max_uses=10)
    first = await asyncio.gather(*(store.record(held(f"u-{n}"), expires_at=EXPIRES, limits=limits) for n in range(60)))
    winners = [n for n, recorded in enumerate(first) if recorded]
    assert len(winners) == 10
    releases = [store.give_back("SPRING", f"u-{n}", 1, limits=limits, now=NOW) for n in winners[:4]]
    late = [store.record(usage(f"v-{n}"), expires_at=EXPIRES, limits=limits) for n in range(60)]
    results = await asyncio.gather(*releases, *late)
    assert all(released.change is Change.DONE for released in results[:4])
    assert sum(1 for recorded in results[4:] if recorded) == 4
    assert await store.count("SPRING", NOW) == 10


async def test_every_change_reaches_the_ledger_once_in_its_last_state(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_code(sessions, "SPRING", max_uses=10)
    limits = Limits(max_uses=10)
    for user in ("u-1", "u-2", "u-3"):
        await store.record(held(user), expires_at=EXPIRES, limits=limits)
    await store.record(usage("u-4"), expires_at=EXPIRES, limits=limits)
    await copy_to_ledger(store, sessions, batch_size=100)  # the holds as holds
    await store.confirm("SPRING", "u-1", 1, limits=limits, now=NOW)
    await store.give_back("SPRING", "u-2", 1, limits=limits, now=NOW)
    # u-3's hold is left to end; u-4's use is rolled back with the ledger's copy if the store asks.
    if (await store.give_back("SPRING", "u-4", 1, limits=limits, now=NOW)).change is Change.NEEDS_USAGE:
        await store.give_back("SPRING", "u-4", 1, limits=limits, now=NOW, usage=usage("u-4"))
    await copy_to_ledger(store, sessions, batch_size=100)
    async with sessions() as session:
        rows = (await session.execute(select(DiscountUsage.user_id, DiscountUsage.status))).all()
    assert sorted(rows) == [("u-1", "used"), ("u-2", "released"), ("u-3", "held"), ("u-4", "rolled_back")]
    assert await store.pending(100) == []


async def test_a_rebuild_puts_back_live_holds_and_keeps_give_backs_given_back(
    backend: Backend, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_code(sessions, "SPRING", max_uses=3)
    limits = Limits(max_uses=3)
    store = backend.open()
    await store.record(held("u-1"), expires_at=EXPIRES, limits=limits)
    await store.record(held("u-2"), expires_at=EXPIRES, limits=limits)
    await store.give_back("SPRING", "u-2", 1, limits=limits, now=NOW)
    await store.record(usage("u-3"), expires_at=EXPIRES, limits=limits)
    await copy_to_ledger(store, sessions, batch_size=100)
    store = await backend.wipe(store)
    try:
        report = await rebuild_store(store, sessions, now=NOW, grace=GRACE, batch_size=2)
        assert report.restored == 3
        assert await store.count("SPRING", NOW) == 2
        verified = await verify_store(store, sessions, now=NOW, grace=GRACE, batch_size=100)
        assert verified.consistent, verified
        # u-1's hold is still live and confirmable; u-2's release stays released; one use is left.
        assert (await store.confirm("SPRING", "u-1", 1, limits=limits, now=NOW)).change is Change.DONE
        assert (await store.confirm("SPRING", "u-2", 1, limits=limits, now=NOW)).change is Change.NOT_FOUND
        assert await store.record(usage("u-4"), expires_at=EXPIRES, limits=limits)
        assert (await store.record(usage("u-5"), expires_at=EXPIRES, limits=limits)).outcome is Outcome.EXHAUSTED
    finally:
        await store.close()
