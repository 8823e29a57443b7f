"""The records of Idempotency-Key, one suite for every place they live: SQLite, Redis, Redis Cluster."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from discounts.errors import IdempotencyInProgress, IdempotencyKeyReused
from discounts.idempotency import Answer, Idempotency, open_record_storage
from discounts.usage.store import open_usage_store
from tests.usage.conftest import store_settings


@pytest.fixture(params=["embedded", "redis", "redis-cluster"])
async def keeper(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Idempotency]:
    namespace = f"i{uuid.uuid4().hex[:8]}"
    store = None
    if request.param == "embedded":
        storage = open_record_storage(None, tmp_path, namespace)
    else:
        server = request.getfixturevalue("redis_server" if request.param == "redis" else "redis_cluster")
        store = open_usage_store(server.url, store_settings(usage_namespace=namespace))
        storage = open_record_storage(store.pipeline, tmp_path, namespace)  # type: ignore[attr-defined]
    yield Idempotency(storage, 86_400, 60)
    await storage.close()
    if store is not None:
        await store.close()


ANSWER = Answer(201, [("content-type", "application/json"), ("location", "/x/1/")], b'{"id": "1"}')


async def test_the_owner_keeps_the_answer_and_a_retry_gets_it(keeper: Idempotency) -> None:
    fingerprint = keeper.fingerprint("POST", "/x/", b'{"a": 1}')
    owned = await keeper.begin("user:u-1", "k", fingerprint)
    assert isinstance(owned, tuple)
    with pytest.raises(IdempotencyInProgress):
        await keeper.begin("user:u-1", "k", fingerprint)
    with pytest.raises(IdempotencyKeyReused):
        await keeper.begin("user:u-1", "k", keeper.fingerprint("POST", "/x/", b'{"a": 2}'))
    await keeper.finish(owned, fingerprint, ANSWER)
    assert await keeper.begin("user:u-1", "k", fingerprint) == ANSWER
    assert isinstance(await keeper.begin("user:u-2", "k", fingerprint), tuple)  # another principal's key


async def test_a_failed_request_frees_its_key(keeper: Idempotency) -> None:
    fingerprint = keeper.fingerprint("POST", "/x/", b"{}")
    owned = await keeper.begin("user:u-1", "k", fingerprint)
    assert isinstance(owned, tuple)
    await keeper.finish(owned, fingerprint, Answer(503, [], b"{}"))
    assert isinstance(await keeper.begin("user:u-1", "k", fingerprint), tuple)


async def test_only_the_owner_writes_the_answer(keeper: Idempotency) -> None:
    """A request that outlived its lease finds its key taken by a newer one and leaves it alone."""
    fingerprint = keeper.fingerprint("POST", "/x/", b"{}")
    owned = await keeper.begin("user:u-1", "k", fingerprint)
    assert isinstance(owned, tuple)
    stale = (owned[0], "not-the-token")
    await keeper.finish(stale, fingerprint, ANSWER)
    await keeper.finish(stale, fingerprint, None)
    with pytest.raises(IdempotencyInProgress):
        await keeper.begin("user:u-1", "k", fingerprint)
