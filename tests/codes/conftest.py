"""Helpers for the batch tests: run a batch's generation in this process, as the worker's tasks would."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.generation import RandomBytes, Step, StepOutcome, generate_step
from discounts.codes.models import DiscountCode


async def generate_all(
    sessions: async_sessionmaker[AsyncSession],
    batch_id: str,
    clock: Callable[[], datetime],
    *,
    chunk_size: int = 1000,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> Step:
    """Every step of a batch, one after the other (the chain of tasks, without Celery)."""
    while True:
        step = await generate_step(sessions, batch_id, clock(), chunk_size=chunk_size, random_bytes=random_bytes)
        if step.outcome is not StepOutcome.more:
            return step


async def batch_places(sessions: async_sessionmaker[AsyncSession], batch_id: str) -> list[int]:
    """The numbers of the batch's codes, in order: exactly 1 to count when there is no gap and no duplicate."""
    async with sessions() as session:
        query = select(DiscountCode.batch_seq).where(DiscountCode.batch_id == batch_id).order_by(DiscountCode.batch_seq)
        return [int(seq or 0) for seq in (await session.scalars(query)).all()]


async def count_codes(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(DiscountCode)) or 0)
