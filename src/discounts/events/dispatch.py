"""Handing recorded events to their listeners: the message bus, without its ceremony.

A listener is an async function ``(uow, events, now)`` that turns events into durable work of its
own (a fan-out row, webhook deliveries) in the dispatch's transaction. The events are claimed
and marked dispatched in that same transaction, so each is heard by every listener exactly once
— a crash before the commit leaves it undispatched for the next run, a crash after it has
every listener's work committed. Which listeners there are is the worker's wiring
(``jobs/listeners.py``): adding one touches no domain module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import UnitOfWork, unit_of_work
from discounts.events.models import Event

Listener = Callable[[UnitOfWork, Sequence[Event], datetime], Awaitable[None]]

#: Events one transaction hands to the listeners.
DISPATCH_BATCH = 1000


async def dispatch_once(
    sessions: async_sessionmaker[AsyncSession],
    listeners: Sequence[Listener],
    now: datetime,
    limit: int = DISPATCH_BATCH,
) -> int:
    """Claim up to ``limit`` undispatched events, oldest first, and hand them to every listener."""
    waiting = select(Event.seq).where(Event.dispatched_at.is_(None)).order_by(Event.seq).limit(limit)
    # Two dispatchers skip each other's rows on PostgreSQL; SQLite's write lock takes them in turn.
    claim = (
        update(Event)
        .where(Event.seq.in_(waiting.with_for_update(skip_locked=True).scalar_subquery()))
        .where(Event.dispatched_at.is_(None))
        .values(dispatched_at=now)
        .returning(Event)
        .execution_options(synchronize_session=False)
    )
    async with unit_of_work(sessions) as uow:
        events = sorted((await uow.session.scalars(claim)).all(), key=lambda event: event.seq)
        if events:
            for listener in listeners:
                await listener(uow, events, now)
    return len(events)


async def dispatch(
    sessions: async_sessionmaker[AsyncSession], listeners: Sequence[Listener], now: datetime, most: int = 100
) -> int:
    """Dispatch while full batches come back (at most ``most`` of them a run); returns how many events."""
    total = 0
    for _ in range(most):
        done = await dispatch_once(sessions, listeners, now)
        total += done
        if done < DISPATCH_BATCH:
            break
    return total
