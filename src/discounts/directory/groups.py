"""Each user's group, for codes limited to one group: read at redemption, kept for a while.

A code limited to a group checks the redeeming user's group, which lives in the directory.
A flash sale on such a code would otherwise be one query per redemption; a user's group is
kept for ``ttl`` seconds (``DISCOUNTS_CODE_CACHE_SECONDS``), and concurrent lookups of one
user share a single query. A user moved to another group is seen as such within that time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.directory.models import User


class UserGroups:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ttl: float,
        max_size: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions, self._ttl, self._max, self._clock = sessions, ttl, max_size, clock
        self._known: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._loading: dict[str, asyncio.Task[str | None]] = {}

    async def group_of(self, user: str) -> str | None:
        """The user's group; None for a user without one or not in the directory."""
        known = self._known.get(user)
        if known is not None and self._clock() <= known[0]:
            return known[1]
        task = self._loading.get(user)
        if task is None:
            task = asyncio.ensure_future(self._load(user))
            self._loading[user] = task
            task.add_done_callback(lambda _: self._loading.pop(user, None))
        return await asyncio.shield(task)

    async def _load(self, user: str) -> str | None:
        async with self._sessions() as session:
            group = await session.scalar(select(User.group).where(User.id == user))
        if self._ttl > 0:
            self._known.pop(user, None)
            if len(self._known) >= self._max:
                self._known.popitem(last=False)
            self._known[user] = (self._clock() + self._ttl, group)
        return group
