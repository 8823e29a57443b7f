"""A batch's distribution: each user of the audience is handed one distinct code of the batch.

The fan-out of a batch is named ``batch:<id>`` and runs like a code's (planned in chunks by user
id, sent under leases, a Delivery row per user). What is its own: the planner, in the very
transaction that records a range of users, hands each of them who has not unsubscribed the
batch's next code by number (``assigned + 1`` on) and records it (``BatchAssignment``); the
planners' compare-and-set lets exactly one of them record a range, so no code is handed out
twice and no user gets two. A chunk then sends each user the code recorded for them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.codes.models import BatchAssignment, DiscountCode, DiscountCodeBatch
from discounts.notify.messages import OwnCode

log = logging.getLogger(__name__)

BATCH_PREFIX = "batch:"


def batch_subject(batch_id: str) -> str:
    """The fan-out (and Delivery rows) of a batch's distribution; no code string has a ``:``."""
    return BATCH_PREFIX + batch_id


def subject_batch(subject: str) -> str | None:
    """The batch a fan-out distributes, or None for a code's announcement."""
    return subject.removeprefix(BATCH_PREFIX) if subject.startswith(BATCH_PREFIX) else None


async def hand_out(session: AsyncSession, batch_id: str, users: Sequence[str], now: datetime) -> int:
    """Hand ``users`` (in order) the batch's next codes; returns how many got one.

    Runs inside the planner's transaction, after its compare-and-set. Users the batch has no
    code left for (the audience grew after the batch was made) get none: they are counted as
    skipped when their chunk is sent.
    """
    if not users:
        return 0
    done = (
        await session.execute(select(DiscountCodeBatch.assigned).where(DiscountCodeBatch.id == batch_id))
    ).scalar_one()
    codes = (
        await session.scalars(
            select(DiscountCode.id)
            .where(DiscountCode.batch_id == batch_id)
            .where(DiscountCode.batch_seq > done, DiscountCode.batch_seq <= done + len(users))
            .order_by(DiscountCode.batch_seq)
        )
    ).all()
    if len(codes) < len(users):
        log.warning("batch %s has no code left for %d users of its audience", batch_id, len(users) - len(codes))
    rows: list[dict[str, Any]] = [
        {"batch_id": batch_id, "user_id": user, "code_id": code, "assigned_at": now}
        for user, code in zip(users, codes, strict=False)
    ]
    if rows:
        await session.execute(insert(BatchAssignment), rows)
        await session.execute(
            update(DiscountCodeBatch).where(DiscountCodeBatch.id == batch_id).values(assigned=done + len(rows))
        )
    return len(rows)


async def handed_out(session: AsyncSession, batch_id: str, within: Any) -> dict[str, OwnCode]:
    """The codes recorded for the users ``within`` a chunk's range (a condition on the user id column)."""
    query = (
        select(BatchAssignment.user_id, DiscountCode.id, DiscountCode.hash)
        .join(DiscountCode, DiscountCode.id == BatchAssignment.code_id)
        .where(BatchAssignment.batch_id == batch_id, within(BatchAssignment.user_id))
    )
    return {user: OwnCode(code, digest) for user, code, digest in (await session.execute(query)).all()}
