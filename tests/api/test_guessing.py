"""Guessing codes: misses limited per principal and per address; hits never; 401s count as no miss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from discounts.codes.guessing import REFRESH_SECONDS
from discounts.settings import Settings
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, Auth, FakeClock
from tests.services import RedisServer


async def miss(client: httpx.AsyncClient, auth: Auth, how: str, user: str = "u-1") -> httpx.Response:
    body = {"code": "NOSUCHCODE", "user": user, "amount": "10.00"}
    if how == "lookup":
        return await client.get("/api/v1/discountcode/NOSUCHCODE/", headers=auth.user(user))
    path = "/api/v1/discountcodeusage/" if how == "redeem" else "/api/v1/discountcodequote/"
    return await client.post(path, json=body, headers=auth.user(user))


async def test_after_the_misses_every_lookup_quote_and_redemption_is_refused(
    settings: Settings, clock: FakeClock
) -> None:
    settings = settings.model_copy(update={"guess_limit": "6/minute"})
    async with serve(settings, clock) as client:
        api, auth = Api(client, Auth(settings)), Auth(settings)
        await api.brand()
        await api.user("u-1")
        await api.user("u-2")
        await api.code()
        for how in ("lookup", "quote", "redeem") * 2:
            assert_problem(await miss(client, auth, how), 404, "code_not_found", how)
        # The real code is refused too: a correct guess must not be confirmed.
        refused = [
            await client.get("/api/v1/discountcode/SPRINGSALE2022/", headers=auth.user()),
            await api.redeem(),
            await miss(client, auth, "quote"),
        ]
        for response in refused:
            assert_problem(response, 429, "rate_limited")
            assert 1 <= int(response.headers["retry-after"]) <= 60
        assert (await api.redeem(user="u-2")).status_code == 201  # another shopper is not limited


async def test_hits_never_count(settings: Settings, clock: FakeClock) -> None:
    settings = settings.model_copy(update={"guess_limit": "2/minute", "guess_limit_per_address": "2/minute"})
    async with serve(settings, clock) as client:
        api, auth = Api(client, Auth(settings)), Auth(settings)
        await api.brand()
        await api.code()
        for _ in range(10):
            found = await client.get("/api/v1/discountcode/SPRINGSALE2022/", headers=auth.user())
            assert found.status_code == 200
        assert (await api.redeem()).status_code == 201
        assert_problem(await api.redeem(), 409, "code_already_used")  # a refusal that is not a miss
        assert_problem(await miss(client, auth, "lookup"), 404, "code_not_found")


async def test_requests_refused_with_401_count_as_no_miss(settings: Settings, clock: FakeClock) -> None:
    settings = settings.model_copy(update={"guess_limit": "2/minute"})
    async with serve(settings, clock) as client:
        for _ in range(5):
            assert_problem(await client.get("/api/v1/discountcode/NOSUCHCODE/"), 401, "unauthenticated")
        assert_problem(await miss(client, Auth(settings), "lookup"), 404, "code_not_found")


async def test_many_accounts_guessing_from_one_address_are_refused(settings: Settings, clock: FakeClock) -> None:
    settings = settings.model_copy(update={"guess_limit": "100/minute", "guess_limit_per_address": "5/minute"})
    async with serve(settings, clock) as client:
        auth = Auth(settings)
        for n in range(5):
            assert_problem(await miss(client, auth, "lookup", f"u-{n}"), 404, "code_not_found")
        assert_problem(await miss(client, auth, "lookup", "u-99"), 429, "rate_limited")


async def test_an_empty_limit_turns_guessing_limits_off(settings: Settings, clock: FakeClock) -> None:
    settings = settings.model_copy(update={"guess_limit": "", "guess_limit_per_address": ""})
    async with serve(settings, clock) as client:
        for _ in range(30):
            assert_problem(await miss(client, Auth(settings), "lookup"), 404, "code_not_found")


async def test_two_api_processes_on_redis_share_the_count(settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    """Each app is what one API process holds: misses in one refuse the next guess in the other."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        configured = settings.model_copy(update={"usage_store_url": redis.url, "guess_limit": "4/minute"})
        auth = Auth(configured)
        async with serve(configured, clock) as one, serve(configured, clock) as other:
            await Api(one, auth).brand()
            await Api(one, auth).code()
            for client in (one, other, one, other):
                assert_problem(await miss(client, auth, "lookup"), 404, "code_not_found")
            for client in (one, other):
                assert_problem(await miss(client, auth, "redeem"), 429, "rate_limited")
            await asyncio.sleep(REFRESH_SECONDS)  # the other's copy of the blocks, refreshed
            for client in (one, other):
                found = await client.get("/api/v1/discountcode/SPRINGSALE2022/", headers=auth.user())
                assert_problem(found, 429, "rate_limited")
    finally:
        redis.stop()
