"""The storages of guessing misses, one suite for each: SQLite (a fake clock) and Redis / Redis Cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from limits import parse

from discounts.codes.guess_storage import open_miss_storage
from discounts.codes.guessing import REFRESH_SECONDS, Guesses, MissStorage
from discounts.errors import CodeNotFound, RateLimited
from discounts.usage.store import open_usage_store
from tests.usage.conftest import store_settings


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["embedded", "redis", "redis-cluster"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MissStorage]:
    namespace = f"g{uuid.uuid4().hex[:8]}"
    if request.param == "embedded":
        opened = open_miss_storage("sqlite:///x", None, tmp_path, namespace)
        yield opened
        await opened.close()
        return
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    else:
        url = request.getfixturevalue("redis_cluster").url
    store = open_usage_store(url, store_settings(usage_namespace=namespace))
    opened = open_miss_storage(url, store.client, tmp_path, namespace)  # type: ignore[attr-defined]
    yield opened
    await opened.close()
    await store.close()


async def test_misses_are_counted_up_to_the_limit_then_refused(storage: MissStorage) -> None:
    limit = parse("3/minute")
    answers = [await storage.miss("p:u-1", limit) for _ in range(5)]
    assert [counted for counted, _ in answers] == [True, True, True, False, False]
    assert [until is None for _, until in answers] == [True, True, False, False, False]
    released = answers[2][1]
    assert released is not None
    assert 50 < released - time.time() <= 61  # the oldest miss leaves the window
    assert await storage.miss("p:u-2", limit) == (True, None)  # keys are apart


async def test_blocks_are_shared_and_forgotten_once_released(storage: MissStorage) -> None:
    now = time.time()
    await storage.block("p:u-1", now + 30)
    await storage.block("p:u-1", now + 10)  # an earlier release never shortens a block
    await storage.block("a:10.0.0.1", now + 5)
    assert await storage.blocked(now) == pytest.approx({"p:u-1": now + 30, "a:10.0.0.1": now + 5})
    assert await storage.blocked(now + 6) == pytest.approx({"p:u-1": now + 30})
    assert await storage.blocked(now + 31) == {}


async def test_a_block_decided_in_one_process_refuses_in_another(storage: MissStorage) -> None:
    clock = Clock()
    one, other = Guesses(storage, "2/minute", "", clock), Guesses(storage, "2/minute", "", clock)
    keys = ("p:user:u-1", "a:10.0.0.1")
    await other.check(keys)  # other has read the (empty) shared blocks just now
    for _ in range(2):
        await one.check(keys)
        await one.missed(keys)
    with pytest.raises(RateLimited):
        await one.check(keys)
    await other.check(keys)  # still its old copy ...
    clock.now += REFRESH_SECONDS
    with pytest.raises(RateLimited) as refused:
        await other.check(keys)  # ... refreshed: refused there too
    assert 1 <= refused.value.retry_after <= 60
    await other.check(("p:user:u-2", "a:10.0.0.2"))


async def test_a_miss_past_the_limit_is_refused_not_answered(storage: MissStorage) -> None:
    """A process whose copy is stale still refuses the miss itself: the shared count decides."""
    clock = Clock()
    one, other = Guesses(storage, "2/minute", "", clock), Guesses(storage, "2/minute", "", clock)
    keys = ("p:user:u-1", "a:-")
    await other.check(keys)
    await one.missed(keys)
    await one.missed(keys)
    with pytest.raises(RateLimited):
        async with other.watch("user:u-1", "-"):
            raise CodeNotFound("no such code")


async def test_hits_and_other_errors_are_never_counted(storage: MissStorage) -> None:
    guesses = Guesses(storage, "1/minute", "1/minute", Clock())
    for _ in range(5):
        async with guesses.watch("user:u-1", "10.0.0.1"):
            pass
        with pytest.raises(ValueError):
            async with guesses.watch("user:u-1", "10.0.0.1"):
                raise ValueError("not a miss")
    assert await storage.blocked(time.time()) == {}
