"""How far the e-mailing of a code (or of a batch's codes) has got."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal
from discounts.codes.bodies import batch_out
from discounts.codes.models import DiscountCodeBatch
from discounts.codes.schemas import BatchOut, Progress
from discounts.codes.service import brand_code
from discounts.notify.handout import batch_subject
from discounts.notify.models import Fanout, FanoutChunk
from discounts.notify.schemas import FanoutProgress


async def fanout_progress(session: AsyncSession, principal: Principal, ref: str) -> FanoutProgress:
    """A brand's view of one of its codes' fan-out."""
    code = await brand_code(session, principal, ref)
    return FanoutProgress(code=code.id, **(await progress(session, code.id)).model_dump())


async def progress(session: AsyncSession, subject: str) -> Progress:
    """The fan-out of ``subject`` (a code, or ``batch:<id>``), from the chunk counters (never per-delivery rows)."""
    fanout = await session.get(Fanout, subject)
    sums = (
        await session.execute(
            select(
                func.coalesce(func.sum(FanoutChunk.sent), 0),
                func.coalesce(func.sum(FanoutChunk.failed), 0),
                func.coalesce(func.sum(FanoutChunk.skipped), 0),
            ).where(FanoutChunk.code_id == subject)
        )
    ).one()
    return Progress(
        status=fanout.status if fanout is not None else "queued",
        total=fanout.total if fanout is not None else None,
        sent=int(sums[0]),
        failed=int(sums[1]),
        skipped=int(sums[2]),
    )


async def batch_view(session: AsyncSession, batch: DiscountCodeBatch) -> BatchOut:
    """A batch as the API shows it, with its distribution's progress."""
    distribution = await progress(session, batch_subject(batch.id)) if batch.distribute else None
    return batch_out(batch, distribution)
