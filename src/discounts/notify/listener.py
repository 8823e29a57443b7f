"""E-mail as a listener of events: a new code is announced to its audience, a batch's codes distributed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from discounts.db import UnitOfWork
from discounts.events.models import Event
from discounts.events.outbox import EventType
from discounts.notify.fanout import schedule_fanout
from discounts.notify.handout import batch_subject


async def on_events(uow: UnitOfWork, events: Sequence[Event], now: datetime) -> None:
    """Queue the fan-outs the events call for, in the dispatch's transaction (the digest reads the ledger itself)."""
    for event in events:
        if event.type == EventType.CODE_CREATED:
            await schedule_fanout(uow, orjson.loads(event.payload)["data"]["id"], now)
        elif event.type == EventType.BATCH_DONE:
            batch = orjson.loads(event.payload)["data"]
            if batch["distribute"]:
                await schedule_fanout(uow, batch_subject(batch["id"]), now)
