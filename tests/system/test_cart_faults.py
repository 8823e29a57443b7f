"""The API process SIGKILLed while carts of three brands' codes are redeemed, on every usage-store backend.

Shoppers retry as a checkout does — after a 503, after a dropped connection — with their order's
``Idempotency-Key``. Afterwards, once ``DISCOUNTS_HOLD_SECONDS`` has passed: every cart answered
201 has all three of its uses in the store and, after the copy, in the ledger, once each; no
shopper whose cart ended refused holds any code (a cart is all or nothing, even cut in half).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from discounts.db import make_engine
from discounts.settings import Settings
from discounts.usage.models import CartRedemption, DiscountUsage
from discounts.usage.store import NO_LIMITS, Limits, open_usage_store
from tests.conftest import make_token
from tests.services import RedisServer
from tests.system.conftest import Server, bearer, cli_env
from tests.system.crowd import IN_PROGRESS, NO_ANSWER, Crowd
from tests.system.test_faults import SIGNER, service_headers, sqlite_ledger, tokens_for, under_way, until
from tests.usage.redis_cluster import LocalRedisCluster

pytestmark = pytest.mark.slow

HOLD_SECONDS = 4
#: Code A may be used 300 times, code B's budget pays 200 of its discounts: 200 carts of 400 go through.
CODES = {
    "ACAP": ("acme", {"discount": 10, "max_uses": 300}),
    "BBUDGET": ("bolt", {"amount_off": "5.00", "currency": "EUR", "budget": "1000.00"}),
    "CPLAIN": ("cozy", {"discount": 20}),
}
#: Where each code's usages live in the store depends on whether its limits are shared.
LIMITS = {"ACAP": Limits(max_uses=300), "BBUDGET": Limits(budget_cents=100_000), "CPLAIN": NO_LIMITS}
LINES = [
    {"id": "shoe", "brand": "acme", "price": "60.00", "quantity": 1},
    {"id": "sock", "brand": "acme", "price": "10.00", "quantity": 2},
    {"id": "bolt", "brand": "bolt", "price": "30.00", "quantity": 1},
    {"id": "lamp", "brand": "cozy", "price": "45.50", "quantity": 1},
    {"id": "mug", "brand": "cozy", "price": "12.25", "quantity": 2},
    {"id": "pen", "brand": "bolt", "price": "3.99", "quantity": 3},
]


def cart_of(user: str) -> tuple[str, dict[str, object]]:
    body = {"user": user, "currency": "EUR", "codes": list(CODES), "lines": LINES}
    return "/api/v1/cartredemption/", body


async def open_shop(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for code, (brand, rule) in CODES.items():
            profile = {"name": brand, "email": f"promo@{brand}.example"}
            r = await http.put(f"/api/v1/brands/{brand}/", json=profile, headers=service_headers())
            assert r.status_code == 201, r.text
            body = {"id": code, "rule": {"brand": brand, **rule}, "validity": "2099-01-01T00:00:00Z"}
            r = await http.post(
                "/api/v1/discountcode/", json=body, headers=bearer(make_token(SIGNER, "brand", brand, brand))
            )
            assert r.status_code == 201, r.text


def carts_answered(crowd: Crowd, users: list[str]) -> dict[str, str]:
    """Each shopper's cart id if it was answered 201; every answer on the way one a client can act on."""
    assert sorted(crowd.answers) == sorted(users)
    carts: dict[str, str] = {}
    for user, answers in crowd.answers.items():
        final = [a for a in answers if a.status != NO_ANSWER and a.code != IN_PROGRESS and a.status != 503]
        assert [a.status for a in final] in ([201], [409]), (user, answers)
        for answer in answers:
            assert answer.status in (201, 409, 503, NO_ANSWER), (user, answer)
            if answer.status == 503:
                assert answer.retry_after is not None, (user, answer)
        if final[0].status == 201:
            assert final[0].body is not None
            carts[user] = str(final[0].body["id"])
        else:
            assert final[0].code == "cart_rejected", (user, final)
    return carts


@pytest.fixture(params=["embedded", "redis", "redis-cluster"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "embedded":
        yield None
    elif request.param == "redis":
        redis = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
        yield redis.url
        redis.stop()
    else:
        cluster = LocalRedisCluster(tmp_path / "cluster", masters=3).start()
        yield cluster.url
        cluster.stop()


async def test_carts_cut_off_by_a_killed_api_are_all_or_nothing(tmp_path: Path, store_url: str | None) -> None:
    users = [f"c{n:04d}" for n in range(400)]
    data = tmp_path / "data"
    env = cli_env(data, DISCOUNTS_IDEMPOTENCY_LEASE_SECONDS="2", DISCOUNTS_HOLD_SECONDS=str(HOLD_SECONDS))
    if store_url:
        env["DISCOUNTS_USAGE_STORE_URL"] = store_url
    servers = [await asyncio.to_thread(Server, env)]
    try:
        await open_shop(servers[-1].url)
        crowd = Crowd(
            lambda: servers[-1].url, tokens_for(users), "", keyed=frozenset(users), request=cart_of, in_flight=16
        )
        load = await under_way(crowd, users, served=60)
        os.killpg(servers[-1].proc.pid, signal.SIGKILL)  # the API, its worker, everything of `serve`
        servers.append(await asyncio.to_thread(Server, env))
        await load
        await asyncio.sleep(HOLD_SECONDS + 1)  # whatever a cut-off cart took and never completed has ended

        carts = carts_answered(crowd, users)
        assert crowd.statuses()[NO_ANSWER] > 0, "no request was cut off by the kill"
        assert len(carts) == 200  # B's budget, exactly: every cart refused after it took nothing
        await every_code_of_every_cart_and_nothing_else(data, store_url, users, carts)
        await the_ledger_has_each_use_once(sqlite_ledger(data), carts)
    finally:
        servers[0].stop()
        log = servers[-1].stop()
        assert "Traceback" not in log, log[log.find("Traceback") :][:4000]


async def every_code_of_every_cart_and_nothing_else(
    data: Path, store_url: str | None, users: list[str], carts: dict[str, str]
) -> None:
    """In the store itself: a shopper answered 201 holds all three codes; any other holds none."""
    settings = Settings(data_dir=data, usage_store_url=store_url, _env_file=None)  # type: ignore[call-arg]
    store = open_usage_store(settings.resolved_usage_store_url, settings)
    try:
        pairs = [(code, user) for user in users for code in CODES]
        found = await store.used_at_many(pairs, LIMITS, now=datetime.now(UTC))
        held = Counter(user for (_, user), used in zip(pairs, found, strict=True) if used is not None)
        assert held == Counter(dict.fromkeys(carts, 3))
    finally:
        await store.close()


async def the_ledger_has_each_use_once(database_url: str, carts: dict[str, str]) -> None:
    async def rows() -> list[tuple[str, str, str, str | None]]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                query = select(DiscountUsage.code, DiscountUsage.user_id, DiscountUsage.status, DiscountUsage.cart_id)
                return [tuple(row) for row in await conn.execute(query)]  # type: ignore[misc]
        finally:
            await engine.dispose()

    async def copied() -> bool:
        return len(await rows()) >= 3 * len(carts)

    await until(f"{3 * len(carts)} uses in the ledger", copied)
    expected = sorted((code, user, "used", cart) for user, cart in carts.items() for code in CODES)
    assert sorted(await rows()) == expected
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            kept = {row.id: row.user_id for row in await conn.execute(select(CartRedemption))}
    finally:
        await engine.dispose()
    assert kept == {cart: user for user, cart in carts.items()}
