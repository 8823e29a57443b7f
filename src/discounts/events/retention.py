"""Forgetting dispatched events: the outbox keeps an event ``DISCOUNTS_EVENT_RETENTION_DAYS`` after its dispatch.

An event's row is there to be heard once by every listener; once dispatched, each listener's own
work (a fan-out row, webhook deliveries) holds what it needs. Kept for ever, the outbox would
grow by a row or more for every usage.

Two kinds of event stay whatever their age:

- one not yet dispatched: nothing acknowledged is lost, however long the dispatch was down;
- one that a listener's row still references (a holder: ``webhook_deliveries.event_seq``). A
  webhook delivery reads its event's payload at each attempt, so the event goes only once its
  last delivery has (``webhooks/retention.py``). The foreign key stays a plain one (no action on
  delete) on purpose: ``ON DELETE CASCADE`` would delete deliveries still owed with their event,
  ``SET NULL`` would leave them nothing to send. Should a holder ever be missed here, the key
  refuses the delete and the run fails loudly; nothing owed is lost.

Which holders there are is the worker's wiring (``jobs/listeners.py``), as the listeners are:
this module knows no listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from discounts.db import DELETE_BATCH, DELETE_PER_RUN, unit_of_work
from discounts.events.models import Event

#: A column of a listener's table that references ``events.seq``.
Holder = InstrumentedAttribute[int]


async def forget_events(
    sessions: async_sessionmaker[AsyncSession],
    before: datetime,
    holders: Sequence[Holder],
    *,
    batch: int = DELETE_BATCH,
    per_run: int = DELETE_PER_RUN,
) -> int:
    """Delete the events dispatched ``before`` then that no holder references; returns how many went.

    The run walks the old dispatched events in (dispatched_at, seq) order, a page of ``batch`` at
    a time (``ix_events_dispatched``), and deletes each page's unheld ones in a transaction of
    its own. Walking on from the last page, rather than starting again at the oldest, passes
    each held event once a run: the events of a delivery that is still retrying do not make
    every page read them again. It stops at the end, or after the batch that reaches ``per_run``.
    """
    deleted = 0
    after: tuple[Any, ...] | None = None
    while deleted < per_run:
        page = select(Event.dispatched_at, Event.seq).where(Event.dispatched_at < before)
        if after is not None:
            page = page.where(tuple_(Event.dispatched_at, Event.seq) > after)
        page = page.order_by(Event.dispatched_at, Event.seq).limit(batch)
        async with unit_of_work(sessions) as uow:
            found = (await uow.session.execute(page)).all()
            if not found:
                break
            gone = delete(Event).where(Event.seq.in_([seq for _, seq in found]), Event.dispatched_at < before)
            for holder in holders:
                gone = gone.where(~exists().where(holder == Event.seq))
            deleted += cast("CursorResult[Any]", await uow.session.execute(gone)).rowcount
        if len(found) < batch:
            break
        after = tuple(found[-1])
    return deleted
