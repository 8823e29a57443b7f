"""Sending one chunk of a fan-out: under a lease, over one SMTP connection, one commit per message.

Exactly once per (code, user), as far as SMTP allows: a user with a Delivery row is never
sent the code again, and the row is committed right after the server accepted the message,
before the next message can be accepted. The one window left is a crash between that
acceptance and that commit: the chunk is redelivered and that single message goes out a
second time (with the same Message-ID). Committing the rows of several messages at once
would widen that window to all of them, per crash: the rows are not batched.

What keeps a message cheap (numbers in benchmarks/results-email.md):

- The chunk holds one database connection for all its messages, in autocommit mode: a
  message's row is one ``INSERT``, a transaction of its own, one round trip (no ``BEGIN``
  and ``COMMIT`` around it: three round trips and a session before). On PostgreSQL that
  statement goes to asyncpg directly (``INSERT_DELIVERY``).
- On PostgreSQL that connection commits with ``synchronous_commit`` off: a commit returns
  before the WAL is on disk. A killed *worker* loses nothing (the server has the commit).
  Only a crash of the *PostgreSQL server* can lose the rows of the last few hundred
  milliseconds (up to three ``wal_writer_delay``), and those users are e-mailed again when
  the chunk is re-run. Taking the lease, releasing it and finishing the chunk commit
  synchronously on other connections, which also makes every row before them durable. The
  setting is the connection's, so the connection is closed after the chunk, never handed
  back to the pool: no other work (a ledger copy!) can ever commit asynchronously. SQLite's
  WAL with ``synchronous=NORMAL`` already makes the same trade.
- The chunk's counters and lease are written after a message's row at most every
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

from asyncpg.exceptions import UniqueViolationError  # type: ignore[import-untyped]
from sqlalchemy import ColumnElement, Table, and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from discounts import metrics
from discounts.clock import Clock
from discounts.codes.models import DiscountCode, DiscountCodeBatch
from discounts.db import unit_of_work
from discounts.directory.models import Brand, User, audience
from discounts.errors import MailRejected, MailTemporaryError
from discounts.notify.context import Notifier
from discounts.notify.fanout import finish_if_complete
from discounts.notify.handout import handed_out, subject_batch
from discounts.notify.messages import CodeFacts, Email, OwnCode, Recipient
from discounts.notify.models import Delivery, FanoutChunk

log = logging.getLogger(__name__)

#: How often a sending chunk writes its progress counters and renews its lease.
FLUSH_SECONDS = 1.0

DELIVERIES = cast(Table, Delivery.__table__)
#: A message's row, straight to asyncpg on PostgreSQL: SQLAlchemy's execution path cost more CPU than the
#: database's work (about 0.3 ms against 0.15, measured), and this runs once per e-mail.
INSERT_DELIVERY = 'INSERT INTO deliveries (code_id, user_id, status, error, "at") VALUES ($1, $2, $3, $4, $5)'


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
    #: A batch's distribution: the code each user was handed (the others get nothing, counted as skipped).
    own_codes: dict[str, OwnCode] | None = None

    @property
    def subject(self) -> str:
        """What the Delivery rows are about: the code, or the batch (``batch:<id>``)."""
        return self.chunk.code_id


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
    async with _recording_connection(notifier) as recording:
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
async def _recording_connection(notifier: Notifier) -> AsyncIterator[AsyncConnection]:
    """A connection of the chunk's own, in autocommit; on PostgreSQL it commits asynchronously, then is closed."""
    async with notifier.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        if connection.dialect.name != "postgresql":
            yield connection
            return
        try:
            await connection.execute(text("SET synchronous_commit TO OFF"))
            yield connection
        finally:
            await connection.invalidate()


class ChunkSender:
    """One chunk's messages, each recorded by a statement of its own (autocommitted) on the chunk's connection."""

    def __init__(
        self, notifier: Notifier, work: ChunkWork, owner: str, clock: Clock, connection: AsyncConnection
    ) -> None:
        self.notifier, self.work, self.owner, self.clock = notifier, work, owner, clock
        self.skipped = 0
        self._connection = connection
        #: On PostgreSQL, the driver's connection under ``connection``, for the one statement run per message.
        self._asyncpg: Any = None
        # A message may take a third of a lease (the SMTP timeout): renewing at least every
        # third keeps the lease from running out under a worker that is alive.
        self._every = timedelta(seconds=min(FLUSH_SECONDS, notifier.settings.fanout_lease_seconds / 3))
        self._flushed = clock()

    async def run(self) -> None:
        if self._connection.dialect.driver == "asyncpg":
            self._asyncpg = (await self._connection.get_raw_connection()).driver_connection
        own = self.work.own_codes
        announcement = self.notifier.renderer.announcements(self.work.code, personal_code=own is not None)
        users = [user for user in self.work.users if user.id not in self.work.delivered]
        self.skipped = sum(1 for user in users if user.unsubscribed or (own is not None and user.id not in own))
        users = [user for user in users if not user.unsubscribed and (own is None or user.id in own)]

        def render(n: int) -> Email | None:
            if n >= len(users):
                return None
            user = users[n]
            return announcement(Recipient(user.id, user.email), self.clock(), None if own is None else own[user.id])

        following = render(0)
        async with self.notifier.transport.connect() as connection:
            for n, user in enumerate(users):
                message, following = following, render(n + 1)
                assert message is not None
                # Its envelope may ride with this message's end of data; it is accepted only when sent, after this row.
                connection.announce(following)
                status, error = "sent", None
                try:
                    await connection.send(message)
                except MailRejected as exc:
                    status, error = "failed", exc.detail
                await self._record(user.id, status, error)

    async def _record(self, user_id: str, status: str, error: str | None) -> None:
        """Commit the user's Delivery row; now and then, right after it, the counters and the lease."""
        now = self.clock()
        row = {"code_id": self.work.subject, "user_id": user_id, "status": status, "error": error, "at": now}
        try:
            if self._asyncpg is not None:
                await self._asyncpg.execute(INSERT_DELIVERY, *row.values())
            else:
                await self._connection.execute(insert(DELIVERIES), row)
        except (IntegrityError, UniqueViolationError):
            # The chunk's new holder recorded this user first: the duplicate has gone out already.
            raise LeaseLost() from None
        metrics.EMAILS.labels("announcement", status).inc()
        if now - self._flushed < self._every:
            return
        chunk = self.work.chunk
        result = await self._connection.execute(
            update(FanoutChunk)
            .where(FanoutChunk.id == chunk.id, FanoutChunk.lease_owner == self.owner)
            .values(**counters(chunk), skipped=self.skipped)
            .values(lease_until=now + self.notifier.lease, updated_at=now)
        )
        if _rowcount(result) != 1:
            raise LeaseLost()
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
        batch_id = subject_batch(chunk.code_id)
        own_codes = None
        if batch_id is None:
            code = await session.get_one(DiscountCode, chunk.code_id)
            rule, code_id, code_hash, validity = code.rule, code.id, code.hash, code.validity
        else:
            batch = await session.get_one(DiscountCodeBatch, batch_id)
            # Every recipient is sent a code of their own: the announcement's code is only its terms.
            rule, code_id, code_hash, validity = batch.rule, "", "", batch.validity
            own_codes = await handed_out(session, batch_id, lambda column: within(column, chunk))
        brand = await session.get_one(Brand, rule.brand)
        members = select(User).where(audience(rule.group), within(User.id, chunk)).order_by(User.id)
        users = list((await session.scalars(members)).all())
        done = select(Delivery.user_id).where(Delivery.code_id == chunk.code_id, within(Delivery.user_id, chunk))
        delivered = set((await session.scalars(done)).all())
    facts = CodeFacts.of_terms(code_id, code_hash, validity, rule, brand.name)
    return ChunkWork(chunk=chunk, code=facts, users=users, delivered=delivered, own_codes=own_codes)
