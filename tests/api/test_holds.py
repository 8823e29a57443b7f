"""Usages (API.md, "Usages"): ids, checkout holds, confirm, release and rollback through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from discounts.settings import Settings
from discounts.usage.ledger import copy_all
from discounts.usage.models import DiscountUsage
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, Auth, FakeClock
from tests.services import RedisServer

USAGES = "/api/v1/discountcodeusage/"


async def campaign(api: Api, **rule: Any) -> None:
    await api.brand()
    body = {"id": "CHECKOUT", "rule": {"brand": "acme", "discount": 10, **rule}, "validity": "2027-05-31T23:59:59Z"}
    created = await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())
    assert created.status_code == 201, created.text


async def hold(api: Api, user: str = "u-1") -> httpx.Response:
    return await api.redeem("CHECKOUT", user, amount="120.00", hold=True)


async def confirm(api: Api, usage_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await api.client.post(f"{USAGES}{usage_id}/confirm/", headers=headers or api.auth.user())


async def give_back(api: Api, usage_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await api.client.delete(f"{USAGES}{usage_id}/", headers=headers or api.auth.user())


async def used(api: Api, user: str = "u-1") -> bool:
    fetched = await api.client.get("/api/v1/discountcode/CHECKOUT/", headers=api.auth.user(user))
    return fetched.json()["used"]  # type: ignore[no-any-return]


async def test_a_hold_then_its_confirmation(api: Api, clock: FakeClock) -> None:
    await campaign(api)
    held = await hold(api)
    assert held.status_code == 201, held.text
    body = held.json()
    assert (body["status"], body["used_at"], body["hold_expires_at"]) == (
        "held",
        "2026-01-15T12:00:00Z",
        "2026-01-15T12:15:00Z",
    )
    assert await used(api)
    assert_problem(await api.redeem("CHECKOUT"), 409, "code_already_used")  # the hold counts
    clock.advance(minutes=5)
    confirmed = await confirm(api, body["id"])
    assert confirmed.status_code == 200, confirmed.text
    expected = {key: value for key, value in body.items() if key != "hold_expires_at"} | {"status": "used"}
    assert confirmed.json() == expected
    again = await confirm(api, body["id"])
    assert (again.status_code, again.json()) == (200, expected)
    clock.advance(hours=1)
    assert await used(api)  # a confirmed hold is a use: its hold's end means nothing now


async def test_an_ended_hold_gives_everything_back_by_itself(api: Api, clock: FakeClock) -> None:
    await campaign(api, max_uses=1)
    held = (await hold(api, "u-1")).json()
    assert_problem(await hold(api, "u-2"), 409, "code_exhausted")
    clock.advance(minutes=15, seconds=1)
    assert not await used(api, "u-1")
    assert_problem(await confirm(api, held["id"]), 410, "hold_expired")
    assert_problem(await give_back(api, held["id"]), 404, "usage_not_found")
    assert (await api.redeem("CHECKOUT", "u-2")).status_code == 201


async def test_a_release_and_a_rollback_give_back_the_use(api: Api) -> None:
    await campaign(api, max_uses=2, budget="24.00")
    held = (await hold(api, "u-1")).json()
    plain = (await api.redeem("CHECKOUT", "u-2")).json()
    assert plain["status"] == "used"
    assert_problem(await api.redeem("CHECKOUT", "u-3"), 409, "code_exhausted")
    released = await give_back(api, held["id"], api.auth.user("u-1"))
    assert (released.status_code, released.content) == (204, b"")
    rolled_back = await give_back(api, plain["id"], api.auth.user("u-2"))
    assert rolled_back.status_code == 204
    assert_problem(await give_back(api, held["id"], api.auth.user("u-1")), 404, "usage_not_found")
    assert_problem(await confirm(api, held["id"], api.auth.user("u-1")), 404, "usage_not_found")
    assert not await used(api, "u-2")
    # Both uses and the budget came back: two more fit, the third does not.
    assert (await api.redeem("CHECKOUT", "u-3")).status_code == 201
    again = await api.redeem("CHECKOUT", "u-2")
    assert again.status_code == 201
    assert again.json()["id"] != plain["id"]  # a new usage, with its own id
    assert_problem(await api.redeem("CHECKOUT", "u-4"), 409, "code_exhausted")


async def test_only_the_usages_user_or_the_service_may_act_on_it(api: Api, auth: Auth) -> None:
    await campaign(api)
    first = (await hold(api, "u-1")).json()["id"]
    assert_problem(await confirm(api, first, auth.user("u-2")), 404, "usage_not_found")
    assert_problem(await give_back(api, first, auth.user("u-2")), 404, "usage_not_found")
    assert_problem(await confirm(api, first, auth.brand()), 403, "forbidden")
    assert_problem(await give_back(api, first, auth.brand()), 403, "forbidden")
    assert (await confirm(api, first, auth.service())).status_code == 200
    assert (await give_back(api, first, auth.service())).status_code == 204


async def test_unknown_or_malformed_usage_ids(api: Api) -> None:
    await campaign(api)
    for unknown in ("WyJDSEVDS09VVCIsInUtMSIsMV0", "WyJOT1NVQ0giLCJ1LTEiLDFd", "bm90LWpzb24tYXQtYWxs", "AAAAAAAA"):
        assert_problem(await confirm(api, unknown), 404, "usage_not_found", unknown)
        assert_problem(await give_back(api, unknown), 404, "usage_not_found", unknown)
    assert_problem(await confirm(api, "not!an*id"), 422, "validation_error")
    assert (await api.redeem("CHECKOUT")).status_code == 201  # nothing was taken


async def test_a_confirm_retried_with_its_key_replays(api: Api, auth: Auth) -> None:
    await campaign(api)
    held = (await hold(api)).json()["id"]
    headers = {**auth.user(), "Idempotency-Key": "pay-1"}
    first = await confirm(api, held, headers)
    again = await confirm(api, held, headers)
    assert (first.status_code, again.status_code, again.headers["idempotent-replayed"]) == (200, 200, "true")
    assert again.content == first.content


async def test_the_ledger_keeps_every_state_and_the_quote_has_no_id(app: FastAPI, api: Api, clock: FakeClock) -> None:
    await campaign(api, max_uses=5)
    held = (await hold(api, "u-1")).json()["id"]
    await confirm(api, held, api.auth.user("u-1"))
    plain = (await api.redeem("CHECKOUT", "u-2")).json()["id"]
    await give_back(api, plain, api.auth.user("u-2"))
    await hold(api, "u-3")
    runtime = app.state.runtime
    await copy_all(runtime.store, runtime.sessions, 100)
    async with runtime.sessions() as session:
        rows = (await session.execute(select(DiscountUsage.user_id, DiscountUsage.status))).all()
    assert sorted(rows) == [("u-1", "used"), ("u-2", "rolled_back"), ("u-3", "held")]
    quote = await api.client.post(
        "/api/v1/discountcodequote/",
        json={"code": "CHECKOUT", "user": "u-4", "amount": "10", "hold": True},
        headers=api.auth.user("u-4"),
    )
    assert quote.status_code == 200
    assert not {"id", "status", "used_at", "hold_expires_at"} & quote.json().keys()
    assert (await api.redeem("CHECKOUT", "u-4")).status_code == 201  # the quote held nothing


async def test_on_redis_a_plain_use_is_confirmed_and_rolled_back_from_the_ledger(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """Redis keeps no body of a plain use (16 bytes a usage): the ledger's copy answers, once it has it."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        configured = settings.model_copy(update={"usage_store_url": redis.url})
        async with serve(configured, clock) as client:
            api = Api(client, Auth(configured))
            await campaign(api, max_uses=1, budget="12.00")
            plain = (await api.redeem("CHECKOUT", "u-1")).json()
            refused = await confirm(api, plain["id"])
            assert_problem(refused, 503, "unavailable")
            assert refused.headers["retry-after"] == "1"
            runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
            await copy_all(runtime.store, runtime.sessions, 100)
            confirmed = await confirm(api, plain["id"])
            assert (confirmed.status_code, confirmed.json()) == (200, plain)
            assert (await give_back(api, plain["id"])).status_code == 204
            assert (await api.redeem("CHECKOUT", "u-2")).status_code == 201  # the use and budget came back
    finally:
        redis.stop()
