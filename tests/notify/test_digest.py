"""Brand digests: every usage in exactly one digest, each digest e-mailed once, re-sent unchanged after a crash."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.notify.context import Notifier
from discounts.notify.digest import claim_usages, copy_usages, send_brand_digests
from discounts.notify.models import BrandDigest
from discounts.runtime import Runtime
from discounts.usage.ledger import insert_usages
from discounts.usage.models import DiscountUsage
from discounts.usage.store import Status, Usage
from tests.conftest import Api, FakeClock
from tests.notify.conftest import add_brand
from tests.notify.sink import SMTPSink

USE_LINE = re.compile(r"^- (\S+) by (\S+) at ", re.MULTILINE)


def usage(user: str, brand: str = "acme", code: str = "SPRING", minute: int = 0) -> Usage:
    return Usage(
        code=code,
        user=user,
        brand=brand,
        discount=10,
        amount=Decimal("120.00"),
        discount_amount=Decimal("12.00"),
        amount_to_pay=Decimal("108.00"),
        used_at=datetime(2026, 1, 15, 12, minute, tzinfo=UTC),
    )


async def add_usages(sessions: async_sessionmaker[AsyncSession], usages: list[Usage]) -> None:
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, usages)


def listed(sink: SMTPSink, to: str) -> list[tuple[str, str]]:
    return [
        pair
        for rcpt, message in sink.messages()
        if rcpt == to
        for pair in USE_LINE.findall(message.get_body(("plain",)).get_content())
    ]


async def test_one_message_per_brand_listing_each_use(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions, "acme")
    await add_brand(sessions, "bolt")
    await add_usages(sessions, [usage(f"u{n}", minute=n) for n in range(5)] + [usage("u9", "bolt", "ZAP")])

    run = await send_brand_digests(notifier, clock)

    assert (run.claimed, run.sent, run.failed) == (2, 2, 0)
    assert smtp_sink.per_recipient() == {"promo@acme.example": 1, "promo@bolt.example": 1}
    assert listed(smtp_sink, "promo@acme.example") == [("SPRING", f"u{n}") for n in range(5)]
    acme = next(m for rcpt, m in smtp_sink.messages() if rcpt == "promo@acme.example")
    text = acme.get_body(("plain",)).get_content()
    assert "amount 120.00, discount 10% = 12.00, paid 108.00" in text
    assert "5 new uses" in acme["Subject"]
    assert "<td>u3</td>" in acme.get_body(("html",)).get_content()

    again = await send_brand_digests(notifier, clock)
    assert (again.claimed, again.sent) == (0, 0)
    assert smtp_sink.count() == 2


async def test_each_code_of_a_cart_is_reported_to_its_own_brand(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions, "acme")
    await add_brand(sessions, "bolt")
    cart = "c" * 32
    await add_usages(
        sessions,
        [
            dataclasses.replace(usage("u1", "acme", "ACME10"), cart=cart, allocations=(("a", 600), ("b", 600))),
            dataclasses.replace(usage("u1", "bolt", "BOLT5"), cart=cart, allocations=(("c", 500),)),
        ],
    )

    run = await send_brand_digests(notifier, clock)

    assert (run.claimed, run.sent) == (2, 2)
    assert listed(smtp_sink, "promo@acme.example") == [("ACME10", "u1")]
    assert listed(smtp_sink, "promo@bolt.example") == [("BOLT5", "u1")]


async def test_a_digest_left_pending_by_a_crash_is_resent_unchanged(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_usages(sessions, [usage("u1"), usage("u2")])
    await send_brand_digests(notifier, clock)
    # What a crash between the server's "250" and our commit leaves: pending, leased by the dead run.
    async with unit_of_work(sessions) as uow:
        await uow.session.execute(
            update(BrandDigest).values(status="pending", sent_at=None, lease_until=clock() + timedelta(seconds=60))
        )
    await add_usages(sessions, [usage("u3")])

    blocked = await send_brand_digests(notifier, clock)  # the old digest is still leased; the new use goes alone
    assert (blocked.claimed, blocked.sent) == (1, 1)
    clock.advance(seconds=61)
    resent = await send_brand_digests(notifier, clock)
    assert (resent.claimed, resent.sent) == (0, 1)

    first, third_use, again = (message for _, message in smtp_sink.messages())
    assert again["Message-ID"] == first["Message-ID"] != third_use["Message-ID"]
    assert again.get_body(("plain",)).get_content() == first.get_body(("plain",)).get_content()
    assert sorted(listed(smtp_sink, "promo@acme.example")) == [
        ("SPRING", "u1"),
        ("SPRING", "u1"),
        ("SPRING", "u2"),
        ("SPRING", "u2"),
        ("SPRING", "u3"),
    ]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(DiscountUsage.digest_id.is_(None))) == 0


async def test_a_refused_brand_address_is_recorded_and_not_retried(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    smtp_sink.permanent.add("promo@acme.example")
    await add_usages(sessions, [usage("u1")])

    assert (await send_brand_digests(notifier, clock)).failed == 1
    assert (await send_brand_digests(notifier, clock)).failed == 0
    assert smtp_sink.rcpt_attempts["promo@acme.example"] == 1
    async with sessions() as session:
        digest = (await session.scalars(select(BrandDigest))).one()
    assert digest.status == "failed"
    assert "550" in (digest.error or "")


async def test_an_unreachable_mail_server_defers_the_digest(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions)
    await add_usages(sessions, [usage("u1")])
    smtp_sink.temporary["promo@acme.example"] = 1

    deferred = await send_brand_digests(notifier, clock)
    assert deferred.deferred is not None
    assert "451" in deferred.deferred
    done = await send_brand_digests(notifier, clock)
    assert (done.claimed, done.sent) == (0, 1)
    assert smtp_sink.per_recipient() == {"promo@acme.example": 1}


async def test_claims_split_a_flood_into_bounded_digests(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("discounts.notify.digest.MAX_USAGES_PER_DIGEST", 4)
    await add_brand(sessions)
    await add_usages(sessions, [usage(f"u{n}", minute=n) for n in range(10)])
    digests = await claim_usages(sessions, clock())
    async with sessions() as session:
        counts = [(await session.get_one(BrandDigest, d)).usage_count for d in digests]
    assert counts == [4, 4, 2]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_thousand_concurrent_redemptions_reach_the_brand_exactly_once(
    api: Api, app: FastAPI, notifier: Notifier, smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await api.brand()
    users = [{"id": f"u{n:04d}", "email": f"u{n:04d}@example.com"} for n in range(1000)]
    r = await api.client.post("/api/v1/users/", json=users, headers=api.auth.service())
    assert r.status_code == 200, r.text
    await api.code("SPRING")
    runtime: Runtime = app.state.runtime
    statuses = set()
    # Two waves of 500 at once (claims commit in groups: one wave can be over before the brand's
    # side has run once); the brand's side runs while each comes in, and at least once after it.
    for wave in (users[:500], users[500:]):
        redeeming = asyncio.gather(*(api.redeem("SPRING", user["id"]) for user in wave))
        while True:
            done = redeeming.done()
            await copy_usages(runtime.store, runtime.sessions, batch_size=100)
            await send_brand_digests(notifier, clock)
            if done:
                break
            await asyncio.sleep(0.05)
        statuses |= {r.status_code for r in await redeeming}
    assert statuses == {201}
    await copy_usages(runtime.store, runtime.sessions, batch_size=100)
    await send_brand_digests(notifier, clock)

    uses = listed(smtp_sink, "promo@acme.example")
    assert len(uses) == 1000
    assert set(uses) == {("SPRING", user["id"]) for user in users}
    assert smtp_sink.per_recipient()["promo@acme.example"] >= 2  # several intervals, several digests


async def test_releases_and_rollbacks_are_reported_as_given_back_and_holds_not_as_uses(
    notifier: Notifier, sessions: async_sessionmaker[AsyncSession], smtp_sink: SMTPSink, clock: FakeClock
) -> None:
    await add_brand(sessions, "acme")
    held_until = datetime(2026, 1, 15, 12, 15, tzinfo=UTC)
    used, hold = usage("u-1"), dataclasses.replace(usage("u-2", minute=1), status=Status.HELD, hold_until=held_until)
    await add_usages(sessions, [used, hold])
    first = await send_brand_digests(notifier, clock)
    assert (first.claimed, first.sent) == (1, 1)
    assert listed(smtp_sink, "promo@acme.example") == [("SPRING", "u-1")]  # the hold is no use yet
    given_at = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    await add_usages(
        sessions,
        [
            dataclasses.replace(used, status=Status.ROLLED_BACK, changed_at=given_at),
            dataclasses.replace(hold, status=Status.RELEASED, changed_at=given_at),
        ],
    )
    second = await send_brand_digests(notifier, clock)
    assert (second.claimed, second.sent) == (1, 1)
    message = smtp_sink.messages()[-1][1]
    assert message["Subject"] == "2 given back of your discount codes"
    text = message.get_body(("plain",)).get_content()
    assert "- SPRING by u-1, used at" in text
    assert "rolled back at" in text
    assert "- SPRING by u-2, used at" in text
    assert "checkout hold released at" in text
    assert "were used" not in text  # no use is new: the rolled-back one was reported before
    assert (await send_brand_digests(notifier, clock)).claimed == 0
