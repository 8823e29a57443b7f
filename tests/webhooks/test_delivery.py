"""Events reach a real receiver, signed as Standard Webhooks says; retries, redirects, SSRF, health."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.events.dispatch import dispatch
from discounts.events.models import Mark
from discounts.jobs.listeners import LISTENERS
from discounts.runtime import Runtime
from discounts.usage.ledger import copy_to_ledger
from discounts.webhooks.deliverer import CLAIM_AHEAD_SECONDS, Deliverer, Lane
from discounts.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import Api, FakeClock
from tests.webhooks.receiver import Receiver


class Pipeline:
    """What the worker and the deliverer do, stepped by the test: copy, dispatch, deliver."""

    def __init__(self, runtime: Runtime, clock: FakeClock, *, allow_private: bool = True) -> None:
        self.runtime, self.clock = runtime, clock
        self.disabled: list[tuple[str, str, datetime]] = []

        async def on_disabled(brand: str, url: str, since: datetime) -> None:
            self.disabled.append((brand, url, since))

        self.deliverer = Deliverer(
            runtime.sessions,
            concurrency=2,
            allow_private=allow_private,
            poll_seconds=0.01,
            clock=clock,
            on_disabled=on_disabled,
        )

    async def run(self) -> int:
        await copy_to_ledger(self.runtime.store, self.runtime.sessions, 1000, self.runtime.drains, self.clock)
        await dispatch(self.runtime.sessions, LISTENERS, self.clock())
        claimed = await self.deliverer.pass_once()
        await self.deliverer.settle()
        return claimed


@pytest.fixture
async def pipeline(app: FastAPI, clock: FakeClock) -> AsyncIterator[Pipeline]:
    runtime: Runtime = app.state.runtime
    async with runtime.sessions() as session:  # this database's holds all end after the mark
        await session.execute(delete(Mark))
        await session.commit()
    found = Pipeline(runtime, clock)
    yield found
    await found.deliverer.close()


async def make_code(api: Api, code: str, rule: dict[str, Any]) -> None:
    body = {"id": code, "rule": rule, "validity": "2027-05-31T23:59:59Z"}
    made = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())
    assert made.status_code == 201, made.text


async def subscribe(api: Api, url: str, events: list[str] | None = None, **headers: str) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url} if events is None else {"url": url, "events": events}
    made = await api.client.post("/api/v1/webhooks/", json=body, headers=headers or api.auth.brand())
    assert made.status_code == 201, made.text
    endpoint: dict[str, Any] = made.json()
    return endpoint


async def test_a_new_code_reaches_the_receiver_signed_with_its_body(
    api: Api, pipeline: Pipeline, receiver: Receiver
) -> None:
    await api.brand()
    endpoint = await subscribe(api, receiver.url)
    created = await api.code("SPRING")
    assert await pipeline.run() == 1
    (call,) = receiver.events()
    verified = call.verify(endpoint["secret"])
    assert verified == {"type": "code.created", "timestamp": created["created_at"], "data": created}
    assert call.headers["webhook-id"].startswith("evt_")
    assert call.headers["content-type"] == "application/json"
    log = await api.client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", headers=api.auth.brand())
    assert log.json() == [
        {
            "event": call.headers["webhook-id"],
            "type": "code.created",
            "attempt": 1,
            "status": 204,
            "error": None,
            "at": log.json()[0]["at"],
        }
    ]
    assert await pipeline.run() == 0  # delivered once


async def test_uses_holds_and_give_backs_are_sent_with_the_usage_as_answered(
    api: Api, pipeline: Pipeline, receiver: Receiver, clock: FakeClock
) -> None:
    await api.brand()
    await api.user("u-1")
    endpoint = await subscribe(api, receiver.url, ["usage.used", "usage.held", "usage.released"])
    await make_code(api, "SPRING", {"brand": "acme", "discount": 10, "max_uses_per_user": 3})
    used = await api.redeem("SPRING", amount="120.00")
    held = await api.redeem("SPRING", amount="50.00", hold=True)
    assert (used.status_code, held.status_code) == (201, 201)
    await pipeline.run()
    assert [r.verify(endpoint["secret"])["data"] for r in receiver.events("usage.used")] == [used.json()]
    assert [r.event["data"] for r in receiver.events("usage.held")] == [held.json()]
    gone = await api.client.delete(f"/api/v1/discountcodeusage/{used.json()['id']}/", headers=api.auth.user())
    assert gone.status_code == 204
    clock.advance(seconds=901)  # the hold ends by itself
    await pipeline.run()
    released = sorted((r.event["data"] for r in receiver.events("usage.released")), key=lambda d: d["status"])
    assert [(d["id"], d["status"]) for d in released] == [
        (held.json()["id"], "expired"),
        (used.json()["id"], "rolled_back"),
    ]
    assert released[0]["at"] == held.json()["hold_expires_at"]
    await pipeline.run()
    assert len(receiver.events()) == 4  # nothing twice


async def test_refusals_and_replays_make_no_events(api: Api, pipeline: Pipeline, receiver: Receiver) -> None:
    await api.brand()
    await subscribe(api, receiver.url)
    body = {"id": "ONCE", "rule": {"brand": "acme", "discount": 10}, "validity": "2027-05-31T23:59:59Z"}
    keyed = {**api.auth.brand(), "Idempotency-Key": "k-1"}
    first = await api.client.post("/api/v1/discountcode/", json=body, headers=keyed)
    replay = await api.client.post("/api/v1/discountcode/", json=body, headers=keyed)
    assert (first.status_code, replay.headers.get("idempotent-replayed")) == (201, "true")
    taken = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())
    assert taken.status_code == 409
    await api.user("u-1")
    assert (await api.redeem("ONCE", amount="10.00")).status_code == 201
    assert (await api.redeem("ONCE", amount="10.00")).status_code == 409
    await pipeline.run()
    assert sorted(r.event["type"] for r in receiver.events()) == ["code.created", "usage.used"]  # in any order


async def test_a_code_that_runs_out_is_announced_once_per_limit(
    api: Api, pipeline: Pipeline, receiver: Receiver
) -> None:
    await api.brand()
    await subscribe(api, receiver.url, ["code.exhausted"])
    await make_code(api, "TWO", {"brand": "acme", "discount": 10, "max_uses": 2})
    await make_code(api, "BUDGET", {"brand": "acme", "amount_off": "10.00", "currency": "EUR", "budget": "25.00"})
    for user in ("u-1", "u-2", "u-3"):
        await api.user(user)
        await api.redeem("TWO", user=user, amount="10.00")
        await api.redeem("BUDGET", user=user, amount="100.00", currency="EUR")
    await pipeline.run()
    assert [(r.event["data"]["code"], r.event["data"]["reason"]) for r in receiver.events()] == [("TWO", "max_uses")]
    await api.user("u-4")
    small = await api.redeem("BUDGET", user="u-4", amount="5.00", currency="EUR")  # takes the last 5.00
    assert small.json()["discount_amount"] == "5.00"
    await pipeline.run()
    data = receiver.events()[-1].event["data"]
    assert (data["code"], data["brand"], data["reason"], data["at"]) == (
        "BUDGET",
        "acme",
        "budget",
        small.json()["used_at"],
    )


async def test_a_failure_is_retried_within_ten_seconds_and_a_redirect_is_not_followed(
    api: Api, pipeline: Pipeline, receiver: Receiver, clock: FakeClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await api.brand()
    endpoint = await subscribe(api, receiver.url)
    receiver.status, receiver.location = 302, "/elsewhere"
    await api.code("SPRING")
    await pipeline.run()
    receiver.status, receiver.location = 500, None
    async with sessions() as session:
        (delivery,) = (await session.scalars(select(WebhookDelivery))).all()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert clock() + timedelta(seconds=4) <= delivery.next_at <= clock() + timedelta(seconds=6)
    assert await pipeline.run() == 0  # not due yet
    clock.advance(seconds=6)
    await pipeline.run()
    receiver.status = 200
    clock.advance(seconds=36)
    await pipeline.run()
    log = (await api.client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", headers=api.auth.brand())).json()
    assert [(a["attempt"], a["status"], a["error"]) for a in log] == [
        (3, 200, None),
        (2, 500, None),
        (1, 302, "redirects are not followed"),
    ]
    assert [r.headers["webhook-id"] for r in receiver.events()] == [log[0]["event"]] * 3
    assert [r.body for r in receiver.events()] == [receiver.events()[0].body] * 3


async def test_a_name_that_resolves_to_loopback_is_refused_when_the_delivery_connects(
    api: Api, app: FastAPI, clock: FakeClock, receiver: Receiver
) -> None:
    await api.brand()
    endpoint = await subscribe(api, f"http://localhost:{receiver.port}/hooks")  # saved while loopback was allowed
    await api.code("SPRING")
    strict = Pipeline(app.state.runtime, clock, allow_private=False)
    await strict.run()
    await strict.deliverer.close()
    assert receiver.events() == []
    (attempt,) = (
        await api.client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", headers=api.auth.brand())
    ).json()
    assert attempt["status"] is None
    assert attempt["error"].startswith("address refused: localhost resolves to ")


async def test_during_a_rotation_both_secrets_verify(api: Api, pipeline: Pipeline, receiver: Receiver) -> None:
    await api.brand()
    endpoint = await subscribe(api, receiver.url)
    rotated = (await api.client.post(f"/api/v1/webhooks/{endpoint['id']}/secret/", headers=api.auth.brand())).json()
    await api.code("SPRING")
    await pipeline.run()
    (call,) = receiver.events()
    assert len(call.headers["webhook-signature"].split(" ")) == 2
    assert call.verify(endpoint["secret"]) == call.verify(rotated["secret"])


async def test_an_endpoint_failing_for_three_days_is_disabled_and_its_brand_told(
    api: Api, pipeline: Pipeline, receiver: Receiver, clock: FakeClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await api.brand()
    endpoint = await subscribe(api, receiver.url)
    receiver.status = 503
    await api.code("SPRING")
    await pipeline.run()
    since = clock()
    async with sessions() as session:
        await session.execute(update(WebhookDelivery).values(next_at=since + timedelta(days=3)))
        await session.commit()
    clock.advance(days=3)
    await pipeline.run()
    async with sessions() as session:
        found = await session.get_one(WebhookEndpoint, endpoint["id"])
    assert (found.enabled, found.disabled_reason) == (False, "every attempt failed for 3 days")
    assert pipeline.disabled == [("acme", receiver.url, since)]
    again = await api.client.patch(
        f"/api/v1/webhooks/{endpoint['id']}/", json={"enabled": True}, headers=api.auth.brand()
    )
    assert (again.json()["enabled"], again.json()["disabled_reason"]) == (True, None)


class HeldReceiver(Receiver):
    """A receiver whose answers wait until ``release`` is set; ``both_waiting`` once two requests do."""

    def __init__(self) -> None:
        super().__init__()
        self.release, self.both_waiting = threading.Event(), threading.Event()
        self.waiting: list[int] = []
        original = self.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

        def held(handler: Any) -> None:
            self.waiting.append(1)
            if len(self.waiting) >= 2:
                self.both_waiting.set()
            self.release.wait(20)
            original(handler)

        self.server.RequestHandlerClass.do_POST = held  # type: ignore[attr-defined]

    def start(self) -> HeldReceiver:
        super().start()
        return self


async def test_an_endpoint_that_hangs_holds_up_no_other(api: Api, pipeline: Pipeline, receiver: Receiver) -> None:
    """Concurrency per endpoint: the hanging one's lane is full, the other's deliveries all go meanwhile."""
    await api.brand()
    hanging = HeldReceiver().start()
    try:
        await subscribe(api, hanging.url)
        await subscribe(api, receiver.url)
        for n in range(5):
            await api.code(f"CODE{n}")
        await copy_and_dispatch(pipeline)
        await pipeline.deliverer.pass_once()
        await receiver.arrived(5)
        # Its lane of two still waits for the first answers. Both requests are under way, but
        # the second may not have reached the receiver's handler yet: wait for it, then check
        # that no third came.
        await asyncio.to_thread(hanging.both_waiting.wait, 10)
        assert (hanging.events(), len(hanging.waiting)) == ([], 2)
    finally:
        hanging.release.set()
        await pipeline.deliverer.settle()
        hanging.stop()
    assert len(hanging.events()) == 5  # and once it answers, the rest follow


async def copy_and_dispatch(pipeline: Pipeline) -> None:
    await dispatch(pipeline.runtime.sessions, LISTENERS, pipeline.clock())


async def test_a_claimed_delivery_that_waited_past_its_lease_is_not_sent_but_claimed_again(
    api: Api, pipeline: Pipeline, clock: FakeClock
) -> None:
    """A lane claims ahead; what waited in it so long that an attempt could outlast the lease is dropped.

    Another deliverer may claim it once the lease ends: sending it then too would send it twice at once.
    """
    await api.brand()
    hanging = HeldReceiver().start()
    try:
        await subscribe(api, hanging.url, ["code.created"])
        for n in range(5):
            await api.code(f"LATE{n}")
        await copy_and_dispatch(pipeline)
        assert await pipeline.deliverer.pass_once() == 5  # two in flight (the lane's two), three waiting
        assert await asyncio.to_thread(hanging.both_waiting.wait, 10)
        clock.advance(seconds=55)  # the three could not end within their lease any more
        hanging.release.set()
        await pipeline.deliverer.settle()
        assert len(hanging.events()) == 2
        assert await pipeline.deliverer.pass_once() == 0  # still leased: nobody takes them yet
        clock.advance(seconds=6)
        assert await pipeline.deliverer.pass_once() == 3
        await pipeline.deliverer.settle()
    finally:
        hanging.release.set()
        hanging.stop()
    ids = [event.headers["webhook-id"] for event in hanging.events()]
    assert len(ids) == len(set(ids)) == 5


def test_a_lane_that_keeps_up_claims_what_it_sent_lately_and_a_slow_one_its_least() -> None:
    lane = Lane(endpoint=None)  # type: ignore[arg-type]
    assert lane.window(24) == 24
    for _ in range(300):
        lane.attempted()
    assert lane.window(24) == 300
    lane.ended = deque(at - CLAIM_AHEAD_SECONDS - 1 for at in lane.ended)  # all of them long ago
    assert lane.window(24) == 24
