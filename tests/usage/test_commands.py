"""``discounts usage rebuild`` and ``verify`` as an operator runs them, against a real Redis."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import unit_of_work
from discounts.usage.ledger import insert_usages
from discounts.usage.redis_store import open_redis_store
from tests.services import RedisServer
from tests.system.conftest import cli_env, run_cli
from tests.usage.conftest import EXPIRES, add_code, store_settings, usage


async def test_rebuild_then_verify_from_the_command_line(
    tmp_path: Path, database_url: str, sessions: async_sessionmaker[AsyncSession], redis_server: RedisServer
) -> None:
    settings = store_settings()
    env = cli_env(
        tmp_path / "data",
        database_url,
        DISCOUNTS_USAGE_STORE_URL=redis_server.url,
        DISCOUNTS_USAGE_NAMESPACE=settings.usage_namespace,
        DISCOUNTS_USAGE_SHARDS=str(settings.usage_shards),
    )
    await add_code(sessions, "SPRING")
    async with unit_of_work(sessions) as uow:
        await insert_usages(uow.session, [usage(f"u-{n}") for n in range(25)])

    differs = run_cli("usage", "verify", env=env)
    assert differs.returncode == 1, differs.stderr
    assert "25 usages are in the ledger but not in the store" in differs.stdout
    assert "count differs: code SPRING: ledger 25, store 0" in differs.stdout

    rebuilt = run_cli("usage", "rebuild", "--batch", "10", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "25 usages restored, 0 were there already (1 live codes)" in rebuilt.stdout

    store = open_redis_store(redis_server.url, settings)
    try:
        assert not await store.record(usage("u-7"), expires_at=EXPIRES)
        assert await store.record(usage("u-new"), expires_at=EXPIRES)  # on the stream, not yet in the ledger
    finally:
        await store.close()

    agrees = run_cli("usage", "verify", env=env)
    assert agrees.returncode == 0, agrees.stdout + agrees.stderr
    assert "copied 1 new usages from the stream to the ledger" in agrees.stdout
    assert "the store and the ledger agree" in agrees.stdout

    client = Redis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    lost = run_cli("usage", "verify", "--no-copy", env=env)
    assert lost.returncode == 1
    assert "26 usages are in the ledger but not in the store" in lost.stdout
