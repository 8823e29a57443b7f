"""Every usage-store backend behind one fixture, on private Redis processes started here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.db import unit_of_work
from discounts.directory.models import Brand
from discounts.fields import code_hash
from discounts.settings import Settings
from discounts.usage.store import Usage, UsageStore, open_usage_store
from tests.services import RedisServer, missing
from tests.usage.redis_cluster import LocalRedisCluster

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
#: Far enough ahead that a test never sees it pass, whatever the real clock says.
VALIDITY = datetime(2099, 5, 31, 23, 59, 59, tzinfo=UTC)
GRACE = timedelta(days=7)
EXPIRES = VALIDITY + GRACE


def usage(user: str, code: str = "SPRING", used_at: datetime = NOW) -> Usage:
    return Usage(
        code=code,
        user=user,
        brand="acme",
        discount=10,
        amount=Decimal("120.00"),
        discount_amount=Decimal("12.00"),
        amount_to_pay=Decimal("108.00"),
        used_at=used_at,
    )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except (OSError, TimeoutError) as exc:
        missing("redis-server", exc)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3)
    try:
        cluster.start()
    except (OSError, TimeoutError) as exc:
        cluster.stop()
        missing("a local Redis Cluster", exc)
    yield cluster
    cluster.stop()


@dataclass
class Backend:
    """One kind of store: how to open it, and how to lose everything it holds."""

    name: str
    url: str
    settings: Settings
    server: RedisServer | None = None
    cluster: LocalRedisCluster | None = None

    def open(self, **settings: object) -> UsageStore:
        """A new store over the same data; ``settings`` override the backend's (e.g. a tiny bucket)."""
        return open_usage_store(self.url, self.settings.model_copy(update=settings))

    async def wipe(self, store: UsageStore) -> UsageStore:
        """Close ``store``, destroy its data as a crash without persistence would, and reopen."""
        await store.close()
        if self.cluster is not None:
            self.cluster.flush()
        elif self.server is not None:
            client = Redis.from_url(self.server.url)
            await client.flushall()
            await client.aclose()
        else:
            path = self.url.removeprefix("sqlite:///")
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(path + suffix).unlink, missing_ok=True)
        return self.open()


def store_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "usage_shards": 8,
        "usage_namespace": f"t{uuid.uuid4().hex[:10]}",
        "usage_claim_idle_seconds": 0.05,
        "_env_file": None,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture(params=["embedded", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    settings = store_settings()
    if request.param == "embedded":
        return Backend("embedded", f"sqlite:///{tmp_path / 'usages.sqlite3'}", settings)
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return Backend("redis", server.url, settings, server=server)
    cluster: LocalRedisCluster = request.getfixturevalue("redis_cluster")
    return Backend("redis-cluster", cluster.url, settings, cluster=cluster)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[UsageStore]:
    opened = backend.open()
    yield opened
    await opened.close()


async def add_code(
    sessions: async_sessionmaker[AsyncSession], code: str = "SPRING", validity: datetime = VALIDITY, **rule: object
) -> None:
    """The rows a ledger rebuild reads a code's expiry from."""
    async with unit_of_work(sessions) as uow:
        if await uow.session.get(Brand, "acme") is None:
            uow.session.add(Brand(id="acme", name="Acme", email="promo@acme.example", created_at=NOW, updated_at=NOW))
            await uow.session.flush()
        made = DiscountRule(brand="acme", discount=10, created_at=NOW, **rule)
        uow.session.add(made)
        await uow.session.flush()
        uow.session.add(DiscountCode(id=code, hash=code_hash(code), rule_id=made.id, validity=validity, created_at=NOW))
