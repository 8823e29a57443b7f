"""A brand's view of how far the e-mailing of its code has got."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal
from discounts.codes.service import brand_code
from discounts.notify.models import Fanout, FanoutChunk
from discounts.notify.schemas import FanoutProgress


async def fanout_progress(session: AsyncSession, principal: Principal, ref: str) -> FanoutProgress:
    """A brand's view of one of its codes' fan-out, from the chunk counters (never per-delivery rows)."""
    code = await brand_code(session, principal, ref)
    fanout = await session.get(Fanout, code.id)
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(FanoutChunk.sent), 0),
                func.coalesce(func.sum(FanoutChunk.failed), 0),
                func.coalesce(func.sum(FanoutChunk.skipped), 0),
            ).where(FanoutChunk.code_id == code.id)
        )
    ).one()
    status = fanout.status if fanout is not None else "queued"
    return FanoutProgress(
        code=code.id,
        status=status,
        total=fanout.total if fanout is not None else None,
        sent=int(sums[0]),
        failed=int(sums[1]),
        skipped=int(sums[2]),
    )
