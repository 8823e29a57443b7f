"""Per-hour and per-code counts of the ledger, kept in the very transaction that writes the ledger.

A code's stats must answer fast at a million uses (benchmarks/README.md): summing its ledger rows
grows with the uses, these rows grow with the hours. Each copy first reads the state the ledger
holds for its usages, then adds each usage's move (new → held → used → given back) to its hour and
its code. A batch copied twice moves nothing the second time, and a late entry for an older state
moves nothing either: only the moves the ledger itself makes are counted. Copies are serialised
(:func:`lock_ledger`), so no two read the same old state and both count one move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, column, func, select, text, values
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.money import to_cents
from discounts.usage.models import CodeUsageHour, CodeUsageTotals, DiscountUsage
from discounts.usage.store import RANK, Status, Usage

#: An arbitrary constant naming the advisory lock that serialises ledger writes on PostgreSQL.
LEDGER_LOCK = 0x6C65_6467
#: Keys per query when reading the ledger's state of a batch (3 parameters each; SQLite allows 32,766).
READ_CHUNK = 1000

Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Known:
    """What the ledger holds of a usage: its status and the values it was first recorded with."""

    status: Status
    used_at: datetime
    currency: str | None
    amount: Decimal
    discount_amount: Decimal


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"the ledger supports PostgreSQL and SQLite, not {dialect}")


async def lock_ledger(session: AsyncSession) -> None:
    """Hold the ledger's write lock until the transaction ends; the reads after it see every earlier copy.

    PostgreSQL: a transaction-level advisory lock. SQLite: a write statement takes the database's
    write lock (and, in WAL mode, the newest snapshot) at once, even one that changes no row.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    else:
        await session.execute(text("UPDATE code_usage_totals SET uses = uses WHERE 0 = 1"))


async def known_states(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, Known]:
    """The ledger's state of these usages, for the ones it has.

    The keys are joined as a table: on PostgreSQL three arrays through ``unnest`` (a row-value
    ``IN`` of 1,000 keys, 3,000 parameters, cost ~140 ms a batch there, five times the copy
    itself: benchmarks/README.md), on SQLite a VALUES list as a CTE (its row-value ``IN`` scans
    the whole ledger for every batch).
    """
    wanted = sorted(keys)
    found: dict[Key, Known] = {}
    columns = (
        DiscountUsage.code,
        DiscountUsage.user_id,
        DiscountUsage.use,
        DiscountUsage.status,
        DiscountUsage.used_at,
        DiscountUsage.currency,
        DiscountUsage.amount,
        DiscountUsage.discount_amount,
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(wanted), READ_CHUNK):
        part = wanted[start : start + READ_CHUNK]
        batch: Any
        if postgres:  # three array parameters, whatever the batch's size
            codes, users, uses = (list(items) for items in zip(*part, strict=True))
            batch = (
                func.unnest(
                    bindparam("codes", codes, type_=ARRAY(String)),
                    bindparam("users", users, type_=ARRAY(String)),
                    bindparam("uses", uses, type_=ARRAY(Integer)),
                )
                .table_valued("code", "user_id", "use")
                .render_derived(name="batch")
            )
        else:  # a VALUES list as a CTE: SQLite searches the primary key for each (a row-value IN scans the table)
            listed = values(column("code", String), column("user_id", String), column("use", Integer), name="batch")
            batch = listed.data(part).cte("batch")
        joined = select(*columns).join(
            batch,
            and_(
                DiscountUsage.code == batch.c.code,
                DiscountUsage.user_id == batch.c.user_id,
                DiscountUsage.use == batch.c.use,
            ),
        )
        for code, user, use, status, used_at, currency, amount, discount in await session.execute(joined):
            found[code, user, use] = Known(Status(status), used_at, currency, amount, discount)
    return found


@dataclass
class _Hour:
    uses: int = 0
    amount_cents: int = 0
    discount_cents: int = 0


@dataclass
class _Total:
    uses: int = 0
    discount_cents: int = 0
    released: int = 0
    rolled_back: int = 0


class Moves:
    """The rollup's changes from one batch: each usage's old state to its new one."""

    def __init__(self) -> None:
        self.hours: defaultdict[tuple[str, datetime, str], _Hour] = defaultdict(_Hour)
        self.totals: defaultdict[str, _Total] = defaultdict(_Total)

    def move(self, code: str, before: Status | None, after: Status, values: Known) -> None:
        if before is not None and RANK[after] <= RANK[before]:
            return  # the ledger keeps the later state it has
        sign = {before: -1, after: 1}
        hour = self.hours[code, hour_of(values.used_at), values.currency or ""]
        total = self.totals[code]
        for status, step in sign.items():
            if status is Status.USED:
                hour.uses += step
                hour.amount_cents += step * to_cents(values.amount)
                hour.discount_cents += step * to_cents(values.discount_amount)
                total.uses += step
                total.discount_cents += step * to_cents(values.discount_amount)
        if after is Status.RELEASED:
            total.released += 1
        elif after is Status.ROLLED_BACK:
            total.rolled_back += 1


def moves_of(usages: Mapping[Key, Usage], known: Mapping[Key, Known]) -> Moves:
    moves = Moves()
    for key, usage in usages.items():
        old = known.get(key)
        values = old or Known(usage.status, usage.used_at, usage.currency, usage.amount, usage.discount_amount)
        moves.move(usage.code, old.status if old else None, usage.status, values)
    return moves


async def apply_moves(session: AsyncSession, moves: Moves) -> None:
    """Add the batch's moves to the hours and totals (rows are made as needed; zero moves write nothing)."""
    insert = insert_for(session)
    hours = [
        {"code": code, "hour": hour, "currency": currency, **vars(change)}
        for (code, hour, currency), change in sorted(moves.hours.items())
        if change != _Hour()
    ]
    if hours:
        statement = insert(CodeUsageHour)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["code", "hour", "currency"],
                set_={
                    name: getattr(CodeUsageHour, name) + getattr(statement.excluded, name)
                    for name in ("uses", "amount_cents", "discount_cents")
                },
            ),
            hours,
        )
    totals = [{"code": code, **vars(change)} for code, change in sorted(moves.totals.items()) if change != _Total()]
    if totals:
        statement = insert(CodeUsageTotals)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["code"],
                set_={
                    name: getattr(CodeUsageTotals, name) + getattr(statement.excluded, name)
                    for name in ("uses", "discount_cents", "released", "rolled_back")
                },
            ),
            totals,
        )
