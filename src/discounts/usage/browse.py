"""A brand's codes with what they have done: filtered by state, searched by code, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal, Role
from discounts.codes.models import DiscountCode, DiscountRule
from discounts.usage.models import CodeUsageTotals
from discounts.usage.schemas import CodeState
from discounts.usage.stats import state_case, with_totals

PER_PAGE = 25


@dataclass(frozen=True, slots=True)
class CodeSummary:
    code: DiscountCode
    state: CodeState
    uses: int


@dataclass(frozen=True, slots=True)
class CodePage:
    items: list[CodeSummary]
    #: Codes matching the filter, on every page.
    total: int
    page: int
    pages: int


def like_pattern(search: str) -> str:
    """A search term as a LIKE pattern for "contains", its wildcards taken literally (``_`` is a code character)."""
    escaped = search.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def browse_codes(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    state: CodeState | None = None,
    search: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> CodePage:
    """The brand's codes but its batches', newest first; ``page`` past the last gives the last."""
    principal.require(Role.brand)
    states = state_case(now)
    query = with_totals(select(DiscountCode, states, func.coalesce(CodeUsageTotals.uses, 0)))
    counting = with_totals(select(func.count()))
    # A batch's codes (up to a million) are listed with their batch, not here.
    conditions = [DiscountRule.brand == principal.brand, DiscountCode.batch_id.is_(None)]
    if state is not None:
        conditions.append(states == state)
    if search:
        conditions.append(DiscountCode.id.like(like_pattern(search), escape="\\"))
    total = await session.scalar(counting.where(*conditions)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = await session.execute(
        query.where(*conditions)
        .order_by(DiscountCode.created_at.desc(), DiscountCode.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [CodeSummary(code, found_state, uses) for code, found_state, uses in rows]
    return CodePage(items=items, total=total, page=page, pages=pages)
