"""The durable ledger: the ``discount_usage`` table that outlives any loss of the usage store.

The store's stream is copied here in batches, at least once: a claim, then perhaps its
confirmation, release or rollback, each entry the whole usage with its status. A (code, user,
use) already there only moves forward (held → used → given back), so a batch copied twice (a
crash between commit and acknowledge) lands once, and entries copied out of order (a dead
consumer's taken over later) still end in the last state. Only after the rows are committed
are the entries acknowledged in the store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.clock import Clock, utcnow
from discounts.codes.models import DiscountCode, DiscountRule
from discounts.codes.terms import RuleTerms
from discounts.db import unit_of_work
from discounts.events import outbox
from discounts.usage import events, rollup
from discounts.usage.models import CartRedemption, DiscountUsage
from discounts.usage.service import limits_of
from discounts.usage.store import (
    NO_LIMITS,
    RANK,
    CartEntry,
    CartState,
    Limits,
    Status,
    StoredCart,
    Usage,
    UsageStore,
)

T = TypeVar("T")


def _row(usage: Usage) -> dict[str, Any]:
    return {
        "code": usage.code,
        "user_id": usage.user,
        "brand": usage.brand,
        "use": usage.use,
        "discount": usage.discount,
        "amount_off": usage.amount_off,
        "currency": usage.currency,
        "amount": usage.amount,
        "discount_amount": usage.discount_amount,
        "amount_to_pay": usage.amount_to_pay,
        "used_at": usage.used_at,
        "status": usage.status.value,
        "hold_until": usage.hold_until,
        "status_at": usage.changed_at,
        "cart_id": usage.cart,
        "allocations": None if usage.allocations is None else [list(pair) for pair in usage.allocations],
    }


def _rank(status: Any) -> Any:
    """Where a status is in a usage's life, as SQL (``RANK`` in ``usage/store.py``)."""
    return case(*((status == member.value, rank) for member, rank in RANK.items()))


async def insert_usages(session: AsyncSession, usages: Sequence[Usage]) -> dict[rollup.Key, rollup.Known]:
    """Add usages to the ledger, or move the ones it holds forward (the copy is at-least-once).

    The per-hour rollup moves with them, in the same transaction (``usage/rollup.py``).
    Returns what the ledger held of them before (their events are the moves from there).
    """
    if not usages:
        return {}
    insert: Any = rollup.insert_for(session)(DiscountUsage)
    statement = insert.on_conflict_do_update(
        index_elements=["code", "user_id", "use"],
        set_={
            "status": insert.excluded.status,
            "hold_until": func.coalesce(insert.excluded.hold_until, DiscountUsage.hold_until),
            "status_at": insert.excluded.status_at,
        },
        where=_rank(insert.excluded.status) > _rank(DiscountUsage.status),
    )
    unique: dict[tuple[str, str, int], Usage] = {}
    for usage in usages:  # the furthest state of each, if a batch holds several
        known = unique.get((usage.code, usage.user, usage.use))
        if known is None or RANK[usage.status] > RANK[known.status]:
            unique[usage.code, usage.user, usage.use] = usage
    await rollup.lock_ledger(session)
    before = await rollup.known_states(session, unique)
    moves = rollup.moves_of(unique, before)
    # One order for every copier, so that two inserting the same rows wait, never deadlock.
    await session.execute(statement, [_row(unique[key]) for key in sorted(unique)])
    await rollup.apply_moves(session, moves)
    return before


async def copy_to_ledger(
    store: UsageStore,
    sessions: async_sessionmaker[AsyncSession],
    batch_size: int,
    drains: events.Drains | None = None,
    clock: Clock = utcnow,
) -> int:
    """Move up to ``batch_size`` stream entries into the ledger; returns how many were handled.

    Commit first, acknowledge second: a crash in between re-delivers the batch, which the
    idempotent insert absorbs; the other order could lose usages. The events of the moves are
    recorded in the same transaction (``usage/events.py``), so each is recorded exactly once;
    with ``drains``, so are the expiries of holds that ended before the stream's last settled drain.
    """
    read_at = clock()
    entries = await store.pending(batch_size)
    cut = None
    if drains is not None:
        if len(entries) < batch_size:
            drains.drained(read_at)
        cut = drains.cut(clock())
    if not entries:
        if cut is not None and await _expiries_due(sessions, cut):
            async with unit_of_work(sessions) as uow:
                await rollup.lock_ledger(uow.session)
                await outbox.record(uow, await events.expiries(uow.session, cut), clock())
        return 0
    usages = [entry.usage for entry in entries if entry.usage is not None]
    async with unit_of_work(sessions) as uow:
        await insert_carts(uow.session, [entry.cart for entry in entries if entry.cart is not None])
        known = await insert_usages(uow.session, usages)
        happened = events.moves(usages, known)
        happened += await events.exhaustions(uow.session, events.new_claims(usages, known))
        if cut is not None:
            happened += await events.expiries(uow.session, cut)
        await outbox.record(uow, happened, clock())
    await store.acknowledge([entry.id for entry in entries])
    return len(entries)


async def insert_carts(session: AsyncSession, carts: Sequence[CartEntry]) -> None:
    """Add carts to the ledger; one copied twice (the copy is at-least-once) lands once."""
    if not carts:
        return
    insert: Any = rollup.insert_for(session)(CartRedemption)
    rows = {
        cart.id: {
            "id": cart.id,
            "user_id": cart.user,
            "used_at": cart.used_at,
            "hold_until": cart.hold_until,
            "summary": cart.summary.decode(),
        }
        for cart in carts
    }
    await session.execute(insert.on_conflict_do_nothing(index_elements=["id"]), [rows[key] for key in sorted(rows)])


async def ledger_cart(sessions: async_sessionmaker[AsyncSession], cart_id: str) -> StoredCart | None:
    """A cart from the ledger, with its usages as the ledger has them (the store has forgotten it)."""
    async with sessions() as session:
        cart = await session.get(CartRedemption, cart_id)
        if cart is None:
            return None
        query = select(*USAGE_COLUMNS).where(DiscountUsage.cart_id == cart_id).order_by(DiscountUsage.code)
        usages = [usage_from_row(row) for row in (await session.execute(query)).all()]
    states = {usage.status for usage in usages}
    state = CartState.USED if Status.USED in states else CartState.HELD if Status.HELD in states else CartState.RELEASED
    return StoredCart(cart.id, cart.user_id, state, cart.used_at, cart.hold_until, cart.summary.encode(), tuple(usages))


async def _expiries_due(sessions: async_sessionmaker[AsyncSession], cut: datetime) -> bool:
    async with sessions() as session:
        return await events.any_expired(session, cut)


@dataclass(frozen=True, slots=True)
class LiveCode:
    code: str
    expires_at: datetime
    #: Its rule's limits: where the store keeps the code's usages depends on them.
    limits: Limits = NO_LIMITS


async def live_codes(sessions: async_sessionmaker[AsyncSession], *, now: datetime, grace: timedelta) -> list[LiveCode]:
    """Codes whose usages the store still keeps: validity plus grace not passed yet.

    Read as plain columns, each rule once: a million batch codes share one rule, and loading
    each code as an object (with its rule joined) took gigabytes.
    """
    query = select(DiscountCode.id, DiscountCode.validity, DiscountCode.rule_id).where(
        DiscountCode.validity > now - grace
    )
    async with sessions() as session:
        codes = (await session.execute(query.order_by(DiscountCode.id))).all()
        rule_ids = {rule_id for _, _, rule_id in codes}
        rules = {}
        for start in range(0, len(rule_ids), 1000):
            part = sorted(rule_ids)[start : start + 1000]
            for rule in (await session.scalars(select(DiscountRule).where(DiscountRule.id.in_(part)))).all():
                rules[rule.id] = limits_of(RuleTerms.of(rule))
    # The same expiry as a redemption gives its usage (usage.service.usage_expiry).
    return [LiveCode(code, validity + grace, rules[rule_id]) for code, validity, rule_id in codes]


def limits_by_code(codes: Sequence[LiveCode]) -> dict[str, Limits]:
    return {live.code: live.limits for live in codes if live.limits is not NO_LIMITS}


async def count_ledger(sessions: async_sessionmaker[AsyncSession], codes: Sequence[LiveCode]) -> int:
    """The ledger's rows of ``codes``, given-back ones too (what a rebuild or a verify reads)."""
    if not codes:
        return 0
    async with sessions() as session:
        total = 0
        for start in range(0, len(codes), 1000):
            names = [c.code for c in codes[start : start + 1000]]
            query = select(func.count()).select_from(DiscountUsage).where(DiscountUsage.code.in_(names))
            total += await session.scalar(query) or 0
    return total


async def ledger_usage(sessions: async_sessionmaker[AsyncSession], code: str, user: str, use: int) -> Usage | None:
    """One usage of the ledger (a plain use's body, which Redis does not keep)."""
    query = select(*USAGE_COLUMNS).where(
        DiscountUsage.code == code, DiscountUsage.user_id == user, DiscountUsage.use == use
    )
    async with sessions() as session:
        row = (await session.execute(query)).first()
    return None if row is None else usage_from_row(row)


def usage_from_row(row: Sequence[Any]) -> Usage:
    code, user, brand, discount, amount, discount_amount, to_pay, used_at, amount_off, currency, use, *state = row
    status, hold_until, status_at, cart, allocations = state
    return Usage(
        code,
        user,
        brand,
        discount,
        amount,
        discount_amount,
        to_pay,
        used_at,
        amount_off,
        currency,
        use,
        status=Status(status),
        hold_until=hold_until,
        changed_at=status_at,
        cart=cart,
        allocations=None if allocations is None else tuple((line, int(cents)) for line, cents in allocations),
    )


#: The ledger's columns in the order of :class:`Usage`'s fields (plain rows: no ORM objects for 10M usages).
USAGE_COLUMNS = (
    DiscountUsage.code,
    DiscountUsage.user_id,
    DiscountUsage.brand,
    DiscountUsage.discount,
    DiscountUsage.amount,
    DiscountUsage.discount_amount,
    DiscountUsage.amount_to_pay,
    DiscountUsage.used_at,
    DiscountUsage.amount_off,
    DiscountUsage.currency,
    DiscountUsage.use,
    DiscountUsage.status,
    DiscountUsage.hold_until,
    DiscountUsage.status_at,
    DiscountUsage.cart_id,
    DiscountUsage.allocations,
)


async def ledger_batches(
    sessions: async_sessionmaker[AsyncSession], codes: Sequence[LiveCode], batch_size: int
) -> AsyncIterator[list[Usage]]:
    """The ledger's usages of ``codes``, about ``batch_size`` at a time (small codes share a batch).

    Each code is read in primary-key order with keyset paging, so no query scans usages of
    expired codes and none slows down as the ledger grows; a user's uses come in order.
    """
    batch: list[Usage] = []
    async for live in _with_usages(sessions, codes):
        after: tuple[str, int] = ("", 0)
        while True:
            query = (
                select(*USAGE_COLUMNS)
                .where(DiscountUsage.code == live.code, tuple_(DiscountUsage.user_id, DiscountUsage.use) > after)
                .order_by(DiscountUsage.user_id, DiscountUsage.use)
                .limit(batch_size)
            )
            async with sessions() as session:
                rows = (await session.execute(query)).all()
            batch += [usage_from_row(row) for row in rows]
            if len(batch) >= batch_size:
                yield batch
                batch = []
            if len(rows) < batch_size:
                break
            after = (rows[-1].user_id, rows[-1].use)
    if batch:
        yield batch


async def _with_usages(
    sessions: async_sessionmaker[AsyncSession], codes: Sequence[LiveCode]
) -> AsyncIterator[LiveCode]:
    """The codes that have rows in the ledger, asked 1,000 codes a query (most batch codes have none)."""
    for start in range(0, len(codes), 1000):
        part = codes[start : start + 1000]
        query = select(DiscountUsage.code).where(DiscountUsage.code.in_([live.code for live in part])).distinct()
        async with sessions() as session:
            used = set((await session.scalars(query)).all())
        for live in part:
            if live.code in used:
                yield live


async def prefetched(batches: AsyncIterator[T], depth: int = 2) -> AsyncIterator[T]:
    """Read ahead while the caller works on the current batch (the database and the store overlap)."""
    queue: asyncio.Queue[tuple[T] | None] = asyncio.Queue(depth)

    async def produce() -> None:
        async for batch in batches:
            await queue.put((batch,))
        await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not None:
            yield item[0]
        await producer  # re-raises a failed read
    finally:
        producer.cancel()


@dataclass(frozen=True, slots=True)
class RebuildReport:
    codes: int
    restored: int
    present: int


async def rebuild_store(
    store: UsageStore,
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    grace: timedelta,
    batch_size: int,
    progress: Callable[[int], None] = lambda done: None,
) -> RebuildReport:
    """Put every ledger usage of a live code back into the store (after the store lost data).

    Restoring never appends to the stream (the ledger has these usages already) and never
    overwrites a usage that is there, so it is safe while redemptions go on.
    """
    codes = await live_codes(sessions, now=now, grace=grace)
    expiry = {live.code: live.expires_at for live in codes}
    limits = limits_by_code(codes)
    restored = present = 0
    async for usages in prefetched(ledger_batches(sessions, codes, batch_size)):
        added = await store.restore(usages, expires_at=expiry, limits=limits, now=now)
        restored, present = restored + added, present + len(usages) - added
        progress(len(usages))
    return RebuildReport(codes=len(codes), restored=restored, present=present)


@dataclass(frozen=True, slots=True)
class CountMismatch:
    code: str
    ledger: int
    store: int


@dataclass
class VerifyReport:
    """What differs between the ledger and the store, for live codes only."""

    codes: int = 0
    checked: int = 0
    missing_in_store: int = 0
    #: Up to ``sample`` of the (code, user) pairs the ledger has and the store lacks.
    missing_sample: list[tuple[str, str]] = field(default_factory=list)
    count_mismatches: list[CountMismatch] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return self.missing_in_store == 0 and not self.count_mismatches


async def verify_store(
    store: UsageStore,
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    grace: timedelta,
    batch_size: int,
    sample: int = 20,
    progress: Callable[[int], None] = lambda done: None,
) -> VerifyReport:
    """Compare both ways: each ledger usage is in the store; each code has as many usages in both.

    The store holds only hashes of (code, user), so a usage only the store has shows up as
    a higher count for its code. Copy the stream first: un-copied usages are not differences.
    """
    codes = await live_codes(sessions, now=now, grace=grace)
    report = VerifyReport(codes=len(codes))
    in_ledger: Counter[str] = Counter()
    limits = limits_by_code(codes)
    async for every in prefetched(ledger_batches(sessions, codes, batch_size)):
        usages = [usage for usage in every if usage.is_active(now)]
        pairs = [(u.code, u.user) for u in usages]
        found = await store.used_at_many(pairs, limits, now=now)
        missing = [pair for pair, used_at in zip(pairs, found, strict=True) if used_at is None]
        report.missing_in_store += len(missing)
        report.missing_sample += missing[: sample - len(report.missing_sample)]
        in_ledger.update(code for code, _ in pairs)
        progress(len(every))
    report.checked = in_ledger.total()
    for start in range(0, len(codes), 32):  # a few codes at a time: each count visits every shard
        part = codes[start : start + 32]
        in_store = await asyncio.gather(*(store.count(live.code, now) for live in part))
        for live, stored in zip(part, in_store, strict=True):
            if stored != in_ledger[live.code]:
                report.count_mismatches.append(CountMismatch(live.code, in_ledger[live.code], stored))
    return report


async def copy_all(store: UsageStore, sessions: async_sessionmaker[AsyncSession], batch_size: int) -> int:
    """Copy until the stream has nothing left that was there when we started (new usages may keep coming)."""
    copied = 0
    while (batch := await copy_to_ledger(store, sessions, batch_size)) > 0:
        copied += batch
        if batch < batch_size:
            break
    return copied
