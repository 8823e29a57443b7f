"""The redemption path's shortcuts keep every answer: the code cache, the token cache, the hot routes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.auth import TokenVerifier
from discounts.codes.cache import CodeCache
from discounts.errors import CodeNotFound, Unauthenticated
from discounts.fields import code_hash
from discounts.settings import Settings
from tests.api.conftest import assert_problem, batch_body, csv_rows, post_batch, serve
from tests.codes.conftest import generate_all
from tests.conftest import Api, Auth, FakeClock, make_token
from tests.services import RedisServer


def count_queries(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """The SQL statements run through ``sessions``' engine from now on."""
    seen: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    return seen


async def test_concurrent_lookups_of_one_code_share_one_query(api: Api, app: FastAPI) -> None:
    await api.brand()
    await api.code("FLASH")
    sessions = app.state.runtime.sessions
    cache = CodeCache(sessions, ttl=60)
    queries = count_queries(sessions)
    found = await asyncio.gather(*(cache.get(ref) for ref in ["flash", "FLASH", "Flash"] * 100))
    assert {code.id for code in found} == {"FLASH"}
    assert len(queries) == 1
    await cache.get("FLASH")  # a hit touches no database
    assert len(queries) == 1


async def test_lookups_of_different_codes_at_once_share_one_query(api: Api, app: FastAPI, clock: FakeClock) -> None:
    """A batch's codes are each redeemed once: their misses, arriving together, are read together."""
    await api.brand()
    created = await post_batch(api, batch_body(count=120))
    sessions = app.state.runtime.sessions
    await generate_all(sessions, created.json()["id"], clock, chunk_size=120)
    codes = [row["code"] for row in await csv_rows(api, created.json()["id"])]
    cache = CodeCache(sessions, ttl=60)
    queries = count_queries(sessions)
    refs = [code.lower() for code in codes[:60]] + [code_hash(code) for code in codes[60:]] + ["NOSUCHCODE"]
    found = await asyncio.gather(*(cache.get(ref) for ref in refs), return_exceptions=True)
    assert [getattr(terms, "id", None) for terms in found] == [*codes, None]
    assert isinstance(found[-1], CodeNotFound)
    assert len(queries) == 1


async def test_a_failed_read_reaches_every_request_waiting_for_it(api: Api, app: FastAPI) -> None:
    await api.brand()
    await api.code("FIRST")
    await api.code("SECOND")
    cache = CodeCache(app.state.runtime.sessions, ttl=60)
    engine = app.state.runtime.sessions.kw["bind"].sync_engine

    def unreachable(*args: Any) -> None:
        raise ConnectionError("database down")

    event.listen(engine, "before_cursor_execute", unreachable)
    try:
        results = await asyncio.gather(cache.get("FIRST"), cache.get("SECOND"), return_exceptions=True)
    finally:
        event.remove(engine, "before_cursor_execute", unreachable)
    assert [type(result) for result in results] == [ConnectionError, ConnectionError]
    assert (await cache.get("SECOND")).id == "SECOND"  # nothing was remembered of the failure


async def test_a_code_is_found_by_its_hash_and_unknown_codes_are_not_remembered(api: Api, app: FastAPI) -> None:
    await api.brand()
    sessions = app.state.runtime.sessions
    cache = CodeCache(sessions, ttl=60)
    results = await asyncio.gather(*(cache.get("LATER") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, CodeNotFound) for result in results)
    await api.code("LATER")  # created a moment after a miss: found at once
    assert (await cache.get("LATER")).id == "LATER"
    assert (await cache.get(code_hash("LATER"))).hash == code_hash("LATER")


async def test_a_caller_who_goes_away_does_not_cancel_the_query_for_the_others(api: Api, app: FastAPI) -> None:
    await api.brand()
    await api.code("SHARED")
    cache = CodeCache(app.state.runtime.sessions, ttl=60)
    first = asyncio.ensure_future(cache.get("SHARED"))
    second = asyncio.ensure_future(cache.get("SHARED"))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).id == "SHARED"


def test_a_remembered_token_still_expires(settings: Settings) -> None:
    """PyJWT's clock is the real one, so this waits a real second for a token to expire."""
    verifier = TokenVerifier(settings.model_copy(update={"jwt_leeway_seconds": 0}))
    token = make_token(settings, "user", "u-1", ttl=1)
    assert verifier.verify(token).sub == "u-1"
    assert token in verifier._verified
    time.sleep(1.5)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
    assert token not in verifier._verified


def test_the_token_cache_is_bounded(settings: Settings) -> None:
    verifier = TokenVerifier(settings)
    verifier.CACHE_SIZE = 10
    for n in range(50):
        verifier.verify(make_token(settings, "user", f"u-{n}"))
    assert len(verifier._verified) == 10


async def test_a_tampered_token_is_refused_though_its_twin_is_remembered(api: Api, client: httpx.AsyncClient) -> None:
    token = make_token(api.auth.settings, "user", "u-1")
    ok = await client.get("/api/v1/discountcode/NOPE/", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 404
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused = await client.get("/api/v1/discountcode/NOPE/", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401


async def test_request_ids_are_returned_and_carried_by_problems(api: Api, client: httpx.AsyncClient) -> None:
    await api.brand()
    await api.code()
    mine = await client.get(
        "/api/v1/discountcode/NOSUCHCODE/", headers={**api.auth.user(), "X-Request-ID": "checkout-42"}
    )
    assert mine.status_code == 404
    assert mine.headers["x-request-id"] == "checkout-42"
    assert mine.json()["request_id"] == "checkout-42"
    made_up = await api.redeem()
    assert made_up.status_code == 201
    assert len(made_up.headers["x-request-id"]) >= 16
    junk = await client.get("/healthz", headers={"X-Request-ID": "two words"})
    assert junk.headers["x-request-id"] != "two words"
    again = await api.redeem()
    assert again.json()["request_id"] == again.headers["x-request-id"]


async def test_a_reference_too_long_for_a_code_gets_fastapis_validation(api: Api, client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/discountcode/{'A' * 65}/", headers=api.auth.user())
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_a_missing_or_broken_body_is_a_validation_problem(api: Api, client: httpx.AsyncClient) -> None:
    for body in (b"", b"{", b"[]", b'{"code": "X"}'):
        response = await client.post(
            "/api/v1/discountcodeusage/",
            content=body,
            headers={**api.auth.user(), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert all(error["loc"][0] == "body" for error in problem["errors"]), problem


async def test_the_hot_routes_are_counted_under_their_route(settings: Settings, clock: FakeClock) -> None:
    from discounts import metrics

    async with serve(settings, clock) as client:
        before = metrics.REQUESTS.labels("GET", "/api/v1/discountcode/{id}/", "401")._value.get()
        response = await client.get("/api/v1/discountcode/ANY/")
        assert response.status_code == 401
        after = metrics.REQUESTS.labels("GET", "/api/v1/discountcode/{id}/", "401")._value.get()
        assert after == before + 1


async def test_a_code_past_its_period_is_answered_at_once_and_read_again_behind(api: Api, app: FastAPI) -> None:
    """Refresh ahead: a flash sale never waits, all at once, for the code's next query."""
    await api.brand()
    await api.code("AHEAD")
    sessions = app.state.runtime.sessions
    now = [100.0]
    cache = CodeCache(sessions, ttl=2, clock=lambda: now[0])
    queries = count_queries(sessions)
    assert (await cache.get("AHEAD")).id == "AHEAD"
    assert len(queries) == 1
    now[0] += 3  # past the period, within the next one
    answers = await asyncio.gather(*(cache.get("AHEAD") for _ in range(50)))
    assert {code.id for code in answers} == {"AHEAD"}
    assert len(queries) == 1  # answered before the query ran: nobody waited for it
    await asyncio.sleep(0.2)  # the refresh behind the requests
    assert len(queries) == 2
    now[0] += 1  # fresh again after the refresh: no query
    await cache.get("AHEAD")
    assert len(queries) == 2


async def test_a_removed_code_is_gone_once_the_refresh_finds_nothing(api: Api, app: FastAPI) -> None:
    await api.brand()
    await api.code("GONE")
    sessions = app.state.runtime.sessions
    now = [100.0]
    cache = CodeCache(sessions, ttl=2, clock=lambda: now[0])
    await cache.get("GONE")
    async with sessions() as session:
        await session.execute(text("DELETE FROM fanouts WHERE code_id = 'GONE'"))  # an operator's removal
        await session.execute(text("DELETE FROM discount_codes WHERE id = 'GONE'"))
        await session.commit()
    now[0] += 3
    assert (await cache.get("GONE")).id == "GONE"  # still answered while it is read again
    await asyncio.sleep(0.2)
    with pytest.raises(CodeNotFound):
        await cache.get("GONE")
    now[0] += 10  # long past both periods: a miss waits for the query, which finds nothing
    with pytest.raises(CodeNotFound):
        await cache.get("GONE")


async def test_the_hot_routes_answer_without_the_trailing_slash(api: Api, client: httpx.AsyncClient) -> None:
    await api.brand()
    await api.code()
    fetched = await client.get("/api/v1/discountcode/SPRINGSALE2022", headers=api.auth.user())
    assert fetched.status_code == 200
    assert fetched.json()["id"] == "SPRINGSALE2022"
    body = {"code": "SPRINGSALE2022", "user": "u-1", "amount": "120.00"}
    redeemed = await client.post("/api/v1/discountcodeusage", json=body, headers=api.auth.user())
    assert redeemed.status_code == 201
    assert redeemed.json()["amount_to_pay"] == "108.00"
    missing = await client.get("/api/v1/discountcode/NOSUCH", headers=api.auth.user())
    assert_problem(missing, 404, "code_not_found")
    assert missing.json()["instance"] == "/api/v1/discountcode/NOSUCH/"


async def test_a_redemption_that_is_not_json_gets_415_and_uses_nothing(api: Api, client: httpx.AsyncClient) -> None:
    await api.brand()
    await api.code()
    body = '{"code": "SPRINGSALE2022", "user": "u-1", "amount": "120.00"}'
    for path in ("/api/v1/discountcodeusage/", "/api/v1/discountcodeusage"):
        refused = await client.post(path, content=body, headers={**api.auth.user(), "Content-Type": "text/plain"})
        assert_problem(refused, 415, "unsupported_media_type", path)
        assert refused.headers["x-request-id"]
    typed = await client.post(
        "/api/v1/discountcodeusage/",
        content=body,
        headers={**api.auth.user(), "Content-Type": "application/json; charset=utf-8"},
    )
    assert typed.status_code == 201  # the refused attempts used nothing


async def test_an_unexpected_failure_on_a_hot_route_is_a_500_problem_with_its_request_id(
    api: Api, app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await api.brand()
    await api.code()
    redeemer = app.state.runtime.redeemer

    async def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("the store is broken")

    original, redeemer.store.record = redeemer.store.record, broken
    try:
        response = await client.post(
            "/api/v1/discountcodeusage/",
            json={"code": "SPRINGSALE2022", "user": "u-1", "amount": "120.00"},
            headers={**api.auth.user(), "X-Request-ID": "broken-1"},
        )
    finally:
        redeemer.store.record = original
    problem = assert_problem(response, 500, "internal_error")
    assert problem["request_id"] == "broken-1" == response.headers["x-request-id"]
    assert "the store is broken" not in response.text
    assert any("the store is broken" in (record.exc_text or "") for record in caplog.records)
    assert (await api.redeem()).status_code == 201  # nothing was used by the failed attempt


async def test_an_unreachable_usage_store_is_a_503_to_retry_and_records_nothing(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """Redis gone mid-sale: 503 problems with Retry-After (never a 500), then the same request succeeds."""
    redis = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
    try:
        configured = settings.model_copy(update={"usage_store_url": redis.url})
        async with serve(configured, clock) as client:
            auth = Auth(configured)
            api = Api(client, auth)
            await api.brand()
            await api.code()
            assert (await api.redeem(user="u-0")).status_code == 201
            redis.stop()
            for path in ("/api/v1/discountcodeusage/", "/api/v1/discountcode/SPRINGSALE2022/"):
                if path.endswith("usage/"):
                    refused = await api.redeem(user="u-1")
                else:
                    refused = await client.get(path, headers=auth.user("u-1"))
                problem = assert_problem(refused, 503, "unavailable", path)
                assert refused.headers["retry-after"] == "1"
                assert problem["request_id"] == refused.headers["x-request-id"]
            redis.start()
            retried = await api.redeem(user="u-1")
            assert retried.status_code == 201, retried.text
            assert (await api.redeem(user="u-1")).status_code == 409
            assert (await api.redeem(user="u-0")).status_code == 409  # the first use, from before, survived
    finally:
        redis.stop()
