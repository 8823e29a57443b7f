"""A code's usages for its brand: the latest first, page by page, and every one of them as CSV.

Both read the ledger through its (code, used_at) index with keyset paging, so the millionth
row costs what the first does, and neither holds a transaction open while a client reads.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.errors import InvalidInput
from discounts.fields import format_time
from discounts.money import format_cents, format_money, from_cents
from discounts.usage.ledger import USAGE_COLUMNS, usage_from_row
from discounts.usage.models import DiscountUsage
from discounts.usage.schemas import UsagePage, UsageRow
from discounts.usage.service import usage_id
from discounts.usage.store import Status, Usage

#: The most usages one page may hold.
MAX_PAGE = 200
#: Ledger rows per query while a CSV export streams.
CSV_BATCH = 5000
CSV_HEADER = [
    "id",
    "used_at",
    "user",
    "use",
    "status",
    "currency",
    "amount",
    "discount_amount",
    "amount_to_pay",
    "hold_until",
    "changed_at",
    "cart",
    "allocations",
]
ORDER = (DiscountUsage.used_at, DiscountUsage.user_id, DiscountUsage.use)


def status_of(usage: Usage, now: datetime) -> str:
    """The stored status, or ``expired`` for a hold that ended unconfirmed (the ledger keeps it as held)."""
    if usage.status is Status.HELD and (usage.hold_until is None or usage.hold_until <= now):
        return "expired"
    return usage.status.value


def usage_row(usage: Usage, now: datetime) -> UsageRow:
    return UsageRow.model_validate(
        {
            "id": usage_id(usage),
            "user": usage.user,
            "use": usage.use,
            "status": status_of(usage, now),
            "used_at": usage.used_at,
            "hold_until": usage.hold_until,
            "changed_at": usage.changed_at,
            "currency": usage.currency,
            "amount": usage.amount,
            "discount_amount": usage.discount_amount,
            "amount_to_pay": usage.amount_to_pay,
            "cart": usage.cart,
            "allocations": None
            if usage.allocations is None
            else [{"line": line, "amount": from_cents(cents)} for line, cents in usage.allocations],
        }
    )


def _cursor(usage: Usage) -> str:
    raw = orjson.dumps([usage.used_at.isoformat(), usage.user, usage.use])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _after(cursor: str) -> tuple[datetime, str, int]:
    try:
        at, user, use = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), str(user), int(use)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("after", "not a cursor this list gave", where="query") from None


async def latest_usages(
    session: AsyncSession, code: str, now: datetime, *, limit: int = 20, after: str | None = None
) -> UsagePage:
    """The code's usages newest first; ``after`` is the ``next`` of the page before."""
    query = select(*USAGE_COLUMNS).where(DiscountUsage.code == code)
    if after is not None:
        query = query.where(tuple_(*ORDER) < _after(after))
    rows = (await session.execute(query.order_by(*(c.desc() for c in ORDER)).limit(limit + 1))).all()
    usages = [usage_from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return UsagePage(items=[usage_row(u, now) for u in usages], next=_cursor(usages[-1]) if more else None)


def _csv_line(values: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def allocations_text(usage: Usage) -> str:
    """The use's allocations as JSON (``[{"line": "a", "amount": "6.00"}]``); empty for an order without lines."""
    if usage.allocations is None:
        return ""
    return orjson.dumps([{"line": line, "amount": format_cents(cents)} for line, cents in usage.allocations]).decode()


def _csv_values(usage: Usage, now: datetime) -> list[str]:
    optional = [usage.hold_until, usage.changed_at]
    return [
        usage_id(usage),
        format_time(usage.used_at),
        usage.user,
        str(usage.use),
        status_of(usage, now),
        usage.currency or "",
        format_money(usage.amount),
        format_money(usage.discount_amount),
        format_money(usage.amount_to_pay),
        *("" if moment is None else format_time(moment) for moment in optional),
        usage.cart or "",
        allocations_text(usage),
    ]


async def usages_csv(
    sessions: async_sessionmaker[AsyncSession], code: str, now: datetime, batch: int = CSV_BATCH
) -> AsyncIterator[str]:
    """Every usage of the code, oldest first, as CSV (RFC 4180 line ends), one batch of rows per chunk."""
    yield _csv_line(CSV_HEADER)
    after: tuple[datetime, str, int] | None = None
    while True:
        query = select(*USAGE_COLUMNS).where(DiscountUsage.code == code)
        if after is not None:
            query = query.where(tuple_(*ORDER) > after)
        async with sessions() as session:
            rows = (await session.execute(query.order_by(*ORDER).limit(batch))).all()
        usages = [usage_from_row(row) for row in rows]
        if usages:
            yield "".join(_csv_line(_csv_values(u, now)) for u in usages)
        if len(rows) < batch:
            return
        after = (usages[-1].used_at, usages[-1].user, usages[-1].use)
