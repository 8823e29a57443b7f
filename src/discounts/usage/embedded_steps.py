"""The embedded store's steps: plain functions on a SQLite connection, inside a transaction the store began.

``embedded.py`` owns the file, its schema and the group commit; these say what one claim,
one confirm or one give-back does to the rows, so that a cart (``embedded_carts.py``) claims
its codes with exactly the steps a single redemption takes.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from discounts.money import to_cents
from discounts.usage.store import NO_LIMITS, Change, Changed, Limits, Outcome, Recorded, Status, Usage, usage_key

T = TypeVar("T")

#: A hold a claim found ended and gave back (it reads as a held usage whose hold has passed).
ENDED = "ended"
#: Rows that count against the limits at a moment (the one parameter).
LIVE = "(status = 'used' OR (status = 'held' AND hold_until > ?))"

COLUMNS = (
    "code, user_id, brand, discount, amount, discount_amount, amount_to_pay, used_at, amount_off, currency, use,"
    " status, hold_until, changed_at, cart, allocations"
)


def row_key(code: str, user: str, use: int) -> bytes:
    """A user's first use has the (code, user) hash itself as key, later ones the use number after it."""
    prefix = usage_key(code, user)[:16]
    return prefix if use == 1 else prefix + use.to_bytes(4, "big")


def row_of(usage: Usage, expires_at: datetime, copied: int, use: int | None = None) -> tuple[object, ...]:
    use = usage.use if use is None else use
    return (
        row_key(usage.code, usage.user, use),
        usage.code,
        usage.user,
        use,
        usage.brand,
        usage.discount,
        None if usage.amount_off is None else str(usage.amount_off),
        usage.currency,
        str(usage.amount),
        str(usage.discount_amount),
        str(usage.amount_to_pay),
        usage.used_at.timestamp(),
        expires_at.timestamp(),
        copied,
        usage.status.value,
        None if usage.hold_until is None else usage.hold_until.timestamp(),
        None if usage.changed_at is None else usage.changed_at.timestamp(),
        usage.cart,
        None if usage.allocations is None else orjson.dumps(usage.allocations).decode(),
    )


def usage_of_row(row: Sequence[object]) -> Usage:
    code, user, brand, discount, amount, discount_amount, to_pay, used_at, amount_off, currency, use, *state = row
    status, hold_until, changed_at, cart, allocations = state
    return Usage(
        code=str(code),
        user=str(user),
        brand=str(brand),
        discount=None if discount is None else int(discount),  # type: ignore[call-overload]
        amount=Decimal(str(amount)),
        discount_amount=Decimal(str(discount_amount)),
        amount_to_pay=Decimal(str(to_pay)),
        used_at=datetime.fromtimestamp(float(used_at), UTC),  # type: ignore[arg-type]
        amount_off=None if amount_off is None else Decimal(str(amount_off)),
        currency=None if currency is None else str(currency),
        use=int(use),  # type: ignore[call-overload]
        status=Status.HELD if status == ENDED else Status(str(status)),
        hold_until=None if hold_until is None else datetime.fromtimestamp(float(hold_until), UTC),  # type: ignore[arg-type]
        changed_at=None if changed_at is None else datetime.fromtimestamp(float(changed_at), UTC),  # type: ignore[arg-type]
        cart=None if cart is None else str(cart),
        allocations=None if allocations is None else tuple((line, cents) for line, cents in orjson.loads(allocations)),  # type: ignore[arg-type]
    )


INSERT = (
    "INSERT INTO usages (key, code, user_id, use, brand, discount, amount_off, currency, amount, discount_amount,"
    " amount_to_pay, used_at, expires_at, copied, status, hold_until, changed_at, cart, allocations)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
ADD_TO_TOTALS = (
    "INSERT INTO code_totals (code, uses, cents, expires_at) VALUES (?, 1, ?, ?)"
    " ON CONFLICT (code) DO UPDATE SET uses = uses + 1, cents = cents + excluded.cents"
)


@dataclass(frozen=True, slots=True)
class Claim:
    usage: Usage
    expires_at: datetime
    limits: Limits


def in_transaction(db: sqlite3.Connection, work: Callable[[], T]) -> T:
    """``work()`` in one write transaction: committed whole, or rolled back whole."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return result


def claim_all(db: sqlite3.Connection, claims: list[Claim]) -> list[Recorded]:
    """Each claim's outcome, all in one transaction: one commit (one fsync) for the batch."""
    return in_transaction(db, lambda: [claim_one(db, each) for each in claims])


def claim_one(db: sqlite3.Connection, claim: Claim, dry_run: bool = False) -> Recorded:
    """One claim inside a transaction: the user's count, then the code's totals, then the row."""
    usage, limits = claim.usage, claim.limits
    first = row_key(usage.code, usage.user, 1)
    held = usage.status is Status.HELD
    fast = limits is NO_LIMITS and not dry_run and not held  # the common case: the unique key decides alone
    if fast and db.execute(INSERT, row_of(usage, claim.expires_at, 0, use=1)).rowcount == 1:
        return Recorded(Outcome.CLAIMED, 1)
    now = usage.used_at.timestamp()
    if limits.shared and not dry_run:
        end_holds(db, usage.code, now)
    claims, live = db.execute(
        f"SELECT coalesce(max(use), 0), coalesce(sum(CASE WHEN {LIVE} THEN 1 ELSE 0 END), 0)"
        " FROM usages WHERE key >= ? AND key <= ?",
        (now, first, first + b"\xff" * 4),
    ).fetchone()
    if live >= limits.per_user:
        return Recorded(Outcome.USED)
    if limits.shared:
        totals = db.execute("SELECT uses, cents FROM code_totals WHERE code = ?", (usage.code,)).fetchone()
        used, spent = totals or (0, 0)
        if dry_run:  # holds that ended but that no claim has given back yet
            ended, cents = ended_holds(db, usage.code, now)
            used, spent = used - ended, spent - cents
        if limits.max_uses is not None and used >= limits.max_uses:
            return Recorded(Outcome.EXHAUSTED)
        if limits.budget_cents is not None and spent + limits.discount_cents > limits.budget_cents:
            return Recorded(Outcome.EXHAUSTED)
    if dry_run:
        return Recorded(Outcome.CLAIMED, claims + 1)
    if limits.shared:
        db.execute(ADD_TO_TOTALS, (usage.code, limits.discount_cents, claim.expires_at.timestamp()))
    db.execute(INSERT, row_of(usage, claim.expires_at, 0, use=claims + 1))
    return Recorded(Outcome.CLAIMED, claims + 1)


def ended_holds(db: sqlite3.Connection, code: str, now: float) -> tuple[int, int]:
    rows = db.execute(
        "SELECT discount_amount FROM usages WHERE code = ? AND status = 'held' AND hold_until <= ?", (code, now)
    ).fetchall()
    return len(rows), sum(to_cents(Decimal(amount)) for (amount,) in rows)


def end_holds(db: sqlite3.Connection, code: str, now: float) -> None:
    """Give back the code's holds that ended by ``now``: a claim does it first, so no sweeper is needed."""
    ended, cents = ended_holds(db, code, now)
    if ended:
        db.execute(
            "UPDATE usages SET status = ? WHERE code = ? AND status = 'held' AND hold_until <= ?", (ENDED, code, now)
        )
        db.execute("UPDATE code_totals SET uses = uses - ?, cents = cents - ? WHERE code = ?", (ended, cents, code))


def change(db: sqlite3.Connection, key: bytes, shared: bool, now: datetime, to: Status | None) -> Changed:
    """Confirm (``to`` None) or give back one usage, in one write transaction."""

    def work() -> Changed:
        row = db.execute(f"SELECT seq, {COLUMNS} FROM usages WHERE key = ?", (key,)).fetchone()
        return decide(db, row, shared, now.timestamp(), to)

    return in_transaction(db, work)


def decide(db: sqlite3.Connection, row: Sequence[Any] | None, shared: bool, now: float, to: Status | None) -> Changed:
    """Confirm or give back the usage of ``row`` (``seq`` first) in a transaction; ``shared``: its code's limits."""
    if row is None:
        return Changed(Change.NOT_FOUND)
    seq, usage, raw_status = row[0], usage_of_row(row[1:]), row[12]
    if raw_status == "held" and usage.hold_until is not None and usage.hold_until.timestamp() <= now:
        if shared:
            end_holds(db, usage.code, now)
        else:
            db.execute("UPDATE usages SET status = ? WHERE seq = ?", (ENDED, seq))
        raw_status = ENDED
    if raw_status == ENDED:
        return Changed(Change.EXPIRED if to is None else Change.NOT_FOUND)
    if raw_status in (Status.RELEASED, Status.ROLLED_BACK):
        return Changed(Change.NOT_FOUND)
    if to is None and raw_status == Status.USED:
        return Changed(Change.ALREADY, usage)
    new = Status.USED if to is None else Status.RELEASED if raw_status == Status.HELD else Status.ROLLED_BACK
    changed_at = datetime.fromtimestamp(now, UTC)
    db.execute("UPDATE usages SET status = ?, changed_at = ?, copied = 0 WHERE seq = ?", (new.value, now, seq))
    if new is not Status.USED and shared:
        cents = to_cents(usage.discount_amount)
        db.execute("UPDATE code_totals SET uses = uses - 1, cents = cents - ? WHERE code = ?", (cents, usage.code))
    return Changed(Change.DONE, dataclasses.replace(usage, status=new, changed_at=changed_at))
