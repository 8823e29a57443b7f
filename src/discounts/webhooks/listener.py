"""Webhooks as a listener of events: a delivery owed to each enabled endpoint that wants the event.

The rows are written by the database from the events themselves (``INSERT … SELECT``), one
statement per endpoint: in a flash sale this runs for every use, beside the checkout on the
same machines, and building a row per use in Python cost the worker twice what the insert
cost PostgreSQL (benchmarks/README.md, "The hot path with an endpoint subscribed").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, literal, select

from discounts.db import UnitOfWork, UTCDateTime
from discounts.events.models import Event
from discounts.webhooks.endpoints import events_of
from discounts.webhooks.models import WebhookDelivery, WebhookEndpoint

#: Events one statement names (a dispatch hands over at most ``DISPATCH_BATCH`` = 1,000).
SEQS_PER_STATEMENT = 1000
COLUMNS = ("endpoint_id", "event_seq", "state", "attempts", "next_at", "created_at")


async def on_events(uow: UnitOfWork, events: Sequence[Event], now: datetime) -> None:
    """Deliveries due now, in the dispatch's transaction: an event is owed exactly where it was heard."""
    found = (await uow.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))).all()
    for endpoint in found:
        types = frozenset(events_of(endpoint))
        brand = endpoint.brand
        seqs = [e.seq for e in events if e.type in types and (brand is None or brand == e.brand)]
        for start in range(0, len(seqs), SEQS_PER_STATEMENT):
            due, created = literal(now, UTCDateTime()), literal(now, UTCDateTime())
            owed = (
                select(literal(endpoint.id), Event.seq, literal("pending"), literal(0), due, created)
                .where(Event.seq.in_(seqs[start : start + SEQS_PER_STATEMENT]))
                .order_by(Event.seq)  # ids in the events' order
            )
            await uow.session.execute(insert(WebhookDelivery).from_select(COLUMNS, owed))
