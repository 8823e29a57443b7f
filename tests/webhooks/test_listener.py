"""The webhooks' listener: which endpoints owe which events, written by the database itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.events import outbox
from discounts.events.dispatch import dispatch
from discounts.events.models import Event
from discounts.events.outbox import EventType, Happened
from discounts.webhooks.listener import on_events
from discounts.webhooks.models import WebhookDelivery, WebhookEndpoint

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def endpoint(id_: str, brand: str | None, events: str | None, enabled: bool = True) -> WebhookEndpoint:
    owner_role, owner = ("brand", brand) if brand else ("service", "marketplace")
    return WebhookEndpoint(
        id=id_,
        owner_role=owner_role,
        owner=owner,
        brand=brand,
        url="https://hooks.example.com/",
        events=events,
        enabled=enabled,
        secret="whsec_test",
        created_at=NOW,
        updated_at=NOW,
    )


async def test_each_enabled_endpoint_owes_exactly_the_events_of_its_brand_and_types_in_their_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as uow:
        uow.session.add_all(
            [
                endpoint("ep_acme_used", "acme", '["usage.used"]'),
                endpoint("ep_acme_all", "acme", None),
                endpoint("ep_bolt_used", "bolt", '["usage.used"]'),
                endpoint("ep_market", None, '["usage.used", "code.created"]'),
                endpoint("ep_off", "acme", None, enabled=False),
            ]
        )
    happened = [
        Happened(EventType.USAGE_USED, "acme", {"n": 1}, NOW),
        Happened(EventType.CODE_CREATED, "acme", {"n": 2}, NOW),
        Happened(EventType.USAGE_USED, "bolt", {"n": 3}, NOW),
        Happened(EventType.USAGE_HELD, "acme", {"n": 4}, NOW),
        Happened(EventType.USAGE_USED, "acme", {"n": 5}, NOW),
    ]
    async with unit_of_work(sessions) as uow:
        await outbox.write(uow.session, happened, NOW)

    assert await dispatch(sessions, [on_events], NOW) == 5

    async with sessions() as session:
        seqs = (await session.scalars(select(Event.seq).order_by(Event.seq))).all()
        ns = {seq: n for n, seq in enumerate(seqs, start=1)}  # the events as numbered above
        rows = (await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all()
    owed: dict[str, list[int]] = {}
    for row in rows:
        owed.setdefault(row.endpoint_id, []).append(ns[row.event_seq])
        assert (row.state, row.attempts, row.next_at, row.created_at) == ("pending", 0, NOW, NOW)
    assert owed == {
        "ep_acme_used": [1, 5],
        "ep_acme_all": [1, 2, 4, 5],
        "ep_bolt_used": [3],
        "ep_market": [1, 2, 3, 5],
    }


async def test_a_dispatch_with_no_endpoint_owes_nothing_and_a_second_dispatch_adds_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as uow:
        await outbox.write(uow.session, [Happened(EventType.USAGE_USED, "acme", {}, NOW)], NOW)
    assert await dispatch(sessions, [on_events], NOW) == 1
    async with unit_of_work(sessions) as uow:
        uow.session.add(endpoint("ep_late", "acme", None))
    assert await dispatch(sessions, [on_events], NOW) == 0
    async with sessions() as session:
        assert (await session.scalars(select(WebhookDelivery))).all() == []
