"""With DISCOUNTS_USAGE_MIN_REPLICAS, a failover to the replica loses no acknowledged claim.

A real primary and a real replica (two redis-server processes): claims are acknowledged only
after ``WAIT``; the primary is killed with SIGKILL mid-load, the replica promoted, and every
acknowledged usage must be there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from discounts.usage.redis_pipelining import NotReplicated
from discounts.usage.store import Outcome, open_usage_store
from tests.services import RedisServer
from tests.usage.conftest import EXPIRES, NOW, store_settings, usage


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = RedisServer(tmp_path / "primary").start()
    replica = RedisServer(tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary.port)).start()
    try:
        deadline = time.monotonic() + 10
        with Redis.from_url(replica.url) as client:
            while client.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never caught up with the primary"
                time.sleep(0.05)
        yield primary, replica
    finally:
        primary.stop()
        replica.stop()


async def test_every_acknowledged_claim_survives_the_primary_being_killed(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    settings = store_settings(usage_min_replicas=1, usage_replica_timeout_ms=2000)
    store = open_usage_store(primary.url, settings)
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def claim(user: str) -> None:
        try:
            if await store.record(usage(user), expires_at=EXPIRES):
                acknowledged.append(user)
        except Exception:  # refused or cut off when the primary died: not acknowledged
            return
        if len(acknowledged) >= 300:
            enough.set()

    async def load() -> None:
        for wave in range(200):
            await asyncio.gather(*(claim(f"u-{wave}-{n}") for n in range(20)))

    running = asyncio.create_task(load())
    await enough.wait()
    primary.kill()  # mid-load, no chance to do anything more
    await running
    await store.close()
    with Redis.from_url(replica.url) as client:
        client.execute_command("REPLICAOF", "NO", "ONE")
    promoted = open_usage_store(replica.url, settings.model_copy(update={"usage_min_replicas": 0}))
    try:
        found = await promoted.used_at_many([("SPRING", user) for user in acknowledged], now=NOW)
        assert None not in found, f"{found.count(None)} of {len(acknowledged)} acknowledged claims were lost"
        again = await promoted.record(usage(acknowledged[0]), expires_at=EXPIRES)
        assert again.outcome is Outcome.USED
    finally:
        await promoted.close()


async def test_without_a_replica_to_confirm_a_claim_is_refused_not_acknowledged(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    replica.kill()
    store = open_usage_store(primary.url, store_settings(usage_min_replicas=1, usage_replica_timeout_ms=200))
    try:
        with pytest.raises(NotReplicated, match="0 of 1 replicas"):
            await store.record(usage("u-1"), expires_at=EXPIRES)
        # Reads are not held up by the missing replica.
        assert await store.used_at("SPRING", "u-2", now=NOW) is None
    finally:
        await store.close()
