"""Webhooks as a listener of events: a delivery owed to each enabled endpoint that wants the event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from discounts.db import UnitOfWork
from discounts.events.models import Event
from discounts.webhooks.endpoints import events_of
from discounts.webhooks.models import WebhookDelivery, WebhookEndpoint

ROWS_PER_STATEMENT = 1000


async def on_events(uow: UnitOfWork, events: Sequence[Event], now: datetime) -> None:
    """Deliveries due now, in the dispatch's transaction: an event is owed exactly where it was heard."""
    found = (await uow.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).all()
    wanted = [(endpoint.id, endpoint.brand, frozenset(events_of(endpoint))) for endpoint in found]
    if not wanted:
        return
    rows: list[dict[str, Any]] = [
        {"endpoint_id": endpoint, "event_seq": event.seq, "state": "pending", "attempts": 0, "next_at": now}
        for event in events
        for endpoint, brand, types in wanted
        if event.type in types and (brand is None or brand == event.brand)
    ]
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = [{**row, "created_at": now} for row in rows[start : start + ROWS_PER_STATEMENT]]
        await uow.session.execute(insert(WebhookDelivery), part)
