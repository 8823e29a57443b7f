"""Sending one chunk of a fan-out: under a lease, over one SMTP connection, one commit per message.

Exactly once per (code, user), as far as SMTP allows: a user with a Delivery row is never
sent the code again, and the row is committed right after the server accepted the message.
The one window left is a crash between that acceptance and that commit: the chunk is
redelivered and that single message goes out a second time (with the same Message-ID).

What keeps a message cheap (numbers in benchmarks/results-email.md):

- The chunk holds one database connection for all its messages; each message's row is
  still a unit of work of its own on it.
- On PostgreSQL that connection commits with ``synchronous_commit`` off: a commit returns
  before the WAL is on disk. A killed *worker* loses nothing (the server has the commit).
  Only a crash of the *PostgreSQL server* can lose the rows of the last few hundred
  milliseconds (up to three ``wal_writer_delay``), and those users are e-mailed again when
  the chunk is re-run. Taking the lease, releasing it and finishing the chunk commit
  synchronously on other connections, which also makes every row before them durable. The
  setting is the connection's (a ``SET LOCAL`` per message costs a round trip, about what
  the WAL flush it saves costs on a fast disk), so the connection is closed after the chunk,
  never handed back to the pool: no other work (a ledger copy!) can ever commit
  asynchronously. SQLite's WAL with ``synchronous=NORMAL`` already makes the same trade.
- The chunk's counters and lease are written with a message's row at most every
  ``FLUSH_SECONDS`` (never less often than a third of the lease), not with every message;
  they are counted from the Delivery rows, so they are exact whenever written.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts import metrics
from discounts.clock import Clock
from discounts.codes.models import DiscountCode
from discounts.db import unit_of_work
from discounts.directory.models import Brand, User
from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.context import Notifier
from discounts.notify.fanout import audience, finish_if_complete
from discounts.notify.messages import CodeFacts, Recipient
from discounts.notify.models import Delivery, FanoutChunk

log = logging.getLogger(__name__)

#: How often a sending chunk writes its progress counters and renews its lease.
FLUSH_SECONDS = 1.0

DELIVERIES = cast(Table, Delivery.__table__)


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


def within(column: Any, chunk: FanoutChunk) -> ColumnElement[bool]:
    """``column`` in the chunk's user range (after_user, upto_user]."""
    upto: ColumnElement[bool] = column <= chunk.upto_user
    return upto if chunk.after_user is None else and_(column > chunk.after_user, upto)


def counters(chunk: FanoutChunk) -> dict[str, Any]:
    """``sent`` and ``failed`` counted from the chunk's Delivery rows (a primary-key range, at most a chunk)."""

    def recorded(status: str) -> Any:
        rows = select(func.count()).select_from(DELIVERIES)
        return rows.where(
            DELIVERIES.c.code_id == chunk.code_id, within(DELIVERIES.c.user_id, chunk), DELIVERIES.c.status == status
        ).scalar_subquery()

    return {"sent": recorded("sent"), "failed": recorded("failed")}


async def send_chunk(notifier: Notifier, chunk_id: int, clock: Clock) -> ChunkResult:
    """Send the chunk's messages; raises :class:`MailTemporaryError` (lease released) to be retried."""
    owner = uuid.uuid4().hex
    if not await _take_lease(notifier, chunk_id, owner, clock()):
        return ChunkResult(ChunkOutcome.not_ours)
    work = await _load(notifier, chunk_id)
    code_id = work.chunk.code_id
    async with _recording_sessions(notifier) as recording:
        sender = ChunkSender(notifier, work, owner, clock, recording)
        try:
            await sender.run()
        except MailTemporaryError:
            await _settle(notifier, work.chunk, owner, sender.skipped, clock(), done=False)
            metrics.EMAILS.labels("announcement", "retried").inc()
            raise
        except LeaseLost:
            log.warning("lost the lease on chunk %s of %s; its new holder finishes it", chunk_id, code_id)
            return ChunkResult(ChunkOutcome.lease_lost, code_id)
    now = clock()
    if not await _settle(notifier, work.chunk, owner, sender.skipped, now, done=True):
        return ChunkResult(ChunkOutcome.lease_lost, code_id)
    await finish_if_complete(notifier.sessions, code_id, now)
    return ChunkResult(ChunkOutcome.done, code_id)


@asynccontextmanager
async def _recording_sessions(notifier: Notifier) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on one connection of the chunk's own; on PostgreSQL it commits asynchronously, then is closed."""
    async with notifier.engine.connect() as connection:
        sessions = async_sessionmaker(bind=connection, expire_on_commit=False)
        if connection.dialect.name != "postgresql":
            yield sessions
            return
        try:
            async with unit_of_work(sessions) as uow:
                await uow.session.execute(text("SET synchronous_commit TO OFF"))
            yield sessions
        finally:
            await connection.invalidate()


class ChunkSender:
    """One chunk's messages, each recorded in a unit of work of its own on the chunk's connection."""

    def __init__(
        self, notifier: Notifier, work: ChunkWork, owner: str, clock: Clock, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.notifier, self.work, self.owner, self.clock = notifier, work, owner, clock
        self.skipped = 0
        self._sessions = sessions
        # A message may take a third of a lease (the SMTP timeout): renewing at least every
        # third keeps the lease from running out under a worker that is alive.
        self._every = timedelta(seconds=min(FLUSH_SECONDS, notifier.settings.fanout_lease_seconds / 3))
        self._flushed = clock()

    async def run(self) -> None:
        announcement = self.notifier.renderer.announcements(self.work.code)
        async with self.notifier.transport.connect() as connection:
            for user in self.work.users:
                if user.id in self.work.delivered:
                    continue
                if user.unsubscribed:
                    self.skipped += 1
                    continue
                message = announcement(Recipient(user.id, user.email), self.clock())
                status, error = "sent", None
                try:
                    await connection.send(message)
                except MailRejected as exc:
                    status, error = "failed", exc.detail
                await self._record(user.id, status, error)

    async def _record(self, user_id: str, status: str, error: str | None) -> None:
        """Commit the user's Delivery row; now and then also the counters and the lease, in the same commit."""
        now = self.clock()
        flush = now - self._flushed >= self._every
        renewed = True
        try:
            async with unit_of_work(self._sessions) as uow:
                row = {"code_id": self.work.code.code, "user_id": user_id, "status": status, "error": error, "at": now}
                await uow.session.execute(insert(DELIVERIES), row)
                if flush:
                    chunk = self.work.chunk
                    result = await uow.session.execute(
                        update(FanoutChunk)
                        .where(FanoutChunk.id == chunk.id, FanoutChunk.lease_owner == self.owner)
                        .values(**counters(chunk), skipped=self.skipped)
                        .values(lease_until=now + self.notifier.lease, updated_at=now)
                    )
                    renewed = _rowcount(result) == 1
        except IntegrityError:
            # The chunk's new holder recorded this user first: the duplicate has gone out already.
            raise LeaseLost() from None
        metrics.EMAILS.labels("announcement", status).inc()
        if not renewed:
            raise LeaseLost()
        if flush:
            self._flushed = now


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


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
    return _rowcount(result) == 1


async def _settle(
    notifier: Notifier, chunk: FanoutChunk, owner: str, skipped: int, now: datetime, *, done: bool
) -> bool:
    """Write the exact counters and give up the lease: the chunk is done, or (not done) free for its retry at once."""
    finished = {"status": "done", "updated_at": now} if done else {}
    async with unit_of_work(notifier.sessions) as uow:
        result = await uow.session.execute(
            update(FanoutChunk)
            .where(FanoutChunk.id == chunk.id, FanoutChunk.lease_owner == owner)
            .values(**counters(chunk), skipped=skipped, lease_until=None, lease_owner=None, **finished)
        )
    return _rowcount(result) == 1


async def _load(notifier: Notifier, chunk_id: int) -> ChunkWork:
    async with notifier.sessions() as session:
        chunk = await session.get_one(FanoutChunk, chunk_id)
        code = await session.get_one(DiscountCode, chunk.code_id)
        brand = await session.get_one(Brand, code.rule.brand)
        members = select(User).where(audience(code.rule.group), within(User.id, chunk)).order_by(User.id)
        users = list((await session.scalars(members)).all())
        done = select(Delivery.user_id).where(Delivery.code_id == code.id, within(Delivery.user_id, chunk))
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
