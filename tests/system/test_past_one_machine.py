"""Past one machine: a flash sale through two API processes on a Redis Cluster, the ledger and digests behind it.

Everything is a separate process, as in a deployment: two ``discounts serve --no-background``
(no shared memory between them), a 3-master Redis Cluster, one ``discounts worker --beat`` on
RabbitMQ, PostgreSQL, an SMTP server. 5,000 distinct users redeem one code, alternating
between the API processes; the test then follows each usage to the durable ledger and into
the brand's digest e-mails.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import ssl
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.email_common import scratch_database
from discounts.db import make_engine
from discounts.settings import Settings
from discounts.usage.models import DiscountUsage
from tests.conftest import SECRET, make_token
from tests.notify.sink import SMTPSink
from tests.notify.worker import WorkerProcess, delete_queues
from tests.services import RABBITMQ_URL, missing, port_open
from tests.system.conftest import Server, bearer, cli_env
from tests.usage.redis_cluster import LocalRedisCluster

pytestmark = pytest.mark.slow

USERS = 5000
#: Requests in flight across both API processes: a crowd, but one that two cores can serve.
IN_FLIGHT = 64
CODE = "FLASH"
BRAND_EMAIL = "promo@acme.example"
#: How long the ledger copy and the digests may take to catch up after the sale.
CATCH_UP_SECONDS = 90.0
#: One line of a digest's plain-text part (templates/brand_digest.txt): "- CODE by USER at ...".
USE_LINE = re.compile(r"^- (\S+) by (\S+) at ", re.MULTILINE)


@dataclass
class Deployment:
    apis: list[Server]
    worker: WorkerProcess
    sink: SMTPSink
    database_url: str
    settings: Settings


@pytest.fixture
async def scratch_postgres() -> AsyncIterator[str]:
    """A scratch PostgreSQL database, migrated, dropped afterwards (with whatever still holds it open)."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            url = await stack.enter_async_context(scratch_database())
        except Exception as exc:
            missing("PostgreSQL", exc)
        yield url


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster(tmp_path / "cluster", masters=3)
    try:
        cluster.start()
    except Exception as exc:  # whatever went wrong, the nodes that did start are stopped
        cluster.stop()
        missing("a local Redis Cluster", exc)
    yield cluster
    cluster.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def deployment(
    tmp_path: Path, scratch_postgres: str, redis_cluster: LocalRedisCluster, smtp_sink: SMTPSink
) -> Iterator[Deployment]:
    if not port_open("127.0.0.1", 5672):
        missing("RabbitMQ", "nothing listens on 127.0.0.1:5672")
    database_url = scratch_postgres
    settings = Settings(
        data_dir=tmp_path / "worker",
        database_url=database_url,
        usage_store_url=redis_cluster.url,
        broker_url=RABBITMQ_URL,
        queue_prefix=f"discounts-test-{uuid.uuid4().hex[:10]}",  # the broker is shared: queues of our own
        smtp_url=smtp_sink.url,
        jwt_secret=SECRET,
        brand_digest_seconds=1,
        _env_file=None,  # type: ignore[call-arg]
    )
    apis: list[Server] = []
    worker = WorkerProcess(settings, tmp_path / "worker.log", beat=True)

    def api_env(name: str) -> dict[str, str]:
        return cli_env(
            tmp_path / name,  # two "machines": separate data directories, nothing shared but the stores
            database_url,
            DISCOUNTS_USAGE_STORE_URL=redis_cluster.url,
            DISCOUNTS_BROKER_URL=RABBITMQ_URL,
            DISCOUNTS_QUEUE_PREFIX=settings.queue_prefix,
            DISCOUNTS_SMTP_URL=smtp_sink.url,
            # A flash sale is thousands of callers at once, each within any per-caller limit; the
            # limiter (per caller and process, tested elsewhere) would only spend the two shared
            # cores here, and a 429 would be neither of the answers this test is about.
            DISCOUNTS_RATE_LIMIT="",
        )

    try:
        worker.start()
        with ThreadPoolExecutor(2) as pool:  # each start waits for its port: wait for both at once
            starting = [pool.submit(Server, api_env(name), "--no-background") for name in ("api-a", "api-b")]
        apis.extend(future.result() for future in starting if future.exception() is None)
        for future in starting:
            future.result()  # a failed start fails the test; the started one is stopped below
        yield Deployment(apis, worker, smtp_sink, database_url, settings)
    finally:
        for api in apis:
            api.stop()
        worker.stop()
        delete_queues(settings)


async def redeem_all(apis: list[Server], users: list[str], tokens: dict[str, str]) -> list[tuple[str, httpx.Response]]:
    """Each user redeems CODE once, user ``n`` through API process ``n % 2``, IN_FLIGHT requests at a time.

    Each sender has a client of its own with one connection, used back to back: httpcore's
    pool costs more CPU per request the more connections it holds (one shared pool of 32 made
    this process the busiest on the machine), and with shared pools 3 runs of 5 ended in
    ``ReadError`` (likely a connection idle in the pool, closed by uvicorn's 5-second
    keep-alive as a request went out; the servers logged nothing before it).
    """
    per_api = IN_FLIGHT // len(apis)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=1.0)
    tls = ssl.create_default_context()  # plain HTTP; built once instead of once per client
    answers: list[tuple[str, httpx.Response]] = []

    async def send(api: Server, queue: Iterator[str]) -> None:
        async with httpx.AsyncClient(base_url=api.url, limits=limits, timeout=60, verify=tls) as http:
            for user in queue:
                body = {"code": CODE.lower(), "user": user, "amount": "80.00"}
                response = await http.post("/api/v1/discountcodeusage/", json=body, headers=bearer(tokens[user]))
                answers.append((user, response))

    async with asyncio.TaskGroup() as senders:
        for index, api in enumerate(apis):
            queue = iter(users[index :: len(apis)])
            for _ in range(per_api):
                senders.create_task(send(api, queue))
    return answers


async def ledger_users(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(DiscountUsage.user_id).where(DiscountUsage.code == CODE))
        return [row[0] for row in rows]


class DigestReader:
    """(code, user) for every use listed in the brand's digests so far; each message parsed once."""

    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink
        self.read = 0
        self.uses: list[tuple[str, str]] = []

    def __call__(self) -> list[tuple[str, str]]:
        received = self.sink.raw[self.read :]
        self.read += len(received)
        for rcpt, data in received:
            message = message_from_bytes(data, policy=policy.default)
            if rcpt == BRAND_EMAIL:
                self.uses += USE_LINE.findall(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        return self.uses


async def wait_until(deadline: float, what: str, done: Any) -> None:
    while not await done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


async def test_a_flash_sale_of_5000_users_through_two_api_processes_on_a_redis_cluster(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("sniffio") is None:
        # httpcore tries ``import sniffio`` on every request; uninstalled, each try searches
        # sys.path again (a quarter of this process's CPU, py-spy). None in sys.modules makes
        # the same import fail at once.
        monkeypatch.setitem(sys.modules, "sniffio", None)
    settings = deployment.settings
    users = [f"u{n:05d}" for n in range(USERS)]
    tokens = {user: make_token(settings, "user", user) for user in users}
    async with httpx.AsyncClient(base_url=deployment.apis[0].url, timeout=30) as http:
        r = await http.put(
            "/api/v1/brands/acme/",
            json={"name": "Acme", "email": BRAND_EMAIL},
            headers=bearer(make_token(settings, "service", "marketplace")),
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            "/api/v1/discountcode/",
            json={"id": CODE, "rule": {"brand": "acme", "discount": 25}, "validity": "2099-01-01T00:00:00Z"},
            headers=bearer(make_token(settings, "brand", "acme", "acme")),
        )
        assert r.status_code == 201, r.text

    first = await redeem_all(deployment.apis, users, tokens)
    assert Counter(response.status_code for _, response in first) == {201: USERS}
    assert sorted((r.json()["user"], r.json()["code"], r.json()["amount_to_pay"]) for _, r in first) == [
        (user, CODE, "60.00") for user in users
    ]

    replay = await redeem_all(deployment.apis, users, tokens)
    assert Counter(response.status_code for _, response in replay) == {409: USERS}
    assert Counter(response.json()["code"] for _, response in replay) == {"code_already_used": USERS}

    deadline = time.monotonic() + CATCH_UP_SECONDS
    engine = make_engine(deployment.database_url)
    try:

        async def ledger_complete() -> bool:
            async with engine.connect() as conn:
                rows = await conn.scalar(select(func.count()).where(DiscountUsage.code == CODE))
            return (rows or 0) >= USERS

        await wait_until(deadline, f"{USERS} usages of {CODE} in the ledger", ledger_complete)
        in_ledger = await ledger_users(engine)
    finally:
        await engine.dispose()
    assert len(in_ledger) == USERS
    assert set(in_ledger) == set(users)

    digest_uses = DigestReader(deployment.sink)

    async def digests_complete() -> bool:
        return len(digest_uses()) >= USERS

    await wait_until(deadline, f"the brand's digests to list {USERS} uses", digests_complete)
    await asyncio.sleep(2 * settings.brand_digest_seconds)  # a later digest would show a use twice
    assert Counter(digest_uses()) == Counter({(CODE, user): 1 for user in users})
    assert set(deployment.sink.per_recipient()) == {BRAND_EMAIL}  # nobody in the directory: no announcements

    for api in deployment.apis:
        log = api.stop()
        assert "Traceback" not in log, log[log.find("Traceback") :][:4000]
        assert not api.leftovers, "API processes outlived `discounts serve`"
