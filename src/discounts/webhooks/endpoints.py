"""Endpoints: who may make, see and change which, and their secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal, Role
from discounts.errors import InvalidInput, WebhookNotFound
from discounts.events.outbox import SUBSCRIBABLE
from discounts.webhooks import addresses
from discounts.webhooks.models import WebhookAttempt, WebhookEndpoint
from discounts.webhooks.schemas import AttemptOut, EndpointIn, EndpointOut, EndpointPatch, EndpointWithSecret
from discounts.webhooks.signing import new_secret

#: After a rotation, deliveries are signed with the old secret too for this long.
ROTATION_OVERLAP = timedelta(hours=24)
#: The most attempts the deliveries log lists.
LOG_LENGTH = 100


def owner_of(principal: Principal) -> tuple[str, str, str | None]:
    """(role, owner, brand): a brand's endpoints belong to the brand and get its events; a service's get all."""
    principal.require(Role.brand, Role.service)
    if principal.role is Role.brand:
        assert principal.brand is not None
        return Role.brand.value, principal.brand, principal.brand
    return Role.service.value, principal.sub, None


def events_of(endpoint: WebhookEndpoint) -> list[str]:
    return list(SUBSCRIBABLE) if endpoint.events is None else orjson.loads(endpoint.events)


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=events_of(endpoint),
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
    )


def with_secret(endpoint: WebhookEndpoint) -> EndpointWithSecret:
    return EndpointWithSecret(**endpoint_out(endpoint).model_dump(), secret=endpoint.secret)


async def _check_url(url: str, allow_private: bool) -> None:
    try:
        await addresses.check_on_save(url, allow_private)
    except addresses.Forbidden as refused:
        raise InvalidInput("url", str(refused)) from None


def _events_column(events: Sequence[str] | None) -> str | None:
    return None if events is None else orjson.dumps(list(dict.fromkeys(events))).decode()


async def create_endpoint(
    session: AsyncSession, principal: Principal, data: EndpointIn, now: datetime, *, allow_private: bool
) -> WebhookEndpoint:
    role, owner, brand = owner_of(principal)
    await _check_url(data.url, allow_private)
    endpoint = WebhookEndpoint(
        id=f"wh_{uuid.uuid4().hex}",
        owner_role=role,
        owner=owner,
        brand=brand,
        url=data.url,
        events=_events_column(data.events),
        description=data.description,
        enabled=True,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def list_endpoints(session: AsyncSession, principal: Principal) -> list[WebhookEndpoint]:
    role, owner, _ = owner_of(principal)
    query = select(WebhookEndpoint).where(WebhookEndpoint.owner_role == role, WebhookEndpoint.owner == owner)
    return list((await session.scalars(query.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))).all())


async def get_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    """One of the principal's endpoints; anyone else's is not found, like an unknown one."""
    role, owner, _ = owner_of(principal)
    endpoint = await session.get(WebhookEndpoint, endpoint_id) if len(endpoint_id) <= 40 else None
    if endpoint is None or endpoint.owner_role != role or endpoint.owner != owner:
        raise WebhookNotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: str,
    patch: EndpointPatch,
    now: datetime,
    *,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    given = patch.model_fields_set
    if "url" in given and patch.url is not None:
        await _check_url(patch.url, allow_private)
        endpoint.url = patch.url
    if "events" in given:
        endpoint.events = _events_column(patch.events)
    if "description" in given:
        endpoint.description = patch.description
    if "enabled" in given and patch.enabled is not None:
        endpoint.enabled = patch.enabled
        endpoint.disabled_reason = None
        if patch.enabled:
            endpoint.failing_since = None
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, principal: Principal, endpoint_id: str) -> None:
    """The endpoint, its deliveries still owed and its log go (nothing more is sent to it)."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, principal: Principal, endpoint_id: str, now: datetime
) -> WebhookEndpoint:
    """A new secret; for 24 hours deliveries carry a signature with each, so receivers can switch."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    endpoint.previous_secret, endpoint.previous_until = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    await session.flush()
    return endpoint


def signing_keys(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
        keys.append(endpoint.previous_secret)
    return keys


async def attempts(session: AsyncSession, principal: Principal, endpoint_id: str) -> list[AttemptOut]:
    """The endpoint's latest attempts, newest first."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.endpoint_id == endpoint.id)
        .order_by(WebhookAttempt.id.desc())
        .limit(LOG_LENGTH)
    )
    return [
        AttemptOut(event=a.event_id, type=a.type, attempt=a.attempt, status=a.status, error=a.error, at=a.at)
        for a in (await session.scalars(query)).all()
    ]
