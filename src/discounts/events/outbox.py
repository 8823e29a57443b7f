"""Recording events: a row in the outbox, in the caller's transaction, and a prompt dispatch after it commits.

This is the one way the domain says what happened. Whoever reacts — the e-mail fan-out, the
webhooks, anything added later — is a listener (``events/dispatch.py``), unknown to the domain.
An event exists exactly when its action committed: a refused request rolls back its event with
it, and a replayed ``Idempotency-Key`` answer runs no action, so it records none.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.background import DISPATCH_EVENTS, after_commit
from discounts.db import UnitOfWork
from discounts.events.models import Event
from discounts.fields import format_time


class EventType(enum.StrEnum):
    CODE_CREATED = "code.created"
    USAGE_USED = "usage.used"
    USAGE_HELD = "usage.held"
    USAGE_RELEASED = "usage.released"
    CODE_EXHAUSTED = "code.exhausted"
    BATCH_DONE = "batch.done"
    PING = "ping"


#: What an endpoint may subscribe to (a ping goes to one endpoint on request, whatever it subscribed).
SUBSCRIBABLE = tuple(t.value for t in EventType if t is not EventType.PING)


@dataclass(frozen=True, slots=True)
class Happened:
    """An event before it is written: its type, its brand, its data and when the action happened."""

    type: EventType
    brand: str | None
    data: Mapping[str, Any]
    at: datetime


def event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def payload(happened: Happened) -> str:
    """The body sent to every endpoint: Standard Webhooks' ``{"type", "timestamp", "data"}``."""
    body = {"type": happened.type.value, "timestamp": format_time(happened.at), "data": happened.data}
    return orjson.dumps(body).decode()


def rows(happenings: Iterable[Happened], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": event_id(),
            "type": h.type.value,
            "brand": h.brand,
            "occurred_at": h.at,
            "payload": payload(h),
            "recorded_at": now,
        }
        for h in happenings
    ]


async def write(session: AsyncSession, happenings: Iterable[Happened], now: datetime) -> int:
    """Add the events to the session's transaction (one statement); returns how many."""
    values = rows(happenings, now)
    if values:
        await session.execute(insert(Event), values)
    return len(values)


async def record(uow: UnitOfWork, happenings: Iterable[Happened], now: datetime) -> int:
    """Write the events in ``uow``'s transaction and have them dispatched as soon as it commits.

    Should that prompt dispatch be lost (a broker outage, a killed process), the periodic
    dispatch finds the rows: the outbox, not the message, is what makes an event durable.
    """
    written = await write(uow.session, happenings, now)
    if written:
        after_commit(uow, DISPATCH_EVENTS)
    return written
