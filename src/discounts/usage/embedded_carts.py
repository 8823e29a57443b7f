"""Carts in the embedded store: one SQLite transaction claims every code of a cart, or none.

SQLite runs one write transaction at a time, so what needs a protocol on a Redis Cluster
(reservations, a commit record, settling; ``redis_carts.py``) is here one transaction that
claims each code with the very step a single redemption takes and rolls all of them back if
any is refused. The cart's row (its state and summary) is written in the same transaction;
a cart committed once answers its retries from that row.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import orjson

from discounts.usage.embedded_steps import COLUMNS, Claim, claim_one, decide, usage_of_row
from discounts.usage.store import (
    Cart,
    CartChanged,
    CartEntry,
    CartRecorded,
    CartState,
    Change,
    Outcome,
    Status,
    StoredCart,
)

CART_COLUMNS = "id, user_id, state, used_at, hold_until, summary"


def record_cart(db: sqlite3.Connection, cart: Cart) -> CartRecorded:
    """Inside a transaction: the cart claimed whole (with its row), or nothing written."""
    known = stored_cart(db, cart.id)
    if known is not None:
        claims = tuple(Outcome.CLAIMED for _ in known.usages)
        return CartRecorded(claims, tuple(u.use for u in known.usages), existing=True)
    db.execute("SAVEPOINT cart")
    answers = [
        claim_one(db, Claim(usage, expires_at, limits))
        for usage, expires_at, limits in zip(cart.usages, cart.expires_at, cart.limits, strict=True)
    ]
    if not all(answers):
        db.execute("ROLLBACK TO cart")
        db.execute("RELEASE cart")
        return CartRecorded(tuple(answer.outcome for answer in answers))
    db.execute("RELEASE cart")
    state = CartState.HELD if cart.held else CartState.USED
    db.execute(
        f"INSERT INTO carts ({CART_COLUMNS}, expires_at, shared) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cart.id,
            cart.user,
            state.value,
            cart.usages[0].used_at.timestamp(),
            cart.hold_until.timestamp(),
            cart.summary,
            max(cart.expires_at).timestamp(),
            orjson.dumps([u.code for u, limits in zip(cart.usages, cart.limits, strict=True) if limits.shared]),
        ),
    )
    return CartRecorded(tuple(answer.outcome for answer in answers), tuple(answer.use for answer in answers))


def move_cart(db: sqlite3.Connection, cart_id: str, now: datetime, to: CartState) -> CartChanged:
    """Inside a transaction: confirm (``to`` USED) or give back (RELEASED) every live usage of the cart."""
    cart = stored_cart(db, cart_id)
    if cart is None or cart.state is CartState.RELEASED:
        return CartChanged(Change.NOT_FOUND)
    if cart.state is CartState.HELD and cart.hold_until <= now:
        return CartChanged(Change.EXPIRED if to is CartState.USED else Change.NOT_FOUND, cart)
    if to is CartState.USED and cart.state is CartState.USED:
        return CartChanged(Change.ALREADY, cart)
    rows = db.execute(f"SELECT seq, {COLUMNS} FROM usages WHERE cart = ? ORDER BY seq", (cart_id,)).fetchall()
    shared = set(orjson.loads(db.execute("SELECT shared FROM carts WHERE id = ?", (cart_id,)).fetchone()[0]))
    target = None if to is CartState.USED else Status.ROLLED_BACK
    changes = [decide(db, row, row[1] in shared, now.timestamp(), target).change for row in rows]
    if Change.DONE not in changes:
        return CartChanged(Change.NOT_FOUND, cart)
    db.execute("UPDATE carts SET state = ? WHERE id = ?", (to.value, cart_id))
    return CartChanged(Change.DONE, stored_cart(db, cart_id))


def stored_cart(db: sqlite3.Connection, cart_id: str) -> StoredCart | None:
    row = db.execute(f"SELECT {CART_COLUMNS} FROM carts WHERE id = ?", (cart_id,)).fetchone()
    if row is None:
        return None
    usages = db.execute(f"SELECT {COLUMNS} FROM usages WHERE cart = ? ORDER BY seq", (cart_id,)).fetchall()
    entry = cart_entry(row)
    return StoredCart(
        id=entry.id,
        user=entry.user,
        state=CartState(row[2]),
        used_at=entry.used_at,
        hold_until=entry.hold_until,
        summary=entry.summary,
        usages=tuple(usage_of_row(usage) for usage in usages),
    )


def cart_entry(row: tuple[object, ...]) -> CartEntry:
    """A ``carts`` row (``CART_COLUMNS``) as the ledger takes it."""
    cart_id, user, _, used_at, hold_until, summary = row
    return CartEntry(
        id=str(cart_id),
        user=str(user),
        used_at=datetime.fromtimestamp(float(used_at), UTC),  # type: ignore[arg-type]
        hold_until=datetime.fromtimestamp(float(hold_until), UTC),  # type: ignore[arg-type]
        summary=bytes(summary),  # type: ignore[call-overload]
    )
