"""What only the Redis backends promise: the key layout, one slot per script, streams, durability."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from discounts.usage.redis_layout import FIELD_BYTES, LEDGER_GROUP, Layout, stream_entry, stream_payload
from discounts.usage.redis_store import RedisUsageStore, open_redis_store
from discounts.usage.store import UsageStore
from tests.services import RedisServer
from tests.usage.conftest import EXPIRES, NOW, store_settings, usage
from tests.usage.redis_cluster import LocalRedisCluster


def test_a_usage_has_one_place_and_the_hash_is_cut_into_independent_pieces() -> None:
    layout = Layout("du", shards=64)
    slot = layout.locate("SPRING", "u-1")

    assert slot == layout.locate("SPRING", "u-1")
    assert slot != layout.locate("SPRING", "u-2")
    assert 0 <= slot.shard < 64
    assert len(slot.field) == FIELD_BYTES
    assert 0 <= slot.bits < 2**32
    assert slot.head == f"du{{{slot.shard}}}SPRING:0:0"
    assert layout.stream(slot.shard) == f"du{{{slot.shard}}}:stream"
    shards = {layout.locate("SPRING", f"u-{n}").shard for n in range(2000)}
    assert shards == set(range(64))  # a popular code reaches every shard


def test_stream_entries_keep_the_usage_to_the_microsecond() -> None:
    original = usage("u-1", used_at=NOW.replace(microsecond=123456))
    entry = stream_entry(17, "1700000000000-3", {"usage": stream_payload(original).decode()})

    assert entry.id == "17/1700000000000-3"
    assert entry.usage == original


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def _open(url: str, **settings: object) -> RedisUsageStore:
    return open_redis_store(url, store_settings(**settings))


async def test_buckets_are_small_listpack_hashes_that_expire_with_the_code(
    redis_server: RedisServer, redis: Redis
) -> None:
    store = _open(redis_server.url, usage_shards=2, usage_bucket_capacity=8)
    try:
        for n in range(300):
            assert await store.record(usage(f"u-{n}"), expires_at=EXPIRES)
        namespace = store.layout.namespace
        buckets = [key async for key in redis.scan_iter(f"{namespace}{{*}}SPRING:*")]

        assert len(buckets) > 300 // 8
        for key in buckets:
            assert await redis.object("encoding", key) == "listpack"
            assert await redis.hlen(key) <= 8
            assert await redis.expiretime(key) == int(EXPIRES.timestamp())
        for shard in range(2):
            head = store.layout.code_prefix(shard, "SPRING") + ":0:0"
            assert int(await redis.hget(head, "L")) >= 3  # several levels opened
    finally:
        await store.close()


async def test_changing_the_shard_count_is_refused(redis_server: RedisServer) -> None:
    first = _open(redis_server.url, usage_shards=8)
    assert await first.record(usage("u-1"), expires_at=EXPIRES)
    other = _open(redis_server.url, usage_shards=4, usage_namespace=first.layout.namespace)
    try:
        with pytest.raises(RuntimeError, match="shard count"):
            await other.record(usage("u-2"), expires_at=EXPIRES)
    finally:
        await first.close()
        await other.close()


async def test_acknowledged_entries_leave_the_stream_and_idle_consumers_are_forgotten(
    redis_server: RedisServer, redis: Redis
) -> None:
    store = _open(redis_server.url, usage_shards=4)
    try:
        for n in range(40):
            await store.record(usage(f"u-{n}"), expires_at=EXPIRES)
        streams = [store.layout.stream(shard) for shard in range(4)]
        assert sum([await redis.xlen(s) for s in streams]) == 40

        entries = await store.pending(100)
        await store.acknowledge([entry.id for entry in entries])
        assert sum([await redis.xlen(s) for s in streams]) == 0

        await asyncio.sleep(0.1)  # idle past usage_claim_idle_seconds
        await store.purge_expired(NOW)
        consumers = [await redis.xinfo_consumers(s, LEDGER_GROUP) for s in streams]
        assert consumers == [[], [], [], []]
    finally:
        await store.close()


@pytest.mark.parametrize("fixture", ["redis_server", "redis_cluster"])
async def test_scripts_are_loaded_again_after_the_server_forgot_them(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    target: RedisServer | LocalRedisCluster = request.getfixturevalue(fixture)
    store = _open(target.url)
    try:
        assert await store.record(usage("u-1"), expires_at=EXPIRES)
        nodes = target.nodes if isinstance(target, LocalRedisCluster) else [target]
        for node in nodes:
            client = Redis(port=node.port)
            await client.script_flush()
            await client.aclose()

        assert await store.record(usage("u-2"), expires_at=EXPIRES)
        assert await store.count("SPRING", NOW) == 2
        assert await store.restore([usage("u-3")], expires_at={"SPRING": EXPIRES}, now=NOW) == 1
    finally:
        await store.close()


async def test_a_popular_code_spreads_over_every_master_one_slot_per_shard(redis_cluster: LocalRedisCluster) -> None:
    store = _open(redis_cluster.url, usage_shards=64, usage_bucket_capacity=4)
    try:
        await asyncio.gather(*(store.record(usage(f"u-{n}"), expires_at=EXPIRES) for n in range(600)))
        namespace = store.layout.namespace
        per_node = []
        for node in redis_cluster.nodes:
            client = Redis(port=node.port, decode_responses=True)
            keys = [key async for key in client.scan_iter(f"{namespace}{{*}}SPRING:*")]
            for key in keys:  # every bucket of a shard hashes to the slot of the shard's stream
                shard = int(key[len(namespace) + 1 : key.index("}")])
                stream = store.layout.stream(shard)
                assert await client.execute_command("CLUSTER", "KEYSLOT", key) == await client.execute_command(
                    "CLUSTER", "KEYSLOT", stream
                )
            per_node.append(len(keys))
            await client.aclose()

        assert all(count > 0 for count in per_node), per_node
        assert await store.count("SPRING", NOW) == 600
    finally:
        await store.close()


async def test_a_cluster_is_found_from_any_one_of_its_nodes(redis_cluster: LocalRedisCluster) -> None:
    url = f"redis+cluster://127.0.0.1:{redis_cluster.nodes[1].port}"
    store: UsageStore = _open(url)
    try:
        await store.ping()
        assert await store.record(usage("u-1"), expires_at=EXPIRES)
        assert await store.used_at("SPRING", "u-1", now=NOW) == NOW
    finally:
        await store.close()


def test_cluster_urls_list_every_seed_node_and_keep_the_credentials() -> None:
    store = _open("rediss+cluster://ann:s3cret@10.0.0.1:7000,10.0.0.2:7001,redis-c/?socket_timeout=3")
    client = store._redis
    nodes = sorted(client.nodes_manager.startup_nodes)  # type: ignore[union-attr]

    assert nodes == ["10.0.0.1:7000", "10.0.0.2:7001", "redis-c:6379"]
    kwargs = client.get_connection_kwargs()
    assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == ("ann", "s3cret", 3.0)
    assert kwargs["connection_class"].__name__ == "SSLConnection"


async def test_acknowledged_usages_survive_kill_9_with_appendfsync_always(tmp_path: Path) -> None:
    directory = tmp_path / "aof"
    durable = ("--appendonly", "yes", "--appendfsync", "always")
    server = RedisServer(directory, *durable).start()
    settings = {"usage_shards": 4, "usage_namespace": "durable"}
    try:
        store = _open(server.url, **settings)
        users = [f"u-{n}" for n in range(50)]
        for user in users:
            assert await store.record(usage(user), expires_at=EXPIRES)
        copied = await store.pending(20)
        await store.acknowledge([entry.id for entry in copied])
        taken_not_acknowledged = await store.pending(10)  # a copier that will die with Redis
        assert len(taken_not_acknowledged) == 10
        await store.close()

        server.kill()
        port = server.port
        server = RedisServer(directory, *durable)
        server.port = port
        server.start()

        await asyncio.sleep(0.1)  # the dead copier's entries go idle
        store = _open(server.url, **settings)
        assert await store.count("SPRING", NOW) == 50
        assert not any([await store.record(usage(user), expires_at=EXPIRES) for user in users])
        remaining = await store.pending(100)
        copied_users = {entry.usage.user for entry in copied}
        assert sorted(entry.usage.user for entry in remaining) == sorted(set(users) - copied_users)
        await store.close()
    finally:
        server.stop()


async def test_every_waiting_redemption_hears_that_redis_went_away(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "gone").start()
    store = _open(server.url)
    try:
        assert await store.record(usage("u-0"), expires_at=EXPIRES)
        server.stop()
        results = await asyncio.gather(
            *(store.record(usage(f"u-{n}"), expires_at=EXPIRES) for n in range(1, 21)), return_exceptions=True
        )
        assert all(isinstance(result, RedisConnectionError) for result in results), results
    finally:
        await store.close()
        server.stop()


def test_calls_are_packed_as_redis_py_would_pack_them() -> None:
    from redis.asyncio.connection import Connection

    from discounts.usage.redis_pipelining import pack_evalsha

    arguments = [2, "du{7}SPRING:0:0", "du{7}:stream", b"\x00\xff\r\n", "ünïcode", 0, -17, 2**40, "x" * 70_000]
    theirs = b"".join(Connection().pack_command("EVALSHA", "a" * 40, *arguments))
    assert pack_evalsha("a" * 40, arguments) == theirs


async def test_an_error_reply_in_a_batch_is_that_calls_alone(redis_server: RedisServer) -> None:
    """Calls sent in one write: one refused by Redis, the others answered, the connection still in step."""
    from discounts.usage.redis_pipelining import AutoPipeline

    client = Redis.from_url(redis_server.url, decode_responses=True)
    pipeline = AutoPipeline(client, asyncio.Semaphore(4))
    echo = client.register_script("return ARGV[1]")
    fails = client.register_script("return redis.error_reply('REFUSED ' .. ARGV[1])")
    await client.script_flush()  # the first write finds neither script: loaded and sent again
    try:
        calls = [pipeline.call(fails if n == 3 else echo, [], [f"n{n}"]) for n in range(8)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert [str(r) for r in results] == [f"n{n}" if n != 3 else "REFUSED n3" for n in range(8)]
        assert isinstance(results[3], Exception)
        assert await pipeline.call(echo, [], ["after"]) == "after"
    finally:
        await client.aclose()
