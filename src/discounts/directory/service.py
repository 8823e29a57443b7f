"""Upserts of the marketplace's brands and users; the marketplace is the source of truth.

Each upsert writes first (``INSERT … ON CONFLICT DO NOTHING``, then an UPDATE of the rows
that were there): two requests for the same new id never collide on the primary key, and
SQLite never has to turn a read transaction into a write one under a concurrent writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.db import dialect_insert
from discounts.directory.models import Brand, User
from discounts.directory.schemas import BrandIn, BulkUserIn, UserIn
from discounts.errors import BrandNotFound, InvalidInput, UserNotFound

#: Rows per statement in a bulk upsert; keeps SQLite under its bound-parameter limit.
BULK_BATCH = 1000


#: A row to insert if its id is new, and the changes (with the id) to apply if it is not.
Upsert = tuple[dict[str, Any], dict[str, Any]]


async def _upsert(session: AsyncSession, model: type[Brand | User], rows: list[Upsert]) -> set[str]:
    """Insert the new rows, update the others; returns the ids that were new."""
    statement = dialect_insert(session)(model).on_conflict_do_nothing(index_elements=["id"]).returning(model.id)
    created = set(await session.scalars(statement, [new for new, _ in rows]))
    changes = [change for new, change in rows if new["id"] not in created]
    for keys in {tuple(change) for change in changes}:  # one executemany per set of columns
        await session.execute(update(model), [change for change in changes if tuple(change) == keys])
    return created


async def put_brand(session: AsyncSession, brand_id: str, data: BrandIn, now: datetime) -> tuple[Brand, bool]:
    """Create or replace a brand; True when it was created."""
    change = {"id": brand_id, "name": data.name, "email": str(data.email), "updated_at": now}
    created = bool(await _upsert(session, Brand, [(change | {"created_at": now}, change)]))
    brand = await session.get(Brand, brand_id, populate_existing=True)
    assert brand is not None
    return brand, created


async def get_brand(session: AsyncSession, brand_id: str) -> Brand:
    brand = await session.get(Brand, brand_id)
    if brand is None:
        raise BrandNotFound(f"no brand {brand_id!r}")
    return brand


def _user_row(user_id: str, data: UserIn, now: datetime) -> Upsert:
    """An update changes ``unsubscribed`` only when given: the user's own click must not be undone by a sync."""
    change: dict[str, Any] = {"id": user_id, "email": str(data.email), "group": data.group, "updated_at": now}
    if data.unsubscribed is not None:
        change["unsubscribed"] = data.unsubscribed
    return {"unsubscribed": False, **change, "created_at": now}, change


async def put_user(session: AsyncSession, user_id: str, data: UserIn, now: datetime) -> tuple[User, bool]:
    created = bool(await _upsert(session, User, [_user_row(user_id, data, now)]))
    user = await session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user, created


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"no user {user_id!r}")
    return user


async def put_users(session: AsyncSession, users: Sequence[BulkUserIn], now: datetime) -> tuple[int, int]:
    """Bulk upsert; returns (created, updated). Duplicate ids in one request are refused."""
    seen: set[str] = set()
    for index, user in enumerate(users):
        if user.id in seen:
            raise InvalidInput(str(index), f"user {user.id!r} appears twice in the request")
        seen.add(user.id)
    created = 0
    for start in range(0, len(users), BULK_BATCH):
        rows = [_user_row(data.id, data, now) for data in users[start : start + BULK_BATCH]]
        created += len(await _upsert(session, User, rows))
    return created, len(users) - created


async def set_unsubscribed(session: AsyncSession, user_id: str, unsubscribed: bool, now: datetime) -> User:
    user = await get_user(session, user_id)
    user.unsubscribed, user.updated_at = unsubscribed, now
    await session.flush()
    return user
