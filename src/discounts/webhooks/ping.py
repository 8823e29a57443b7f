"""``POST /webhooks/{id}/test/``: a ``ping`` sent now, once, whatever the endpoint subscribed to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal
from discounts.clock import utcnow
from discounts.events.outbox import EventType, Happened, event_id, payload
from discounts.webhooks import sender
from discounts.webhooks.endpoints import get_endpoint, signing_keys
from discounts.webhooks.models import WebhookAttempt
from discounts.webhooks.schemas import AttemptOut
from discounts.webhooks.signing import headers


async def send_ping(
    session: AsyncSession, principal: Principal, endpoint_id: str, now: datetime, *, allow_private: bool
) -> AttemptOut:
    """Send it and log it; not retried (a test shows what the endpoint answers now)."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    ping = event_id()
    body = payload(Happened(EventType.PING, endpoint.brand, {}, now)).encode()
    async with sender.new_client() as client:
        signed = headers(ping, body, signing_keys(endpoint, now), utcnow())
        answer = await sender.post(client, endpoint.url, body, signed, allow_private=allow_private)
    attempt = WebhookAttempt(
        endpoint_id=endpoint.id, event_id=ping, type="ping", attempt=1, status=answer.status, error=answer.error, at=now
    )
    session.add(attempt)
    await session.flush()
    return AttemptOut(event=ping, type="ping", attempt=1, status=answer.status, error=answer.error, at=now)
