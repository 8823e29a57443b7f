"""A cart's codes claimed all or none, on every backend — on the cluster, with its codes on different masters.

One Redis claims a cart in one script; a cluster, whose codes live on different masters, in steps
(reserve, commit, settle): the last tests break those steps where a dying process would.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from redis.crc import key_slot
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.usage.ledger import copy_all
from discounts.usage.models import CartRedemption, DiscountUsage
from discounts.usage.redis_store import RedisUsageStore
from discounts.usage.store import NO_LIMITS, Cart, CartState, Change, Limits, Outcome, Status, UsageStore
from tests.usage.conftest import EXPIRES, NOW, usage

HOLD_END = NOW + timedelta(minutes=15)
#: The standard split of a three-master cluster's 16,384 slots.
MASTER_OF_SLOT = (5461, 10923)


def master(store: UsageStore, code: str, shared: bool) -> int:
    """Which master of the test cluster keeps ``code``'s usages (a code with shared limits: one slot)."""
    assert isinstance(store, RedisUsageStore)
    slot = key_slot(store.layout.locate(code, "u-1", shared=shared).head.encode())
    return sum(slot >= bound for bound in MASTER_OF_SLOT)


def code_apart(store: UsageStore, other: str, prefix: str) -> str:
    """A code name whose usages live on another master than ``other``'s (both with shared limits)."""
    if not isinstance(store, RedisUsageStore):
        return f"{prefix}0"
    return next(f"{prefix}{n}" for n in range(100) if master(store, f"{prefix}{n}", True) != master(store, other, True))


def cart(
    user: str,
    codes: list[tuple[str, Limits, str]],
    *,
    cart_id: str | None = None,
    held: bool = False,
) -> Cart:
    """A cart of ``codes`` ((code, limits, discount)) for ``user``; its id defaults to one per user."""
    cart_id = cart_id or f"{user:0>32}"[-32:].replace("-", "0")
    usages = tuple(
        dataclasses.replace(
            usage(user, code=code),
            discount_amount=Decimal(discount),
            amount_to_pay=Decimal("120.00") - Decimal(discount),
            cart=cart_id,
            allocations=(("a", int(Decimal(discount) * 100)),),
            status=Status.HELD if held else Status.USED,
            hold_until=HOLD_END if held else None,
        )
        for code, _, discount in codes
    )
    return Cart(
        id=cart_id,
        user=user,
        usages=usages,
        limits=tuple(limits for _, limits, _ in codes),
        expires_at=tuple(EXPIRES for _ in codes),
        summary=b'{"applied":[]}',
        hold_until=HOLD_END,
    )


async def test_a_cart_claims_every_code_and_the_ledger_gets_them_with_the_cart(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    recorded = await store.record_cart(
        cart("u-1", [("ACME10", NO_LIMITS, "10.00"), ("BOLT5", NO_LIMITS, "5.00")]), now=NOW
    )

    assert recorded
    assert recorded.uses == (1, 1)
    assert not recorded.existing
    assert await store.used_at("ACME10", "u-1", now=NOW) == NOW
    assert not await store.record(usage("u-1", code="BOLT5"), expires_at=EXPIRES)
    await store.finish_carts(NOW + timedelta(seconds=10))
    assert await copy_all(store, sessions, 100) == 3  # two usages and the cart
    async with sessions() as session:
        rows = (await session.execute(select(DiscountUsage).order_by(DiscountUsage.code))).scalars().all()
        kept = (await session.execute(select(CartRedemption))).scalar_one()
    assert [(r.code, r.status, r.cart_id, r.allocations) for r in rows] == [
        ("ACME10", "used", kept.id, [["a", 1000]]),
        ("BOLT5", "used", kept.id, [["a", 500]]),
    ]
    assert (kept.user_id, kept.summary) == ("u-1", '{"applied":[]}')


async def test_a_refused_code_leaves_the_cart_without_any_claim_or_trace(store: UsageStore) -> None:
    assert await store.record(usage("u-1", code="BOLT5"), expires_at=EXPIRES)
    await store.acknowledge([entry.id for entry in await store.pending(10)])

    recorded = await store.record_cart(
        cart("u-1", [("ACME10", NO_LIMITS, "10.00"), ("BOLT5", NO_LIMITS, "5.00")]), now=NOW
    )

    assert not recorded
    assert recorded.outcomes == (Outcome.CLAIMED, Outcome.USED)
    assert await store.used_at("ACME10", "u-1", now=NOW) is None  # given back, as if never taken
    assert await store.pending(10) == []  # and nothing for the ledger: the request was refused
    assert await store.record(usage("u-1", code="ACME10"), expires_at=EXPIRES)


async def test_a_retry_of_a_cart_finds_its_own_claims(store: UsageStore) -> None:
    first = cart("u-1", [("ACME10", Limits(per_user=3), "10.00")], cart_id="a" * 32)
    assert await store.record_cart(first, now=NOW)

    again = await store.record_cart(first, now=NOW)

    assert again
    assert again.existing
    assert again.uses == (1,)
    assert await store.count("ACME10", NOW) == 1
    other = await store.record_cart(dataclasses.replace(first, id="b" * 32), now=NOW)
    assert other.uses == (2,)  # another cart is another claim (three uses per user)


async def test_n_plus_500_concurrent_carts_give_exactly_n_with_both_codes(store: UsageStore) -> None:
    """Code A allows 100 uses; code B's budget fits 100 of its discounts and not one more, by a cent."""
    n = 100
    a, b = "LIMITED", code_apart(store, "LIMITED", "BUDGET")
    budget = Limits(budget_cents=n * 500 + 499, discount_cents=500)
    carts = [cart(f"u-{i}", [(a, Limits(max_uses=n), "10.00"), (b, budget, "5.00")]) for i in range(n + 500)]

    results = await asyncio.gather(*(store.record_cart(c, now=NOW) for c in carts))

    winners = [c for c, result in zip(carts, results, strict=True) if result]
    assert len(winners) == n
    assert await store.count(a, NOW) == n
    assert await store.count(b, NOW) == n  # B's budget was never passed: n × 5.00 ≤ budget < (n + 1) × 5.00
    where = {a: Limits(max_uses=n), b: budget}
    assert None not in await store.used_at_many([(code, c.user) for c in winners for code in (a, b)], where, now=NOW)
    losers = [c.user for c, result in zip(carts, results, strict=True) if not result]
    found = await store.used_at_many([(code, u) for u in losers for code in (a, b)], where, now=NOW)
    assert found == [None] * len(found)  # no code is left used by a refused cart


async def test_a_held_cart_confirms_all_at_once_then_answers_the_same(store: UsageStore) -> None:
    held = cart("u-1", [("ACME10", NO_LIMITS, "10.00"), ("BOLT5", Limits(max_uses=5), "5.00")], held=True)
    assert await store.record_cart(held, now=NOW)
    stored = await store.cart(held.id, now=NOW)
    assert stored is not None
    assert stored.state is CartState.HELD

    confirmed = await store.confirm_cart(held.id, now=NOW + timedelta(minutes=1))
    again = await store.confirm_cart(held.id, now=NOW + timedelta(minutes=20))

    assert confirmed.change is Change.DONE
    assert again.change is Change.ALREADY
    assert confirmed.cart is not None
    assert confirmed.cart.state is CartState.USED
    assert [u.status for u in confirmed.cart.usages] == [Status.USED, Status.USED]
    assert await store.count("BOLT5", NOW + timedelta(days=1)) == 1  # a use: it no longer ends


async def test_a_held_cart_not_confirmed_in_time_gives_everything_back(store: UsageStore) -> None:
    held = cart("u-1", [("ACME10", NO_LIMITS, "10.00"), ("BOLT5", Limits(max_uses=1), "5.00")], held=True)
    assert await store.record_cart(held, now=NOW)
    late = HOLD_END + timedelta(seconds=1)

    assert (await store.confirm_cart(held.id, now=late)).change is Change.EXPIRED
    assert (await store.give_back_cart(held.id, now=late)).change is Change.NOT_FOUND
    assert await store.used_at("ACME10", "u-1", now=late) is None
    assert await store.record(
        dataclasses.replace(usage("u-2", code="BOLT5"), used_at=late), expires_at=EXPIRES, limits=Limits(max_uses=1)
    )


async def test_giving_back_a_cart_frees_every_code_once(store: UsageStore) -> None:
    used = cart("u-1", [("ACME10", Limits(max_uses=1), "10.00"), ("BOLT5", NO_LIMITS, "5.00")])
    assert await store.record_cart(used, now=NOW)
    # one line is returned first: its code comes back alone
    alone = await store.give_back("BOLT5", "u-1", 1, limits=NO_LIMITS, now=NOW)
    assert alone.change is Change.DONE

    given = await store.give_back_cart(used.id, now=NOW)
    twice = await store.give_back_cart(used.id, now=NOW)

    assert given.change is Change.DONE
    assert twice.change is Change.NOT_FOUND
    assert await store.count("ACME10", NOW) == 0
    assert await store.record(usage("u-2", code="ACME10"), expires_at=EXPIRES, limits=Limits(max_uses=1))
    assert (await store.confirm_cart(used.id, now=NOW)).change is Change.NOT_FOUND


@pytest.mark.parametrize("backend", ["redis-cluster"], indirect=True)
async def test_reservations_of_a_cart_that_never_committed_end_by_themselves(store: UsageStore) -> None:
    """The process died after reserving: no cart, no trace on the stream, the codes free after the hold."""
    assert isinstance(store, RedisUsageStore)
    died = cart("u-1", [("ACME10", Limits(max_uses=1), "10.00")])
    reserved = dataclasses.replace(died.usages[0], status=Status.HELD, hold_until=HOLD_END)
    assert await store._claim(reserved, EXPIRES, Limits(max_uses=1, discount_cents=1000), nonce=died.id, quiet=True)

    refused = await store.record(usage("u-2", code="ACME10"), expires_at=EXPIRES, limits=Limits(max_uses=1))
    assert refused.outcome is Outcome.EXHAUSTED  # held meanwhile, as every claim of a cart is
    assert await store.pending(10) == []
    assert await store.finish_carts(HOLD_END) == 0
    later = dataclasses.replace(usage("u-2", code="ACME10"), used_at=HOLD_END + timedelta(seconds=1))
    assert await store.record(later, expires_at=EXPIRES, limits=Limits(max_uses=1))
    assert await store.cart(died.id, now=HOLD_END) is None


@pytest.mark.parametrize("backend", ["redis-cluster"], indirect=True)
async def test_a_committed_cart_left_unsettled_is_finished(store: UsageStore) -> None:
    """The process died between the commit and the settling: the finisher completes the cart."""
    assert isinstance(store, RedisUsageStore)
    died = cart("u-1", [("ACME10", NO_LIMITS, "10.00"), ("BOLT5", NO_LIMITS, "5.00")])
    died_midway(store)
    assert await store.record_cart(died, now=NOW)
    lives_again(store)
    assert await store.pending(10) == []  # committed, not settled: nothing for the ledger yet

    assert await store.finish_carts(NOW + timedelta(seconds=1)) == 0  # not yet: its process may be at it
    assert await store.finish_carts(NOW + timedelta(seconds=10)) == 1

    entries = await store.pending(10)
    assert sorted(e.usage.code for e in entries if e.usage is not None) == ["ACME10", "BOLT5"]
    assert [e.cart.id for e in entries if e.cart is not None] == [died.id]
    assert await store.finish_carts(NOW + timedelta(seconds=20)) == 0  # closed
    assert await store.used_at("BOLT5", "u-1", now=HOLD_END + timedelta(days=1)) is not None  # a use: it stays


@pytest.mark.parametrize("backend", ["redis-cluster"], indirect=True)
async def test_a_committed_cart_found_after_its_hold_is_given_back_whole(store: UsageStore) -> None:
    """Nobody settled it before its reservations ended, and another shopper took the last use: never half kept."""
    assert isinstance(store, RedisUsageStore)
    one = Limits(max_uses=1, discount_cents=1000)
    died = cart("u-1", [("ONLYONE", one, "10.00"), ("BOLT5", NO_LIMITS, "5.00")])
    died_midway(store)
    assert await store.record_cart(died, now=NOW)
    lives_again(store)
    later = dataclasses.replace(usage("u-2", code="ONLYONE"), used_at=HOLD_END + timedelta(seconds=1))
    assert await store.record(later, expires_at=EXPIRES, limits=one)  # the reservation had ended: u-2's now

    assert await store.finish_carts(HOLD_END + timedelta(seconds=10)) == 1

    assert await store.cart(died.id, now=HOLD_END) is None  # forgotten
    assert await store.used_at("BOLT5", "u-1", now=HOLD_END) is None  # given back, quietly
    entries = await store.pending(10)
    assert [(e.usage.code, e.usage.user) for e in entries if e.usage is not None] == [("ONLYONE", "u-2")]
    assert [e for e in entries if e.cart is not None] == []  # the ledger never hears of it


def died_midway(store: RedisUsageStore) -> None:
    """The next cart's process dies right after its commit: neither settles nor closes."""

    async def settled(record: object, *, check: bool = False) -> bool:
        return True

    store._real = (store._settle, store._close_soon)  # type: ignore[attr-defined]
    store._settle, store._close_soon = settled, lambda cart_id: None  # type: ignore[method-assign, assignment]


def lives_again(store: RedisUsageStore) -> None:
    store._settle, store._close_soon = store._real  # type: ignore[attr-defined, method-assign]
