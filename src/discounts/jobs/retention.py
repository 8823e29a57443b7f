"""The hourly retention run of the outbox and the webhooks: what the ``forget-events`` task does."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import DELETE_BATCH
from discounts.events.retention import forget_events
from discounts.jobs.listeners import EVENT_HOLDERS
from discounts.settings import Settings
from discounts.webhooks.retention import forget_webhooks


async def forget_old_events(
    sessions: async_sessionmaker[AsyncSession], now: datetime, settings: Settings, batch: int = DELETE_BATCH
) -> dict[str, int]:
    """Webhooks first, so that an event whose last delivery goes in this run can go in it too."""
    webhooks = await forget_webhooks(sessions, now - timedelta(days=settings.webhook_retention_days), batch=batch)
    events_before = now - timedelta(days=settings.event_retention_days)
    events = await forget_events(sessions, events_before, EVENT_HOLDERS, batch=batch)
    return {"deliveries": webhooks.deliveries, "attempts": webhooks.attempts, "events": events}
