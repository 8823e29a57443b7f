"""Sending one chunk of a fan-out: under a lease, over one SMTP connection, one commit per message.

Exactly once per (code, user), as far as SMTP allows: a user with a Delivery row is never
sent the code again, and the row is committed right after the server accepted the message.
The one window left is a crash between that acceptance and that commit: the chunk is
redelivered and that single message goes out a second time (with the same Message-ID).
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from discounts import metrics
from discounts.clock import Clock
from discounts.codes.models import DiscountCode
from discounts.db import unit_of_work
from discounts.directory.models import Brand, User
from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.context import Notifier
from discounts.notify.fanout import audience, finish_if_complete
from discounts.notify.mail import Connection
from discounts.notify.messages import CodeFacts, Recipient
from discounts.notify.models import Delivery, FanoutChunk

log = logging.getLogger(__name__)


class ChunkOutcome(enum.StrEnum):
    done = "done"
    #: Another worker holds the lease, or the chunk was finished: nothing to do here.
    not_ours = "not_ours"
    #: Someone took the chunk over while we were sending (our lease had expired); they finish it.
    lease_lost = "lease_lost"


@dataclass(frozen=True)
class ChunkResult:
    outcome: ChunkOutcome
    code_id: str | None = None


class LeaseLost(Exception):
    """Our lease on the chunk expired and another worker took it."""


@dataclass
class ChunkWork:
    chunk: FanoutChunk
    code: CodeFacts
    users: list[User]
    delivered: set[str]


async def send_chunk(notifier: Notifier, chunk_id: int, clock: Clock) -> ChunkResult:
    """Send the chunk's messages; raises :class:`MailTemporaryError` (lease released) to be retried."""
    owner = uuid.uuid4().hex
    if not await _take_lease(notifier, chunk_id, owner, clock()):
        return ChunkResult(ChunkOutcome.not_ours)
    work = await _load(notifier, chunk_id)
    skipped = 0
    try:
        async with notifier.transport.connect() as connection:
            for user in work.users:
                if user.id in work.delivered:
                    continue
                if user.unsubscribed:
                    skipped += 1
                    continue
                await _send_one(notifier, connection, work, user, owner, clock)
    except MailTemporaryError:
        await _release(notifier, chunk_id, owner)
        metrics.EMAILS.labels("announcement", "retried").inc()
        raise
    except LeaseLost:
        log.warning("lost the lease on chunk %s of %s; its new holder finishes it", chunk_id, work.chunk.code_id)
        return ChunkResult(ChunkOutcome.lease_lost, work.chunk.code_id)
    now = clock()
    async with unit_of_work(notifier.sessions) as uow:
        finished = await uow.session.execute(
            update(FanoutChunk)
            .where(FanoutChunk.id == chunk_id, FanoutChunk.lease_owner == owner)
            .values(status="done", skipped=skipped, lease_until=None, lease_owner=None, updated_at=now)
        )
    if int(finished.rowcount) != 1:  # type: ignore[attr-defined]
        return ChunkResult(ChunkOutcome.lease_lost, work.chunk.code_id)
    await finish_if_complete(notifier.sessions, work.chunk.code_id, now)
    return ChunkResult(ChunkOutcome.done, work.chunk.code_id)


async def _take_lease(notifier: Notifier, chunk_id: int, owner: str, now: datetime) -> bool:
    async with unit_of_work(notifier.sessions) as uow:
        result = await uow.session.execute(
            update(FanoutChunk)
            .where(
                FanoutChunk.id == chunk_id,
                FanoutChunk.status != "done",
                or_(FanoutChunk.lease_until.is_(None), FanoutChunk.lease_until < now),
            )
            .values(
                status="sending",
                lease_until=now + notifier.lease,
                lease_owner=owner,
                attempts=FanoutChunk.attempts + 1,
                updated_at=now,
            )
        )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def _release(notifier: Notifier, chunk_id: int, owner: str) -> None:
    """Give the chunk back at once, so the retry need not wait for the lease to run out."""
    async with unit_of_work(notifier.sessions) as uow:
        await uow.session.execute(
            update(FanoutChunk)
            .where(FanoutChunk.id == chunk_id, FanoutChunk.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )


async def _load(notifier: Notifier, chunk_id: int) -> ChunkWork:
    async with notifier.sessions() as session:
        chunk = await session.get_one(FanoutChunk, chunk_id)
        code = await session.get_one(DiscountCode, chunk.code_id)
        brand = await session.get_one(Brand, code.rule.brand)
        in_range = User.id <= chunk.upto_user
        if chunk.after_user is not None:
            in_range = and_(in_range, User.id > chunk.after_user)
        members = select(User).where(audience(code.rule.group), in_range).order_by(User.id)
        users = list((await session.scalars(members)).all())
        done_range = Delivery.user_id <= chunk.upto_user
        if chunk.after_user is not None:
            done_range = and_(done_range, Delivery.user_id > chunk.after_user)
        done = select(Delivery.user_id).where(Delivery.code_id == code.id, done_range)
        delivered = set((await session.scalars(done)).all())
    facts = CodeFacts(
        code=code.id,
        code_hash=code.hash,
        brand_name=brand.name,
        discount=code.rule.discount,
        validity=code.validity,
        group=code.rule.group,
    )
    return ChunkWork(chunk=chunk, code=facts, users=users, delivered=delivered)


async def _send_one(
    notifier: Notifier, connection: Connection, work: ChunkWork, user: User, owner: str, clock: Clock
) -> None:
    message = notifier.renderer.announcement(work.code, Recipient(user.id, user.email), clock())
    status, error = "sent", None
    try:
        await connection.send(message)
    except MailRejected as exc:
        status, error = "failed", exc.detail
    now = clock()
    counter = {"sent": FanoutChunk.sent + 1} if status == "sent" else {"failed": FanoutChunk.failed + 1}
    lost = False
    try:
        async with unit_of_work(notifier.sessions) as uow:
            await uow.session.execute(
                insert(Delivery).values(code_id=work.code.code, user_id=user.id, status=status, error=error, at=now)
            )
            # Every recorded message renews the lease: only a single stuck message can let it run out.
            renewed = await uow.session.execute(
                update(FanoutChunk)
                .where(FanoutChunk.id == work.chunk.id, FanoutChunk.lease_owner == owner)
                .values(**counter, lease_until=now + notifier.lease, updated_at=now)
            )
            if int(renewed.rowcount) != 1:  # type: ignore[attr-defined]
                lost = True
                await uow.session.execute(update(FanoutChunk).where(FanoutChunk.id == work.chunk.id).values(**counter))
    except IntegrityError:
        # The chunk's new holder recorded this user first: the duplicate has gone out already.
        raise LeaseLost() from None
    metrics.EMAILS.labels("announcement", status).inc()
    if lost:
        raise LeaseLost()
