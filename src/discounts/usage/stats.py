"""What a code has done, for its brand: counts, money, uses over time — read from the ledger's rollup.

Every number comes from the durable ledger (``usage/ledger.py``), never from the usage store:
the ledger is what brands are reported from, and what survives a loss of the store. The
per-hour rollup (``usage/rollup.py``) keeps a read to a few rows an hour however many uses a
code has; only holds in progress are read from the ledger itself, through an index of the
rows still held.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.money import to_cents
from discounts.usage.models import CodeUsageHour, CodeUsageTotals, DiscountUsage
from discounts.usage.rollup import hour_of
from discounts.usage.schemas import CodeState, CodeStats, CurrencyTotals, UsesIn

#: The most hours a stats request may ask for (two weeks); the default is three days.
MAX_HOURS = 14 * 24
DEFAULT_HOURS = 72


def from_cents(cents: int) -> Decimal:
    return Decimal(cents) / 100


def state_case(now: datetime) -> Any:
    """A code's state as SQL over codes ⨝ rules ⟕ totals: the one definition, for a list's filter and a code's stats.

    Expired first (past its validity), then exhausted (its uses reached ``max_uses`` or its
    discount the budget; holds in progress do not count, they may still come back), then
    scheduled (before ``starts_at``), else active.
    """
    uses = func.coalesce(CodeUsageTotals.uses, 0)
    given = func.coalesce(CodeUsageTotals.discount_cents, 0)
    return case(
        (DiscountCode.validity < now, literal("expired")),
        (and_(DiscountRule.max_uses.is_not(None), uses >= DiscountRule.max_uses), literal("exhausted")),
        (and_(DiscountRule.budget.is_not(None), given >= DiscountRule.budget * 100), literal("exhausted")),
        (and_(DiscountRule.starts_at.is_not(None), DiscountRule.starts_at > now), literal("scheduled")),
        else_=literal("active"),
    )


def with_totals(query: Any) -> Any:
    """``query`` over codes joined with their rules and their totals (a code never used has none)."""
    return (
        query.select_from(DiscountCode)
        .join(DiscountRule)
        .outerjoin(CodeUsageTotals, CodeUsageTotals.code == DiscountCode.id)
    )


async def code_state(session: AsyncSession, code: DiscountCode, now: datetime) -> CodeState:
    state: CodeState = await session.scalar(with_totals(select(state_case(now))).where(DiscountCode.id == code.id))
    return state


async def live_holds(session: AsyncSession, code: str, now: datetime) -> tuple[int, int]:
    """(holds in progress, their discount in cents), through the index of rows still held."""
    query = select(func.count(), func.coalesce(func.sum(DiscountUsage.discount_amount), 0)).where(
        DiscountUsage.code == code, DiscountUsage.status == "held", DiscountUsage.hold_until > now
    )
    count, discount = (await session.execute(query)).one()
    return int(count), to_cents(Decimal(str(discount)))


def _series(uses: Counter[datetime], first: datetime, count: int, step: timedelta) -> list[UsesIn]:
    return [UsesIn(start=first + n * step, uses=uses[first + n * step]) for n in range(count)]


async def code_stats(session: AsyncSession, code: DiscountCode, now: datetime, hours: int = DEFAULT_HOURS) -> CodeStats:
    """The stats of ``code`` (its brand was checked by the caller); ``hours`` of hourly uses up to now."""
    rule = code.rule
    totals = await session.get(CodeUsageTotals, code.id)
    uses, given = (totals.uses, totals.discount_cents) if totals else (0, 0)
    holds, held_cents = await live_holds(session, code.id, now)
    rows = await session.execute(
        select(
            CodeUsageHour.hour,
            CodeUsageHour.currency,
            CodeUsageHour.uses,
            CodeUsageHour.amount_cents,
            CodeUsageHour.discount_cents,
        ).where(CodeUsageHour.code == code.id)
    )
    per_hour: Counter[datetime] = Counter()
    per_day: Counter[datetime] = Counter()
    per_currency: dict[str, list[int]] = {}
    for hour, currency, count, amount, discount in rows:
        per_hour[hour] += count
        per_day[hour.replace(hour=0)] += count
        sums = per_currency.setdefault(currency, [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + count, sums[1] + amount, sums[2] + discount
    last_hour = hour_of(now)
    first_day = code.created_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last_day = min(last_hour, hour_of(code.validity)).replace(hour=0)
    budget_cents = None if rule.budget is None else to_cents(rule.budget)
    return CodeStats(
        code=code.id,
        state=await code_state(session, code, now),
        as_of=now,
        uses=uses,
        holds=holds,
        released=totals.released if totals else 0,
        rolled_back=totals.rolled_back if totals else 0,
        max_uses=rule.max_uses,
        uses_left=None if rule.max_uses is None else max(0, rule.max_uses - uses - holds),
        discount_given=from_cents(given),
        budget=rule.budget,
        budget_left=None if budget_cents is None else from_cents(max(0, budget_cents - given - held_cents)),
        totals=[
            CurrencyTotals(
                currency=currency or None, uses=n, amount=from_cents(amount), discount_amount=from_cents(discount)
            )
            for currency, (n, amount, discount) in sorted(per_currency.items())
            if n
        ],
        hourly=_series(per_hour, last_hour - timedelta(hours=hours - 1), hours, timedelta(hours=1)),
        daily=_series(per_day, first_day, max(1, (last_day - first_day).days + 1), timedelta(days=1)),
    )
