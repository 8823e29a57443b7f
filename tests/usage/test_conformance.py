"""One suite, every backend: embedded SQLite, one Redis, a Redis Cluster of three masters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.usage.ledger import copy_to_ledger, insert_usages, rebuild_store, verify_store
from discounts.usage.models import DiscountUsage
from discounts.usage.store import Change, Limits, Outcome, UsageStore
from tests.usage.conftest import EXPIRES, GRACE, NOW, Backend, add_code, usage


async def test_once_per_user_under_500_concurrent_attempts(store: UsageStore) -> None:
    results = await asyncio.gather(*(store.record(usage("u-1"), expires_at=EXPIRES) for _ in range(500)))

    assert [result.outcome for result in results].count(Outcome.CLAIMED) == 1
    assert await store.count("SPRING", NOW) == 1
    assert len(await store.pending(1000)) == 1


async def test_many_users_on_one_code(store: UsageStore) -> None:
    users = [f"u-{n}" for n in range(600)]
    first = await asyncio.gather(*(store.record(usage(u), expires_at=EXPIRES) for u in users))
    again = await asyncio.gather(*(store.record(usage(u), expires_at=EXPIRES) for u in users[::7]))

    assert all(first)
    assert not any(again)
    assert await store.count("SPRING", NOW) == 600
    assert await store.count("OTHER", NOW) == 0
    assert await store.used_at("SPRING", "u-599", now=NOW) == NOW
    assert await store.used_at("SPRING", "nobody", now=NOW) is None
    assert await store.used_at("OTHER", "u-1", now=NOW) is None
    found = await store.used_at_many([("SPRING", "u-3"), ("OTHER", "u-3"), ("SPRING", "u-4")], now=NOW)
    assert found == [NOW, None, NOW]


async def test_a_user_may_use_each_code_once(store: UsageStore) -> None:
    assert await store.record(usage("u-1", code="SPRING"), expires_at=EXPIRES)
    assert await store.record(usage("u-1", code="SUMMER"), expires_at=EXPIRES)
    assert not await store.record(usage("u-1", code="SUMMER"), expires_at=EXPIRES)
    assert (await store.count("SPRING", NOW), await store.count("SUMMER", NOW)) == (1, 1)


async def test_a_code_valid_to_the_last_campaign_day_keeps_its_usages(store: UsageStore) -> None:
    """The latest validity the API takes (end of November 9999) plus the longest grace is still a date."""
    latest = datetime(9999, 11, 30, 23, 59, 59, tzinfo=UTC) + timedelta(minutes=23 * 60 + 59, days=28)
    assert await store.record(usage("u-1", code="FOREVER"), expires_at=latest)
    assert not await store.record(usage("u-1", code="FOREVER"), expires_at=latest)
    assert await store.used_at("FOREVER", "u-1", now=NOW) is not None


async def test_pending_fills_the_limit_however_unevenly_the_usages_spread(store: UsageStore) -> None:
    for n in range(11):
        assert await store.record(usage(f"u-{n}"), expires_at=EXPIRES)

    first = await store.pending(9)
    assert len(first) == 9
    await store.acknowledge([entry.id for entry in first])
    rest = await store.pending(9)
    assert sorted(entry.usage.user for entry in first + rest) == sorted(f"u-{n}" for n in range(11))


async def test_usages_of_an_expired_code_are_dropped(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Past its expiry a code's usages leave the store (Redis on its own, the embedded one on purge)."""
    past = NOW - timedelta(seconds=1)
    assert await store.record(usage("u-1", code="OLD"), expires_at=past)
    assert await store.record(usage("u-1", code="LIVE"), expires_at=EXPIRES)
    # The embedded store keeps a usage until the ledger has it; the stream keeps it for Redis.
    assert await copy_to_ledger(store, sessions, batch_size=10) == 2

    await store.purge_expired(NOW)

    assert await store.used_at("OLD", "u-1", now=NOW) is None
    assert await store.count("OLD", NOW) == 0
    assert await store.used_at("LIVE", "u-1", now=NOW) == NOW


async def test_every_usage_reaches_the_ledger_exactly_once(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    users = [f"u-{n}" for n in range(150)]
    await asyncio.gather(*(store.record(usage(u), expires_at=EXPIRES) for u in users))

    # A copier that dies after reading: its entries come back, to the next copier, once idle.
    abandoned = await store.pending(20)
    assert len(abandoned) == 20
    await asyncio.sleep(0.1)  # past usage_claim_idle_seconds (Redis counts idle time itself)
    copies = await asyncio.gather(*(copy_to_ledger(store, sessions, batch_size=40) for _ in range(3)))
    while await copy_to_ledger(store, sessions, batch_size=40):
        pass

    assert sum(copies) > 0
    async with sessions() as session:
        rows = (await session.execute(select(DiscountUsage.user_id))).scalars().all()
    assert sorted(rows) == sorted(users)
    assert await store.pending(200) == []


async def test_a_copy_that_failed_gets_its_entries_again_at_once(backend: Backend) -> None:
    """The copier's own unacknowledged entries (the database was down) are not left for the claim time."""
    store = backend.open(usage_claim_idle_seconds=3600)
    try:
        await asyncio.gather(*(store.record(usage(f"u-{n}"), expires_at=EXPIRES) for n in range(30)))
        failed = await store.pending(20)  # read, then the copy fails: nothing acknowledged
        again = await store.pending(30)
        assert {entry.id for entry in failed} <= {entry.id for entry in again}
        assert len(again) == 30
        await store.acknowledge([entry.id for entry in again])
        assert await store.pending(30) == []
    finally:
        await store.close()


async def test_rebuild_restores_a_wiped_store(
    backend: Backend, store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_code(sessions, "SPRING")
    await add_code(sessions, "GONE", validity=NOW - GRACE - timedelta(days=1))
    for n in range(30):
        assert await store.record(usage(f"u-{n}"), expires_at=EXPIRES)
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, [usage("u-1", code="GONE")])
    assert await copy_to_ledger(store, sessions, batch_size=100) == 30

    store = await backend.wipe(store)
    assert await store.count("SPRING", NOW) == 0
    done: list[int] = []
    report = await rebuild_store(store, sessions, now=NOW, grace=GRACE, batch_size=7, progress=done.append)

    try:
        assert (report.codes, report.restored, report.present) == (1, 30, 0)
        assert sum(done) == 30
        assert await store.count("SPRING", NOW) == 30
        assert await store.used_at("SPRING", "u-29", now=NOW) == NOW
        assert await store.used_at("GONE", "u-1", now=NOW) is None
        assert not await store.record(usage("u-0"), expires_at=EXPIRES)
        assert await store.pending(100) == []  # restoring does not re-announce usages
        again = await rebuild_store(store, sessions, now=NOW, grace=GRACE, batch_size=100)
        assert (again.restored, again.present) == (0, 30)
    finally:
        await store.close()


async def test_verify_reports_differences_both_ways(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_code(sessions, "SPRING")
    await add_code(sessions, "SUMMER")
    for n in range(10):
        assert await store.record(usage(f"u-{n}"), expires_at=EXPIRES)
        assert await store.record(usage(f"u-{n}", code="SUMMER"), expires_at=EXPIRES)
    while await copy_to_ledger(store, sessions, batch_size=100):
        pass
    clean = await verify_store(store, sessions, now=NOW, grace=GRACE, batch_size=4)
    assert clean.consistent
    assert (clean.codes, clean.checked) == (2, 20)

    async with unit_of_work(sessions) as uow:  # the ledger has a usage the store lost ...
        await insert_usages(uow.session, [usage("ghost")])
    async with unit_of_work(sessions) as uow:  # ... and the store has one the ledger lacks
        await uow.session.execute(
            delete(DiscountUsage).where(DiscountUsage.code == "SUMMER", DiscountUsage.user_id == "u-3")
        )
    report = await verify_store(store, sessions, now=NOW, grace=GRACE, batch_size=4)

    assert not report.consistent
    assert report.missing_in_store == 1
    assert report.missing_sample == [("SPRING", "ghost")]
    assert sorted((m.code, m.ledger, m.store) for m in report.count_mismatches) == [
        ("SPRING", 11, 10),
        ("SUMMER", 9, 10),
    ]


async def test_levels_grow_without_losing_or_repeating_a_usage(backend: Backend) -> None:
    """Tiny buckets force many levels: every usage stays findable, none is accepted twice."""
    store = backend.open(usage_bucket_capacity=4, usage_shards=2)
    try:
        users = [f"u-{n}" for n in range(400)]
        for start in range(0, len(users), 50):
            part = users[start : start + 50]
            assert all(await asyncio.gather(*(store.record(usage(u), expires_at=EXPIRES) for u in part)))
        repeats = await asyncio.gather(*(store.record(usage(u), expires_at=EXPIRES) for u in users))

        assert not any(repeats)
        assert await store.count("SPRING", NOW) == 400
        assert None not in await store.used_at_many([("SPRING", u) for u in users], now=NOW)
        assert len(await store.pending(1000)) == 400
    finally:
        await store.close()


async def test_ledger_rows_keep_the_whole_usage(store: UsageStore, sessions: async_sessionmaker[AsyncSession]) -> None:
    original = usage("u-9")
    assert await store.record(original, expires_at=EXPIRES)
    await copy_to_ledger(store, sessions, batch_size=10)

    async with sessions() as session:
        row = (await session.execute(select(DiscountUsage))).scalar_one()
        total = await session.scalar(select(func.count()).select_from(DiscountUsage))
    assert total == 1
    assert (row.code, row.user_id, row.brand, row.discount) == ("SPRING", "u-9", "acme", 10)
    assert (row.amount, row.discount_amount, row.amount_to_pay) == (
        original.amount,
        original.discount_amount,
        original.amount_to_pay,
    )
    assert row.used_at == original.used_at


async def test_a_retry_of_the_same_request_finds_its_claim_not_a_refusal(store: UsageStore) -> None:
    """A claim whose answer was lost is found again by its request's nonce: the same use, as it was made."""
    first = await store.record(usage("u-1"), expires_at=EXPIRES, nonce="request-1")
    later = usage("u-1", used_at=NOW + timedelta(seconds=30))

    again = await store.record(later, expires_at=EXPIRES, nonce="request-1")
    other = await store.record(later, expires_at=EXPIRES, nonce="request-2")
    plain = await store.record(later, expires_at=EXPIRES)

    assert (first.outcome, first.use, first.found_at) == (Outcome.CLAIMED, 1, None)
    assert (again.outcome, again.use, again.found_at) == (Outcome.CLAIMED, 1, NOW)
    assert other.outcome is Outcome.USED  # another request of the same user: used before
    assert plain.outcome is Outcome.USED
    assert len(await store.pending(10)) == 1  # found again, not claimed twice


async def test_a_nonce_whose_claim_was_given_back_claims_anew(store: UsageStore) -> None:
    limits = Limits(per_user=2)
    assert await store.record(usage("u-1"), expires_at=EXPIRES, limits=limits, nonce="request-1")
    assert (await store.give_back("SPRING", "u-1", 1, limits=limits, now=NOW, usage=usage("u-1"))).change is Change.DONE

    again = await store.record(usage("u-1"), expires_at=EXPIRES, limits=limits, nonce="request-1")

    assert (again.outcome, again.use, again.found_at) == (Outcome.CLAIMED, 2, None)
