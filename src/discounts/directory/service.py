"""Upserts of the marketplace's brands and users; the marketplace is the source of truth."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.directory.models import Brand, User
from discounts.directory.schemas import BrandIn, BulkUserIn, UserIn
from discounts.errors import BrandNotFound, InvalidInput, UserNotFound

#: Rows per statement in a bulk upsert; keeps SQLite under its bound-parameter limit.
BULK_BATCH = 1000


async def put_brand(session: AsyncSession, brand_id: str, data: BrandIn, now: datetime) -> tuple[Brand, bool]:
    """Create or replace a brand; True when it was created."""
    brand = await session.get(Brand, brand_id)
    created = brand is None
    if brand is None:
        brand = Brand(id=brand_id, created_at=now)
        session.add(brand)
    brand.name, brand.email, brand.updated_at = data.name, str(data.email), now
    await session.flush()
    return brand, created


async def get_brand(session: AsyncSession, brand_id: str) -> Brand:
    brand = await session.get(Brand, brand_id)
    if brand is None:
        raise BrandNotFound(f"no brand {brand_id!r}")
    return brand


async def put_user(session: AsyncSession, user_id: str, data: UserIn, now: datetime) -> tuple[User, bool]:
    user = await session.get(User, user_id)
    created = user is None
    if user is None:
        user = User(id=user_id, created_at=now, unsubscribed=False)
        session.add(user)
    user.email, user.group, user.updated_at = str(data.email), data.group, now
    if data.unsubscribed is not None:
        user.unsubscribed = data.unsubscribed
    await session.flush()
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
        batch = users[start : start + BULK_BATCH]
        existing = {
            row.id: row for row in await session.scalars(select(User).where(User.id.in_([u.id for u in batch])))
        }
        for data in batch:
            row = existing.get(data.id)
            if row is None:
                created += 1
                row = User(id=data.id, created_at=now, unsubscribed=False)
                session.add(row)
            row.email, row.group, row.updated_at = str(data.email), data.group, now
            if data.unsubscribed is not None:
                row.unsubscribed = data.unsubscribed
        await session.flush()
        session.expunge_all()
    return created, len(users) - created


async def set_unsubscribed(session: AsyncSession, user_id: str, unsubscribed: bool, now: datetime) -> User:
    user = await get_user(session, user_id)
    user.unsubscribed, user.updated_at = unsubscribed, now
    await session.flush()
    return user
