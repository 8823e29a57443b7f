"""Faults under a load of redemptions: Redis, the API process, PostgreSQL and the broker, each broken for real.

Each test runs ``discounts serve`` in a child process, sends a crowd of shoppers at one code
(``tests/system/crowd.py``), breaks one part underneath them — ``kill -9``, SIGKILL, a
stopped server — brings it back, and then checks what a brand and its shoppers rely on:
no 500, every error a 503 problem with ``Retry-After``, every acknowledged use still there
(in the usage store and in the durable ledger) and none twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from discounts.db import make_engine
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage
from tests.conftest import SECRET, make_token
from tests.notify.sink import SMTPSink
from tests.services import PostgresServer, RedisServer
from tests.system.conftest import Server, bearer, cli_env
from tests.system.crowd import Crowd, check_answers
from tests.system.test_past_one_machine import USE_LINE

pytestmark = pytest.mark.slow

CODE = "FAULTS"
BRAND_EMAIL = "promo@acme.example"
CATCH_UP_SECONDS = 60.0
#: Signs the tests' tokens with the key the servers get from ``cli_env``.
SIGNER = Settings(jwt_secret=SECRET, _env_file=None)  # type: ignore[call-arg]


def tokens_for(users: list[str]) -> dict[str, str]:
    return {user: make_token(SIGNER, "user", user) for user in users}


def service_headers() -> dict[str, str]:
    return bearer(make_token(SIGNER, "service", "marketplace"))


def brand_headers() -> dict[str, str]:
    return bearer(make_token(SIGNER, "brand", "acme", "acme"))


async def open_sale(url: str, code: str = CODE) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.put(
            "/api/v1/brands/acme/", json={"name": "Acme", "email": BRAND_EMAIL}, headers=service_headers()
        )
        assert r.status_code == 201, r.text
        body = {"id": code, "rule": {"brand": "acme", "discount": 25}, "validity": "2099-01-01T00:00:00Z"}
        r = await http.post("/api/v1/discountcode/", json=body, headers=brand_headers())
        assert r.status_code == 201, r.text


async def until(what: str, done: Callable[[], Awaitable[bool]], seconds: float = CATCH_UP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not await done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def ledger_counts(database_url: str, code: str = CODE) -> Counter[str]:
    """How many rows each user has in the durable ledger for ``code``."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(DiscountUsage.user_id, func.count())
                .where(DiscountUsage.code == code)
                .group_by(DiscountUsage.user_id)
            )
            return Counter({user: count for user, count in rows})
    finally:
        await engine.dispose()


async def replays_are_refused(url: str, crowd: Crowd, users: list[str]) -> None:
    """Every shopper's use is in the usage store: a second redemption is a 409 for each of them."""
    again = Crowd(lambda: url, crowd.tokens, crowd.code, in_flight=crowd.in_flight)
    await again.run(users)
    answers = [(user, answers[-1].status, answers[-1].code) for user, answers in again.answers.items()]
    assert sorted(answers) == [(user, 409, "code_already_used") for user in sorted(users)]


async def ledger_has_each_once(database_url: str, users: list[str]) -> None:
    async def complete() -> bool:
        return sum((await ledger_counts(database_url)).values()) >= len(users)

    await until(f"{len(users)} usages in the ledger", complete)
    assert await ledger_counts(database_url) == Counter(dict.fromkeys(users, 1))


async def under_way(crowd: Crowd, users: list[str], served: int = 200) -> asyncio.Task[None]:
    """The crowd sent off, once ``served`` of them are through: the moment to break something."""
    load = asyncio.create_task(crowd.run(users))

    async def some_served() -> bool:
        return crowd.successes() >= served

    await until(f"the first {served} redemptions", some_served)
    return load


def sqlite_ledger(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir.resolve() / 'discounts.sqlite3'}"


def no_tracebacks(server: Server) -> None:
    log = server.stop()
    assert "Traceback" not in log, log[log.find("Traceback") :][:4000]


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Redis as production runs it for usages: every write on disk before it is acknowledged."""
    redis = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
    yield redis
    redis.stop()


async def test_redis_killed_and_restarted_under_load_answers_503s_and_keeps_every_201(
    tmp_path: Path, aof_redis: RedisServer
) -> None:
    users = [f"r{n:04d}" for n in range(900)]
    data = tmp_path / "data"
    server = await asyncio.to_thread(Server, cli_env(data, DISCOUNTS_USAGE_STORE_URL=aof_redis.url))
    try:
        await open_sale(server.url)
        crowd = Crowd(lambda: server.url, tokens_for(users), CODE.lower(), keyed=frozenset(users[::2]))
        load = await under_way(crowd, users)
        aof_redis.kill()  # kill -9: whatever it had not written to disk is gone
        await asyncio.sleep(1.5)
        aof_redis.start()  # same port, same directory: it loads its append-only file
        await load

        acknowledged = check_answers(crowd, users)
        assert crowd.statuses()[503] > 0, "the crowd never met the outage"
        assert len(acknowledged) > 200
        await replays_are_refused(server.url, crowd, users)
        await ledger_has_each_once(sqlite_ledger(data), users)
    finally:
        no_tracebacks(server)


@pytest.mark.parametrize("store", ["embedded", "redis"])
async def test_the_api_process_killed_mid_load_and_restarted_keeps_every_201_once(
    tmp_path: Path, aof_redis: RedisServer, store: str
) -> None:
    users = [f"k{n:04d}" for n in range(900)]
    data = tmp_path / "data"
    # A key held by a request the kill cut off is free again after its lease: short here.
    env = cli_env(data, DISCOUNTS_IDEMPOTENCY_LEASE_SECONDS="3")
    if store == "redis":
        env["DISCOUNTS_USAGE_STORE_URL"] = aof_redis.url
    servers = [await asyncio.to_thread(Server, env)]
    try:
        await open_sale(servers[-1].url)
        crowd = Crowd(lambda: servers[-1].url, tokens_for(users), CODE.lower(), keyed=frozenset(users[::2]))
        load = await under_way(crowd, users)
        os.killpg(servers[-1].proc.pid, signal.SIGKILL)  # the API, its worker, everything of `serve`
        servers.append(await asyncio.to_thread(Server, env))  # a new port: the crowd follows it
        await load

        acknowledged = check_answers(crowd, users)
        assert len(acknowledged) > 200
        assert crowd.statuses()[0] > 0, "no request was cut off by the kill"
        await replays_are_refused(servers[-1].url, crowd, users)
        await ledger_has_each_once(sqlite_ledger(data), users)
    finally:
        servers[0].stop()
        no_tracebacks(servers[-1])


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().init()
    yield server
    server.remove()


async def test_postgresql_stopped_cached_codes_still_redeem_writes_503_and_recover(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    users = [f"p{n:04d}" for n in range(300)]
    stale_seconds = 8.0
    env = cli_env(
        tmp_path / "data",
        postgres.url,
        DISCOUNTS_CODE_CACHE_SECONDS="0.5",
        DISCOUNTS_CODE_STALE_IF_ERROR_SECONDS=str(stale_seconds),
    )
    server = await asyncio.to_thread(Server, env)
    try:
        await open_sale(server.url)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            user = bearer(tokens_for(["p-first"])["p-first"])
            assert (await http.get(f"/api/v1/discountcode/{CODE}/", headers=user)).status_code == 200
            await asyncio.to_thread(postgres.stop, "immediate")
            stopped = time.monotonic()
            await asyncio.sleep(1.5)  # past the code's period and its refresh: only stale-if-error answers now

            crowd = Crowd(lambda: server.url, tokens_for(users), CODE.lower())
            await crowd.run(users)
            assert check_answers(crowd, users) == set(users)  # a cached code redeems with the database down
            assert crowd.statuses() == {201: len(users)}

            brand = {"name": "Other", "email": "promo@other.example"}
            refused = await http.put("/api/v1/brands/other/", json=brand, headers=service_headers())
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) > 0
            assert (await http.get("/readyz")).status_code == 503
            await asyncio.sleep(max(0.0, stale_seconds + 0.5 - (time.monotonic() - stopped)))
            too_stale = await http.post(
                "/api/v1/discountcodeusage/",
                json={"code": CODE, "user": "p-late", "amount": "80.00"},
                headers=bearer(tokens_for(["p-late"])["p-late"]),
            )
            assert too_stale.status_code == 503, too_stale.text  # stale-if-error is bounded

            await asyncio.to_thread(postgres.start)

            async def writes_work() -> bool:
                answer = await http.put("/api/v1/brands/other/", json=brand, headers=service_headers())
                assert answer.status_code in (201, 503), answer.text
                return answer.status_code == 201

            await until("a write after PostgreSQL is back", writes_work, seconds=20)
            assert (await http.get("/readyz")).status_code == 200
        ledger = postgres.url.replace("postgresql://", "postgresql+asyncpg://")
        await ledger_has_each_once(ledger, users)  # the copies that failed meanwhile are done
    finally:
        no_tracebacks(server)


async def test_broker_down_redemptions_succeed_and_the_mail_catches_up(tmp_path: Path) -> None:
    users = [f"b{n:04d}" for n in range(200)]
    broker = RedisServer(tmp_path / "broker", "--appendonly", "yes").start()
    sink = SMTPSink().start()
    env = cli_env(
        tmp_path / "data",
        DISCOUNTS_BROKER_URL=broker.url,
        DISCOUNTS_SMTP_URL=sink.url,
        DISCOUNTS_BRAND_DIGEST_SECONDS="1",
        DISCOUNTS_FANOUT_SWEEP_SECONDS="1",
    )
    server = await asyncio.to_thread(Server, env)
    try:
        await open_sale(server.url)
        broker.kill()
        crowd = Crowd(lambda: server.url, tokens_for(users), CODE.lower())
        await crowd.run(users)
        assert crowd.statuses() == {201: len(users)}
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            # A shopper joins and a brand creates a code while the broker is down: both are
            # acknowledged, and the code's announcement waits in its outbox row.
            shopper = {"email": "ann@example.com"}
            r = await http.put("/api/v1/users/ann/", json=shopper, headers=service_headers())
            assert r.status_code == 201, r.text
            body = {"id": "LATER", "rule": {"brand": "acme", "discount": 10}, "validity": "2099-01-01T00:00:00Z"}
            r = await http.post("/api/v1/discountcode/", json=body, headers=brand_headers())
            assert r.status_code == 201, r.text
        await asyncio.sleep(2)  # digests would be due by now; with the broker down none can run
        assert sink.count() == 0
        broker.start()

        def reported() -> Counter[tuple[str, str]]:
            uses: list[tuple[str, str]] = []
            for rcpt, data in sink.raw:
                if rcpt == BRAND_EMAIL:
                    message = message_from_bytes(data, policy=policy.default)
                    uses += USE_LINE.findall(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
            return Counter(uses)

        async def caught_up() -> bool:
            return sum(reported().values()) >= len(users) and sink.per_recipient()["ann@example.com"] >= 1

        await until("the brand's digests and the announcement", caught_up)
        await asyncio.sleep(2)  # a later digest would list a use twice, a second sweep announce twice
        assert reported() == Counter({(CODE, user): 1 for user in users})
        # FAULTS too, if its fan-out ran only after she joined: each code once, LATER among them.
        announced = Counter(m["Subject"] for rcpt, m in sink.messages() if rcpt == "ann@example.com")
        assert set(announced.values()) == {1}, announced
        assert any("LATER" in subject for subject in announced), announced
    finally:
        no_tracebacks(server)
        sink.stop()
        broker.stop()
