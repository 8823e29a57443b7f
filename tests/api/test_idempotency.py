"""Retries with Idempotency-Key (API.md, "Retries"): the first answer replayed, other bodies and races refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from discounts.api import idempotency as idempotent_layer
from discounts.idempotency import Answer as IdempotentAnswer
from discounts.idempotency import Idempotency, RedisRecords, SQLiteRecords
from discounts.settings import Settings
from discounts.usage.redis_pipelining import AutoPipeline
from tests.api.conftest import assert_problem, serve
from tests.conftest import Api, Auth, FakeClock
from tests.services import RedisServer

REDEEM = "/api/v1/discountcodeusage/"
BODY = {"code": "SPRINGSALE2022", "user": "u-1", "amount": "120.00"}


def keyed(auth: Auth, key: str, user: str = "u-1") -> dict[str, str]:
    return {**auth.user(user), "Idempotency-Key": key}


async def test_a_retry_gets_the_first_answer_and_uses_the_code_once(
    api: Api, client: httpx.AsyncClient, auth: Auth
) -> None:
    await api.brand()
    await api.code()
    first = await client.post(REDEEM, json=BODY, headers=keyed(auth, "order-1"))
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    # The same body, its keys in another order and spaced otherwise, is the same request.
    again = await client.post(
        REDEEM,
        content=b'{"amount": "120.00",  "user": "u-1", "code": "SPRINGSALE2022"}',
        headers=keyed(auth, "order-1"),
    )
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # the retry's own
    assert_problem(await api.redeem(), 409, "code_already_used")  # used once, not twice


async def test_refusals_are_replayed_too(api: Api, client: httpx.AsyncClient, auth: Auth) -> None:
    await api.brand()
    missed = await client.post(REDEEM, json=BODY, headers=keyed(auth, "k-404"))
    assert_problem(missed, 404, "code_not_found")
    await api.code()  # the code exists now, but the key's answer was 404
    replayed = await client.post(REDEEM, json=BODY, headers=keyed(auth, "k-404"))
    assert (replayed.status_code, replayed.json()) == (404, missed.json())
    assert replayed.headers["idempotent-replayed"] == "true"
    assert (await api.redeem()).status_code == 201


async def test_the_same_key_with_another_body_is_refused(api: Api, client: httpx.AsyncClient, auth: Auth) -> None:
    await api.brand()
    await api.code()
    assert (await client.post(REDEEM, json=BODY, headers=keyed(auth, "k"))).status_code == 201
    other = await client.post(REDEEM, json={**BODY, "amount": "99.00"}, headers=keyed(auth, "k"))
    assert_problem(other, 422, "idempotency_key_reused")
    # Another operation with the key is another request too.
    code = {"id": "OTHER", "rule": {"brand": "acme", "discount": 5}, "validity": "2027-05-31T23:59:59Z"}
    elsewhere = await client.post("/api/v1/discountcode/", json=code, headers={**auth.brand(), "Idempotency-Key": "k"})
    assert elsewhere.status_code == 201  # a brand's "k" is not the user's "k": keys are per principal


async def test_keys_are_scoped_to_the_principal(api: Api, client: httpx.AsyncClient, auth: Auth) -> None:
    await api.brand()
    await api.code()
    assert (await client.post(REDEEM, json=BODY, headers=keyed(auth, "same"))).status_code == 201
    theirs = await client.post(REDEEM, json={**BODY, "user": "u-2"}, headers=keyed(auth, "same", "u-2"))
    assert theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers


async def test_creating_a_code_twice_with_a_key_replays_its_201(
    api: Api, client: httpx.AsyncClient, auth: Auth
) -> None:
    await api.brand()
    code = {"id": "SPRING", "rule": {"brand": "acme", "discount": 10}, "validity": "2027-05-31T23:59:59Z"}
    headers = {**auth.brand(), "Idempotency-Key": "create-spring"}
    first = await client.post("/api/v1/discountcode", json=code, headers=headers)
    again = await client.post("/api/v1/discountcode/", json=code, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] == "/api/v1/discountcode/SPRING/"
    assert_problem(await client.post("/api/v1/discountcode/", json=code, headers=auth.brand()), 409, "code_exists")


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "naïve", "tab\there"])
async def test_a_malformed_key_is_a_422_and_changes_nothing(
    api: Api, client: httpx.AsyncClient, auth: Auth, key: str
) -> None:
    await api.brand()
    await api.code()
    refused = await client.post(REDEEM, json=BODY, headers=keyed(auth, key) if key.isascii() else None)
    if not key.isascii():  # httpx refuses a non-ASCII header: send the raw bytes
        headers = [(b"authorization", auth.user()["Authorization"].encode()), (b"idempotency-key", key.encode())]
        refused = await client.post(REDEEM, json=BODY, headers=headers)
    problem = assert_problem(refused, 422, "validation_error", key)
    assert problem["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (await api.redeem()).status_code == 201


async def test_a_retry_while_the_first_runs_is_a_409_then_a_replay(
    app: FastAPI, api: Api, client: httpx.AsyncClient, auth: Auth
) -> None:
    await api.brand()
    await api.code()
    store = app.state.runtime.redeemer.store
    original, entered, release = store.record, asyncio.Event(), asyncio.Event()

    async def slow_record(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await original(*args, **kwargs)

    store.record = slow_record
    try:
        first = asyncio.create_task(client.post(REDEEM, json=BODY, headers=keyed(auth, "race")))
        await entered.wait()
        racing = await client.post(REDEEM, json=BODY, headers=keyed(auth, "race"))
        assert_problem(racing, 409, "idempotency_in_progress")
        release.set()
        assert (await first).status_code == 201
    finally:
        store.record = original
    replayed = await client.post(REDEEM, json=BODY, headers=keyed(auth, "race"))
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (201, "true")


async def test_a_5xx_is_not_kept_so_the_retry_runs_again(
    app: FastAPI, api: Api, client: httpx.AsyncClient, auth: Auth
) -> None:
    await api.brand()
    await api.code()
    store = app.state.runtime.redeemer.store
    original = store.record

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("gone")

    store.record = unreachable
    try:
        assert_problem(await client.post(REDEEM, json=BODY, headers=keyed(auth, "k")), 503, "unavailable")
    finally:
        store.record = original
    retried = await client.post(REDEEM, json=BODY, headers=keyed(auth, "k"))
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_an_answer_that_could_not_be_kept_is_not_sent_and_the_retry_gets_it(
    app: FastAPI, api: Api, client: httpx.AsyncClient, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent as it was, a 201 whose record a failing Redis lost would leave its retry nothing to replay."""
    await api.brand()
    await api.code()
    storage = app.state.runtime.idempotency.storage
    original, failures = storage.replace, [RedisConnectionError("no replica confirmed the write")]

    async def replace_failing_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await original(*args, **kwargs)

    monkeypatch.setattr(storage, "replace", replace_failing_once)
    monkeypatch.setattr(idempotent_layer, "FINISH_RETRY_SECONDS", 0.01)
    first = await client.post(REDEEM, json=BODY, headers=keyed(auth, "unkept"))
    assert "same Idempotency-Key" in assert_problem(first, 503, "unavailable")["detail"]
    assert first.headers["retry-after"] == "1"
    for _ in range(200):  # the answer is kept behind the 503, once the store takes it
        retried = await client.post(REDEEM, json=BODY, headers=keyed(auth, "unkept"))
        if retried.status_code != 409:
            break
        assert_problem(retried, 409, "idempotency_in_progress")
        await asyncio.sleep(0.01)
    assert (retried.status_code, retried.headers["idempotent-replayed"]) == (201, "true")
    assert_problem(await api.redeem(), 409, "code_already_used")  # the code was used once


async def test_without_a_valid_token_the_key_is_ignored(api: Api, client: httpx.AsyncClient) -> None:
    answer = await client.post(REDEEM, json=BODY, headers={"Idempotency-Key": "k"})
    assert_problem(answer, 401, "unauthenticated")
    assert "idempotent-replayed" not in (await client.post(REDEEM, json=BODY, headers={"Idempotency-Key": "k"})).headers


async def test_a_retry_reaching_another_process_on_redis_gets_the_first_answer(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    """The dropped connection's retry lands on another API process: the answer is kept in Redis, for 24 h."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        configured = settings.model_copy(update={"usage_store_url": redis.url})
        auth = Auth(configured)
        async with serve(configured, clock) as one, serve(configured, clock) as other:
            await Api(one, auth).brand()
            await Api(one, auth).code()
            first = await one.post(REDEEM, json=BODY, headers=keyed(auth, "dropped"))
            retried = await other.post(REDEEM, json=BODY, headers=keyed(auth, "dropped"))
            assert (first.status_code, retried.status_code) == (201, 201)
            assert (retried.content, retried.headers["idempotent-replayed"]) == (first.content, "true")
        client = Redis.from_url(redis.url)
        try:
            keys = await client.keys(f"{configured.usage_namespace}:idem:*")
            assert len(keys) == 1
            assert 86_390_000 < await client.pttl(keys[0]) <= 86_400_000
        finally:
            await client.aclose()
    finally:
        redis.stop()


async def test_a_key_whose_request_died_is_free_again_after_its_lease(tmp_path: Path) -> None:
    now = [1_000_000.0]
    keeper = Idempotency(SQLiteRecords(tmp_path / "i.sqlite3", clock=lambda: now[0]), 86_400, 60)
    fingerprint = keeper.fingerprint("POST", "/x/", b"{}")
    try:
        assert isinstance(await keeper.begin("user:u-1", "k", fingerprint), tuple)  # this request then "dies"
        now[0] += 59
        with pytest.raises(Exception, match="still running"):
            await keeper.begin("user:u-1", "k", fingerprint)
        now[0] += 2
        owned = await keeper.begin("user:u-1", "k", fingerprint)
        assert isinstance(owned, tuple)
    finally:
        await keeper.storage.close()


def test_answers_are_kept_at_least_a_day() -> None:
    with pytest.raises(ValueError, match="86400"):
        Settings(idempotency_seconds=3600, _env_file=None)  # type: ignore[call-arg]


async def forget_kept_answers(app: FastAPI) -> None:
    """What a lost reply leaves: the claim made, but no answer kept for the key (a 503 frees the key)."""
    records = app.state.runtime.idempotency.storage
    assert isinstance(records, SQLiteRecords)
    await records._file.write(lambda db: db.execute("DELETE FROM records"))


async def test_a_retry_whose_answer_was_lost_gets_the_claim_it_made(
    api: Api, client: httpx.AsyncClient, auth: Auth, app: FastAPI, clock: FakeClock
) -> None:
    await api.brand()
    await api.code()
    first = await client.post(REDEEM, json={**BODY, "hold": True}, headers=keyed(auth, "order-1"))
    await forget_kept_answers(app)
    clock.advance(seconds=20)

    retry = await client.post(REDEEM, json={**BODY, "hold": True}, headers=keyed(auth, "order-1"))
    other = await client.post(REDEEM, json={**BODY, "hold": True}, headers=keyed(auth, "order-2"))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert "idempotent-replayed" not in retry.headers  # run again, and the store knew its claim
    assert retry.json() == first.json()  # the same usage, held since the first attempt, to the same end
    assert_problem(other, 409, "code_already_used")


async def test_a_cart_retried_after_its_answer_was_lost_is_the_same_cart(
    api: Api, client: httpx.AsyncClient, auth: Auth, app: FastAPI
) -> None:
    await api.brand()
    await api.code()
    cart = {"user": "u-1", "codes": ["SPRINGSALE2022"], "lines": [{"brand": "acme", "price": "10", "quantity": 1}]}
    first = await client.post("/api/v1/cartredemption/", json=cart, headers=keyed(auth, "cart-1"))
    await forget_kept_answers(app)

    retry = await client.post("/api/v1/cartredemption/", json=cart, headers=keyed(auth, "cart-1"))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()


@pytest.fixture(params=["sqlite", "redis"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Each place kept answers live: the embedded SQLite file, and Redis beside a Redis usage store."""
    if request.param == "sqlite":
        sqlite = SQLiteRecords(tmp_path / "i.sqlite3")
        yield sqlite
        await sqlite.close()
        return
    redis = RedisServer(tmp_path / "redis").start()
    client = Redis.from_url(redis.url)
    try:
        yield RedisRecords(AutoPipeline(client, asyncio.Semaphore(4)), "test")
    finally:
        await client.aclose()
        redis.stop()


async def test_a_request_slower_than_its_lease_still_keeps_its_answer_for_the_retry(records: Any) -> None:
    keeper = Idempotency(records, 86_400, lease_seconds=0.05)
    fingerprint = keeper.fingerprint("POST", "/x/", b"{}")
    owned = await keeper.begin("user:u-1", "k", fingerprint)
    assert isinstance(owned, tuple)
    await asyncio.sleep(0.1)  # the lease ran out while the request ran; no retry came meanwhile
    await keeper.finish(owned, fingerprint, IdempotentAnswer(201, [], b'{"id": "first"}'))
    replayed = await keeper.begin("user:u-1", "k", fingerprint)
    assert replayed == IdempotentAnswer(201, [], b'{"id": "first"}')


async def test_a_request_whose_key_another_took_after_its_lease_does_not_overwrite_it(records: Any) -> None:
    keeper = Idempotency(records, 86_400, lease_seconds=0.05)
    fingerprint = keeper.fingerprint("POST", "/x/", b"{}")
    slow = await keeper.begin("user:u-1", "k", fingerprint)
    await asyncio.sleep(0.1)
    retry = await keeper.begin("user:u-1", "k", fingerprint)  # the lease ran out: the retry runs
    assert isinstance(slow, tuple)
    assert isinstance(retry, tuple)
    await keeper.finish(retry, fingerprint, IdempotentAnswer(201, [], b'{"id": "retry"}'))
    await keeper.finish(slow, fingerprint, IdempotentAnswer(201, [], b'{"id": "slow"}'))
    assert await keeper.begin("user:u-1", "k", fingerprint) == IdempotentAnswer(201, [], b'{"id": "retry"}')
