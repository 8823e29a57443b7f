"""Forgetting finished webhook deliveries and old attempts, ``DISCOUNTS_WEBHOOK_RETENTION_DAYS`` after them.

A delivery row is the durable schedule of what an endpoint is still owed (``deliverer.py``).
Once it is finished — ``delivered`` (a 2xx) or ``failed`` (every retry spent) — nothing reads it
again: its outcome is in the attempts log and the metrics. A delivery still owed (``pending``:
due, waiting for a retry, or leased by a deliverer) is never deleted, whatever its age; nor is
one of a disabled endpoint, which stays pending and goes out if the endpoint is enabled again.
An endpoint's deletion takes its rows with it (``ON DELETE CASCADE``), so no state is left for
"endpoint gone".

The attempts log (``GET /webhooks/{id}/deliveries/``, the latest 100 per endpoint) is history,
not work: an attempt goes once it is as old, whatever became of its delivery, so a quiet
endpoint's log simply lists fewer. Once a delivery has gone its event may go too
(``events/retention.py``): run this first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import DELETE_BATCH, DELETE_PER_RUN, delete_in_batches
from discounts.webhooks.models import WebhookAttempt, WebhookDelivery

#: The states a delivery ends in; any other (``pending``) is still owed.
FINISHED_STATES = ("delivered", "failed")


@dataclass(frozen=True, slots=True)
class Forgotten:
    deliveries: int
    attempts: int


async def forget_webhooks(
    sessions: async_sessionmaker[AsyncSession],
    before: datetime,
    *,
    batch: int = DELETE_BATCH,
    per_run: int = DELETE_PER_RUN,
) -> Forgotten:
    """Delete the deliveries finished, and the attempts made, ``before`` then, oldest first.

    Each batch finds its rows through an index of the old ones (``ix_webhook_deliveries_finished``,
    ``ix_webhook_attempts_at``), never by a scan of the table.
    """
    finished = (WebhookDelivery.finished_at < before) & WebhookDelivery.state.in_(FINISHED_STATES)
    return Forgotten(
        deliveries=await delete_in_batches(
            sessions, WebhookDelivery.id, finished, WebhookDelivery.finished_at, batch, per_run
        ),
        attempts=await delete_in_batches(
            sessions, WebhookAttempt.id, WebhookAttempt.at < before, WebhookAttempt.at, batch, per_run
        ),
    )
