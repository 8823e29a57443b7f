"""Telling brands about each use of their codes: one digest e-mail per brand per interval.

The ledger is the outbox: a usage with ``digest_id IS NULL`` has not been reported. A run
first claims such usages into a ``pending`` BrandDigest (one transaction, so each usage
lands in exactly one digest), then sends each pending digest and marks it sent. A digest
left pending by a crash is sent again by a later run, with the same content and the same
Message-ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts import metrics
from discounts.clock import Clock, utcnow
from discounts.db import unit_of_work
from discounts.directory.models import Brand
from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.context import Notifier
from discounts.notify.mail import Connection
from discounts.notify.models import BrandDigest
from discounts.usage.events import Drains
from discounts.usage.ledger import copy_to_ledger
from discounts.usage.models import UNREPORTED_CHANGE, DiscountUsage
from discounts.usage.store import Status, UsageStore

#: One copy run moves at most this many batches, so that it never hogs a worker.
MAX_COPY_BATCHES = 100

#: The most uses one message lists; a brand with more in one interval gets several messages.
MAX_USAGES_PER_DIGEST = 5000


async def copy_usages(
    store: UsageStore, sessions: async_sessionmaker[AsyncSession], batch_size: int, drains: Drains | None = None
) -> int:
    """Bring the usage store's stream into the ledger, batch after batch while full ones come back.

    First the carts a dead process left midway are finished (``UsageStore.finish_carts``): what
    they decided reaches the stream, and so the ledger, within a run or two.
    """
    await store.finish_carts(utcnow())
    copied = 0
    for _ in range(MAX_COPY_BATCHES):
        moved = await copy_to_ledger(store, sessions, batch_size, drains)
        copied += moved
        metrics.LEDGER_COPIED.inc(moved)
        if moved < batch_size:
            break
    return copied


async def claim_usages(sessions: async_sessionmaker[AsyncSession], now: datetime) -> list[int]:
    """Put every unreported use and give-back into a pending digest of its brand; returns the new digests' ids.

    A use is reported once it is a use (a hold is not, until confirmed; a rolled-back use was
    one). A release or a rollback is reported once more, as given back, in a later digest or
    the same one.
    """
    created: list[int] = []
    async with unit_of_work(sessions) as uow:
        session = uow.session
        brands = set((await session.scalars(select(DiscountUsage.brand).where(UNREPORTED_USE).distinct())).all())
        brands |= set((await session.scalars(select(DiscountUsage.brand).where(UNREPORTED).distinct())).all())
        for brand in sorted(brands):
            while True:
                digest = BrandDigest(brand=brand, status="pending", usage_count=0, attempts=0, created_at=now)
                session.add(digest)
                await session.flush()
                most = MAX_USAGES_PER_DIGEST
                count = await _claim(session, brand, digest.id, UNREPORTED_USE, DiscountUsage.digest_id, most)
                count += await _claim(
                    session, brand, digest.id, UNREPORTED, DiscountUsage.change_digest_id, most - count
                )
                if count == 0:
                    await session.delete(digest)
                    break
                digest.usage_count = count
                created.append(digest.id)
                if count < most:
                    break
        await session.flush()
    return created


#: Uses no digest has listed yet (a hold is no use until confirmed; a rolled-back use was one).
UNREPORTED_USE = and_(
    DiscountUsage.digest_id.is_(None), DiscountUsage.status.in_([Status.USED.value, Status.ROLLED_BACK.value])
)
UNREPORTED = text(UNREPORTED_CHANGE)


async def _claim(session: AsyncSession, brand: str, digest_id: int, unreported: Any, mark: Any, limit: int) -> int:
    """Mark up to ``limit`` of the brand's ``unreported`` rows, oldest first, as listed by the digest."""
    if limit <= 0:
        return 0
    key = tuple_(DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.use)
    oldest = (
        select(DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.use)
        .where(DiscountUsage.brand == brand, unreported)
        .order_by(DiscountUsage.used_at, DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.use)
        .limit(limit)
    )
    claimed = await session.execute(
        update(DiscountUsage)
        .where(key.in_(oldest), unreported)
        .values({mark: digest_id})
        .execution_options(synchronize_session=False)
    )
    return int(claimed.rowcount)  # type: ignore[attr-defined]


@dataclass
class DigestRun:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    #: Set when the mail server was unavailable: the rest waits for the next run.
    deferred: str | None = None


async def send_brand_digests(notifier: Notifier, clock: Clock) -> DigestRun:
    """Claim new usages, then send every pending digest (new ones and ones a crash left behind)."""
    run = DigestRun(claimed=len(await claim_usages(notifier.sessions, clock())))
    now = clock()
    async with notifier.sessions() as session:
        ready = or_(BrandDigest.lease_until.is_(None), BrandDigest.lease_until < now)
        pending = (
            await session.scalars(
                select(BrandDigest.id).where(BrandDigest.status == "pending", ready).order_by(BrandDigest.id)
            )
        ).all()
    async with notifier.transport.connect() as connection:
        for digest_id in pending:
            try:
                if await _send_digest(notifier, connection, digest_id, clock):
                    run.sent += 1
                else:
                    run.failed += 1
            except MailTemporaryError as exc:
                run.deferred = exc.detail
                break
    return run


async def _send_digest(notifier: Notifier, connection: Connection, digest_id: int, clock: Clock) -> bool | None:
    """Send one digest under a lease; True if sent, False if refused for good, None if another run has it."""
    owner_until = clock() + notifier.lease
    async with unit_of_work(notifier.sessions) as uow:
        now = clock()
        taken = await uow.session.execute(
            update(BrandDigest)
            .where(
                BrandDigest.id == digest_id,
                BrandDigest.status == "pending",
                or_(BrandDigest.lease_until.is_(None), BrandDigest.lease_until < now),
            )
            .values(lease_until=owner_until, attempts=BrandDigest.attempts + 1)
        )
    if int(taken.rowcount) != 1:  # type: ignore[attr-defined]
        return None
    async with notifier.sessions() as session:
        digest = await session.get_one(BrandDigest, digest_id)
        brand = await session.get_one(Brand, digest.brand)
        order = (DiscountUsage.used_at, DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.use)
        listed = select(DiscountUsage).where(DiscountUsage.brand == digest.brand).order_by(*order)
        usages = list((await session.scalars(listed.where(DiscountUsage.digest_id == digest_id))).all())
        given_back = list((await session.scalars(listed.where(DiscountUsage.change_digest_id == digest_id))).all())
    message = notifier.renderer.digest(digest_id, brand.name, brand.email, usages, digest.created_at, given_back)
    try:
        await connection.send(message)
    except MailRejected as exc:
        await _settle(notifier, digest_id, owner_until, status="failed", error=exc.detail, sent_at=None)
        metrics.EMAILS.labels("brand_digest", "failed").inc()
        return False
    except MailTemporaryError as exc:
        await _settle(notifier, digest_id, owner_until, status="pending", error=exc.detail, sent_at=None)
        metrics.EMAILS.labels("brand_digest", "retried").inc()
        raise
    await _settle(notifier, digest_id, owner_until, status="sent", error=None, sent_at=clock())
    metrics.EMAILS.labels("brand_digest", "sent").inc()
    return True


async def _settle(
    notifier: Notifier, digest_id: int, lease: datetime, *, status: str, error: str | None, sent_at: datetime | None
) -> None:
    async with unit_of_work(notifier.sessions) as uow:
        await uow.session.execute(
            update(BrandDigest)
            .where(BrandDigest.id == digest_id, BrandDigest.lease_until == lease)
            .values(status=status, error=error, sent_at=sent_at, lease_until=None)
        )
