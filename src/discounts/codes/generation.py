"""Generating a batch's codes in the background: random strings, unique across the service, in steps.

A step makes the batch's next codes (``DISCOUNTS_BATCH_CHUNK_SIZE``, numbered ``generated + 1``
on) and moves ``generated`` in one transaction, after a compare-and-set on ``generated``: so two
workers on one batch never both write a step, and a worker killed mid-step leaves the batch
exactly as before the step (no gap, no duplicate) for the next one to redo. Each step is one
Celery task that enqueues the next; the last one records ``batch.done`` (which the e-mail
distribution, and webhooks, listen to); the periodic sweep re-enqueues a batch whose chain of steps
was lost (a killed worker, a broker that dropped the message).

A drawn code that exists already — anywhere in the service, any brand's, or twice in one draw —
is simply drawn again: ``INSERT … ON CONFLICT DO NOTHING`` says which rows went in, and the
places of the others are filled by the next draw, in the same transaction.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts import metrics
from discounts.codes.bodies import as_data, batch_out
from discounts.codes.models import DiscountCode, DiscountCodeBatch
from discounts.db import UnitOfWork, dialect_insert, unit_of_work
from discounts.events.outbox import EventType, Happened, record
from discounts.fields import code_hash

log = logging.getLogger(__name__)

#: The table itself: the ORM's bulk insert spent more per row than the database (cProfile).
CODES = cast(Table, DiscountCode.__table__)

#: Upper-case letters and digits without the look-alikes 0 O 1 I L: 31 characters.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: The code space must be this many times the batch's count (API.md): a guess hits one in 10⁹ at best.
SPACE_FACTOR = 10**9
#: Random bytes below 248 = 8 × 31 map onto the alphabet evenly (``b % 31``); the 8 above are dropped.
_EVEN = 256 - 256 % len(ALPHABET)
_TO_ALPHABET = bytes(ord(ALPHABET[b % len(ALPHABET)]) if b < _EVEN else 0 for b in range(256))
_UNEVEN = bytes(range(_EVEN, 256))
#: Draws in a row that add not a single new code: no working random source does that; a broken one does.
STUCK_AFTER = 100

RandomBytes = Callable[[int], bytes]


def code_space(length: int) -> int:
    """How many codes ``length`` random characters can spell (an exact integer: no overflow)."""
    return len(ALPHABET) ** length


def shortest_length(count: int) -> int:
    """The fewest random characters whose space is at least ``SPACE_FACTOR`` times ``count``."""
    length = 1
    while code_space(length) < SPACE_FACTOR * count:
        length += 1
    return length


class CodeMaker:
    """Code strings ``prefix`` + ``length`` characters of ``ALPHABET``, each character uniform, from a CSPRNG."""

    def __init__(self, prefix: str, length: int, random_bytes: RandomBytes = secrets.token_bytes) -> None:
        self.prefix, self.length, self._random = prefix, length, random_bytes

    def make(self, count: int) -> list[str]:
        want = count * self.length
        chars = bytearray()
        while len(chars) < want:
            # 3 % more than needed covers the dropped bytes (8 in 256) almost always in one read.
            chars += self._random((want - len(chars)) * 33 // 32 + 16).translate(_TO_ALPHABET, _UNEVEN)
        text = chars[:want].decode("ascii")
        return [self.prefix + text[n : n + self.length] for n in range(0, want, self.length)]


class Stuck(Exception):
    """The random source keeps drawing codes that exist: broken, since a CSPRNG cannot."""


class StepOutcome(enum.StrEnum):
    #: Codes were added and more are to come: enqueue the next step.
    more = "more"
    #: The batch is complete (by this step, or before it).
    done = "done"
    #: Another worker wrote this step first (or the batch is not ours to generate): stop this chain.
    not_ours = "not_ours"
    failed = "failed"


@dataclass(frozen=True)
class Step:
    outcome: StepOutcome


async def generate_step(
    sessions: async_sessionmaker[AsyncSession],
    batch_id: str,
    now: datetime,
    *,
    chunk_size: int,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> Step:
    """Add the batch's next ``chunk_size`` codes (fewer at the end)."""
    async with sessions() as session:
        batch = await session.get(DiscountCodeBatch, batch_id)
        if batch is None or batch.kind != "generated" or batch.status == "failed":
            return Step(StepOutcome.not_ours)
        if batch.status == "done":
            return Step(StepOutcome.done)
        start, count = batch.generated, batch.count
        prefix, length, rule_id, validity = batch.prefix or "", batch.length or 0, batch.rule_id, batch.validity
    size = min(chunk_size, count - start)
    last = start + size == count
    try:
        async with unit_of_work(sessions) as uow:
            claimed = await uow.session.execute(
                update(DiscountCodeBatch)
                .where(DiscountCodeBatch.id == batch_id, DiscountCodeBatch.generated == start)
                .where(DiscountCodeBatch.status.in_(("queued", "generating")))
                .values(generated=start + size, status="done" if last else "generating", updated_at=now)
                .values(finished_at=now if last else None)
            )
            if _rowcount(claimed) != 1:
                return Step(StepOutcome.not_ours)
            template = {"rule_id": rule_id, "validity": validity, "created_at": now, "batch_id": batch_id}
            maker = CodeMaker(prefix, length, random_bytes)
            await add_codes(uow.session, maker, range(start + 1, start + size + 1), template)
            if last:
                await batch_done(uow, batch_id, now)
    except Stuck as exc:
        await _fail(sessions, batch_id, str(exc), now)
        return Step(StepOutcome.failed)
    metrics.BATCH_CODES.inc(size)
    return Step(StepOutcome.done if last else StepOutcome.more)


async def batch_done(uow: UnitOfWork, batch_id: str, now: datetime) -> None:
    """The ``batch.done`` event, in the transaction that completes the batch (its distribution listens)."""
    batch = await uow.session.get(DiscountCodeBatch, batch_id, populate_existing=True)
    assert batch is not None
    await record(uow, [Happened(EventType.BATCH_DONE, batch.brand, as_data(batch_out(batch)), now)], now)


async def add_codes(session: AsyncSession, maker: CodeMaker, places: Sequence[int], template: dict[str, Any]) -> None:
    """One new code in each of ``places`` (the batch's numbers), drawing again for any that are taken."""
    insert = dialect_insert(session)
    pending, fruitless = list(places), 0
    while pending:
        drawn = list(dict.fromkeys(maker.make(len(pending))))  # a code drawn twice in one draw counts once
        rows = [
            {**template, "id": code, "hash": code_hash(code), "batch_seq": place}
            for code, place in zip(drawn, pending, strict=False)
        ]
        added = set(await session.scalars(insert(CODES).on_conflict_do_nothing().returning(CODES.c.id), rows))
        taken = [row["batch_seq"] for row in rows if row["id"] not in added]
        if taken or len(rows) < len(pending):
            metrics.BATCH_COLLISIONS.inc(len(taken) + len(pending) - len(rows))
        fruitless = fruitless + 1 if not added else 0
        if fruitless >= STUCK_AFTER:
            raise Stuck(f"{STUCK_AFTER} draws in a row found only codes that exist; the random source is broken")
        pending = taken + pending[len(rows) :]


async def _fail(sessions: async_sessionmaker[AsyncSession], batch_id: str, error: str, now: datetime) -> None:
    log.error("batch %s failed: %s", batch_id, error)
    async with unit_of_work(sessions) as uow:
        await uow.session.execute(
            update(DiscountCodeBatch)
            .where(DiscountCodeBatch.id == batch_id, DiscountCodeBatch.status != "done")
            .values(status="failed", error=error, updated_at=now, finished_at=now)
        )


async def stuck_batches(
    sessions: async_sessionmaker[AsyncSession], now: datetime, *, interval: timedelta, lease: timedelta
) -> list[str]:
    """Batches whose chain of steps was lost: still queued after a sweep interval, or no step for a lease.

    Each one found is stamped, so the next sweep does not enqueue it again at once; should its
    chain be alive after all, the second one stops at its first step (the compare-and-set).
    """
    async with unit_of_work(sessions) as uow:
        stuck = select(DiscountCodeBatch.id).where(
            or_(
                and_(DiscountCodeBatch.status == "queued", DiscountCodeBatch.updated_at < now - interval),
                and_(DiscountCodeBatch.status == "generating", DiscountCodeBatch.updated_at < now - lease),
            )
        )
        found = list((await uow.session.scalars(stuck)).all())
        if found:
            await uow.session.execute(
                update(DiscountCodeBatch).where(DiscountCodeBatch.id.in_(found)).values(updated_at=now)
            )
    return found


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
