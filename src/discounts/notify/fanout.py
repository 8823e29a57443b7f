"""Fanning a new code (or a batch's codes, ``handout.py``) out to its audience: the outbox row, chunks, the sweep.

The audience (the rule's group, else every user) is cut by keyset over user id into
chunks ``(after_user, upto_user]`` of ``DISCOUNTS_FANOUT_CHUNK_SIZE``. Planning runs ahead
of sending by at most ``DISCOUNTS_FANOUT_WINDOW_CHUNKS`` unfinished chunks and is resumed
by each finished chunk, so a million-user fan-out never puts thousands of messages on the
broker at once and never holds more than a window of addresses in one task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.background import PLAN_FANOUT, after_commit
from discounts.codes.models import DiscountCode, DiscountCodeBatch, DiscountRule
from discounts.db import UnitOfWork, dialect_insert, unit_of_work
from discounts.directory.models import User, audience
from discounts.notify.context import Notifier
from discounts.notify.handout import hand_out, subject_batch
from discounts.notify.models import Delivery, Fanout, FanoutChunk


async def schedule_fanout(uow: UnitOfWork, subject: str, now: datetime) -> None:
    """Record the fan-out of ``subject`` (a code's id, or a batch's) in the transaction; enqueued once it commits.

    The row is the outbox: if the process dies before the enqueue, or the broker is down,
    the periodic sweep finds the queued fan-out and enqueues it, so no code goes unannounced.
    A fan-out recorded already stays as it is.
    """
    row = {"code_id": subject, "status": "queued", "planned": False, "created_at": now, "updated_at": now}
    await uow.session.execute(dialect_insert(uow.session)(Fanout).values(row).on_conflict_do_nothing())
    after_commit(uow, PLAN_FANOUT, subject)


async def rule_of(session: AsyncSession, subject: str) -> DiscountRule | None:
    """The rule whose terms (and audience) a fan-out announces: its code's, or its batch's."""
    batch_id = subject_batch(subject)
    found = (
        await session.get(DiscountCode, subject) if batch_id is None else await session.get(DiscountCodeBatch, batch_id)
    )
    return None if found is None else found.rule


def cut(ids: Sequence[str], size: int, after: str | None) -> list[tuple[str | None, str, int]]:
    """Consecutive ranges (after, upto] of at most ``size`` ids, with how many each holds."""
    ranges = []
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        ranges.append((after, part[-1], len(part)))
        after = part[-1]
    return ranges


async def plan_fanout(notifier: Notifier, code_id: str, now: datetime) -> list[int]:
    """Plan the next chunks up to the window; returns the ids of the new chunks to enqueue.

    Planners may run concurrently (each finished chunk starts one): the update of
    ``planned_through`` is a compare-and-set, so exactly one of them records a range.
    """
    settings = notifier.settings
    async with notifier.sessions() as session:
        fanout = await session.get(Fanout, code_id)
        rule = await rule_of(session, code_id)
        if fanout is None or rule is None or fanout.planned:
            return []
        unfinished = await session.scalar(
            select(func.count()).where(FanoutChunk.code_id == code_id, FanoutChunk.status != "done")
        )
        free = settings.fanout_window_chunks - int(unfinished or 0)
        if free <= 0:
            return []
        members = audience(rule.group)
        after = fanout.planned_through
        query = select(User.id, User.unsubscribed).where(members).order_by(User.id)
        query = query.limit(free * settings.fanout_chunk_size)
        if after is not None:
            query = query.where(User.id > after)
        found = (await session.execute(query)).all()
        ids = [user_id for user_id, _ in found]
        total = fanout.total
        if total is None:
            total = int(await session.scalar(select(func.count()).select_from(User).where(members)) or 0)
    finished = len(ids) < free * settings.fanout_chunk_size
    async with unit_of_work(notifier.sessions) as uow:
        claimed = await uow.session.execute(
            update(Fanout)
            .where(
                Fanout.code_id == code_id,
                Fanout.planned.is_(False),
                Fanout.planned_through.is_not_distinct_from(after),
            )
            .values(planned_through=ids[-1] if ids else after, planned=finished, status="sending", total=total)
            .values(updated_at=now)
        )
        if _rowcount(claimed) != 1:
            return []
        last_seq = await uow.session.scalar(select(func.max(FanoutChunk.seq)).where(FanoutChunk.code_id == code_id))
        chunks = [
            FanoutChunk(
                code_id=code_id,
                seq=int(last_seq or 0) + n,
                after_user=low,
                upto_user=high,
                size=size,
                status="queued",
                sent=0,
                failed=0,
                skipped=0,
                attempts=0,
                updated_at=now,
            )
            for n, (low, high, size) in enumerate(cut(ids, settings.fanout_chunk_size, after), start=1)
        ]
        uow.session.add_all(chunks)
        await uow.session.flush()
        new_ids = [chunk.id for chunk in chunks]
        batch_id = subject_batch(code_id)
        if batch_id is not None:
            await hand_out(uow.session, batch_id, [user_id for user_id, unsubscribed in found if not unsubscribed], now)
    if finished:
        await finish_if_complete(notifier.sessions, code_id, now)
    return new_ids


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


async def finish_if_complete(sessions: async_sessionmaker[AsyncSession], code_id: str, now: datetime) -> bool:
    """Mark the fan-out done once it is fully planned and no chunk is left; safe to call twice."""
    unfinished = exists().where(FanoutChunk.code_id == code_id, FanoutChunk.status != "done")
    async with unit_of_work(sessions) as uow:
        result = await uow.session.execute(
            update(Fanout)
            .where(Fanout.code_id == code_id, Fanout.planned.is_(True), Fanout.status != "done", ~unfinished)
            .values(status="done", finished_at=now, updated_at=now)
        )
    return _rowcount(result) == 1


@dataclass
class Sweep:
    """What the sweep found stuck and re-enqueues."""

    fanouts: list[str] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)


async def sweep(notifier: Notifier, now: datetime) -> Sweep:
    """Find fan-outs and chunks whose message was lost or whose worker died.

    - a fan-out still ``queued`` after a sweep interval (the request's enqueue failed);
    - a fan-out being planned that no planner touched for a lease (its planner died);
    - a chunk ``queued`` for longer than a lease, or ``sending`` with an expired lease;
    - a chunk released after a temporary mail failure and left alone for a lease (its
      Celery retries may be spent).
    Each one found is stamped, so the next sweep does not enqueue it again at once.
    """
    interval = timedelta(seconds=notifier.settings.fanout_sweep_seconds)
    lease = notifier.lease
    found = Sweep()
    async with unit_of_work(notifier.sessions) as uow:
        session = uow.session
        stuck_fanouts = select(Fanout.code_id).where(
            or_(
                and_(Fanout.status == "queued", Fanout.updated_at < now - interval),
                and_(Fanout.status == "sending", Fanout.planned.is_(False), Fanout.updated_at < now - lease),
            )
        )
        found.fanouts = list((await session.scalars(stuck_fanouts)).all())
        stuck_chunks = select(FanoutChunk.id).where(
            or_(
                and_(FanoutChunk.status == "queued", FanoutChunk.updated_at < now - lease),
                and_(
                    FanoutChunk.status == "sending",
                    FanoutChunk.lease_until < now,
                    FanoutChunk.updated_at < now - interval,
                ),
                # Released after a temporary mail failure: Celery retries it, until its retries run out.
                and_(
                    FanoutChunk.status == "sending",
                    FanoutChunk.lease_until.is_(None),
                    FanoutChunk.updated_at < now - lease,
                ),
            )
        )
        found.chunks = list((await session.scalars(stuck_chunks)).all())
        if found.fanouts:
            await session.execute(update(Fanout).where(Fanout.code_id.in_(found.fanouts)).values(updated_at=now))
        if found.chunks:
            await session.execute(update(FanoutChunk).where(FanoutChunk.id.in_(found.chunks)).values(updated_at=now))
        finishing = select(Fanout.code_id).where(Fanout.status == "sending", Fanout.planned.is_(True))
        candidates = list((await session.scalars(finishing)).all())
    for code_id in candidates:
        if await finish_if_complete(notifier.sessions, code_id, now):
            found.finished.append(code_id)
    return found


#: Delivery rows deleted per transaction, and at most per run (the next run goes on).
FORGET_BATCH = 10_000
FORGET_PER_RUN = 1_000_000


async def forget_deliveries(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    keep: timedelta,
    batch: int = FORGET_BATCH,
    per_run: int = FORGET_PER_RUN,
) -> int:
    """Delete the Delivery rows of fan-outs done for longer than ``keep``; returns how many went.

    Why: a delivery row exists so that a redelivered or taken-over chunk skips the users it
    already e-mailed. Once the fan-out is done no chunk of it runs again, and its numbers stay
    in the chunk counters (which progress reads); a batch's record of who got which code is
    ``BatchAssignment``, not this. Kept for ever, one row per user per code would be the largest
    table by far (10⁹ a month at the design's numbers, a hundred times the ledger). Rows go a
    batch per transaction, so no statement holds a million row locks, and at most ``per_run``
    a run, so a run stays short and the next one carries on.
    """
    async with sessions() as session:
        due = (
            await session.scalars(
                select(Fanout.code_id)
                .where(Fanout.status == "done", Fanout.finished_at < now - keep)
                .where(Fanout.deliveries_forgotten_at.is_(None))
                .order_by(Fanout.finished_at)
            )
        ).all()
    deleted = 0
    for code_id in due:
        while deleted < per_run:
            some = select(Delivery.user_id).where(Delivery.code_id == code_id).order_by(Delivery.user_id).limit(batch)
            async with unit_of_work(sessions) as uow:
                gone = _rowcount(
                    await uow.session.execute(
                        delete(Delivery).where(Delivery.code_id == code_id, Delivery.user_id.in_(some))
                    )
                )
                if gone < batch:
                    await uow.session.execute(
                        update(Fanout).where(Fanout.code_id == code_id).values(deliveries_forgotten_at=now)
                    )
            deleted += gone
            if gone < batch:
                break
        if deleted >= per_run:
            break
    return deleted
