"""The cluster path of the automatic pipeline, on a real 3-master, 3-replica Redis Cluster.

Each node's calls go in one write of their own, with ``WAIT`` for that node's replicas; a call
a node did not run (``ASK``, ``MOVED``) is sent on to the right node once; a call whose
connection broke is never sent again; and a connection the cluster client closed under a call
surfaces as :class:`StoreUnreachable`, a 503, not an ``AttributeError`` and a 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from discounts.errors import StoreUnreachable
from discounts.usage.redis_pipelining import NotReplicated
from discounts.usage.redis_store import RedisUsageStore
from discounts.usage.store import Outcome, open_usage_store
from tests.services import RedisServer
from tests.usage.conftest import EXPIRES, NOW, store_settings, usage
from tests.usage.redis_cluster import LocalRedisCluster


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("replicated-cluster"), masters=3, replicas=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def store(replicated: LocalRedisCluster) -> AsyncIterator[RedisUsageStore]:
    opened = open_usage_store(replicated.url, store_settings(usage_min_replicas=1, usage_replica_timeout_ms=300))
    assert isinstance(opened, RedisUsageStore)
    assert (await opened.record(usage("u-first"), expires_at=EXPIRES)).outcome is Outcome.CLAIMED  # the map
    yield opened
    await opened.close()


def port_of(store: RedisUsageStore, user: str) -> int:
    """The port of the master that owns ``user``'s claim of SPRING."""
    assert isinstance(store.client, RedisCluster)
    return int(store.client.get_node_from_key(store.layout.locate("SPRING", user).head).port)


def users_in_shard(store: RedisUsageStore, shard: int, count: int) -> list[str]:
    found: list[str] = []
    n = 0
    while len(found) < count:
        n += 1
        if store.layout.locate("SPRING", f"s-{n}").shard == shard:
            found.append(f"s-{n}")
    return found


async def test_a_claim_is_acknowledged_once_a_replica_of_its_own_node_has_it(
    replicated: LocalRedisCluster, store: RedisUsageStore
) -> None:
    held = replicated.primaries()[0]
    replica = replicated.replica_of(held)
    users = [f"w-{n}" for n in range(60)]
    replicated.call(replica, "CLIENT", "PAUSE", "10000", "WRITE")  # it stops applying its master's writes
    try:
        results = await asyncio.gather(
            *(store.record(usage(user), expires_at=EXPIRES) for user in users), return_exceptions=True
        )
    finally:
        replicated.call(replica, "CLIENT", "UNPAUSE")
    on_held = [port_of(store, user) == held.port for user in users]
    assert 0 < sum(on_held) < len(users)
    for user, result, held_back in zip(users, results, on_held, strict=True):
        if held_back:
            assert isinstance(result, NotReplicated), (user, result)
            assert "0 of 1 replicas" in str(result)
        else:  # the other masters' replicas confirmed their part of the very same batch
            assert not isinstance(result, BaseException), (user, result)
            assert result.outcome is Outcome.CLAIMED, (user, result)
    replicated.wait_for_master_link(replica)
    again = await store.record(usage(users[on_held.index(True)]), expires_at=EXPIRES)
    assert again.outcome is Outcome.USED  # refused, not lost: the claim was on the master all along


async def test_calls_a_node_did_not_run_are_sent_on_to_the_node_that_has_their_slot(
    replicated: LocalRedisCluster, store: RedisUsageStore
) -> None:
    """A slot moved to another master mid-sale: ASK while its keys move, MOVED after; each claim made once."""
    shard = store.layout.locate("SPRING", "u-first").shard
    first, second, third = users_in_shard(store, shard, 3)
    assert (await store.record(usage(first), expires_at=EXPIRES)).outcome is Outcome.CLAIMED
    key = store.layout.stream(shard)
    assert isinstance(store.client, RedisCluster)
    slot = store.client.keyslot(key)
    source = next(node for node in replicated.primaries() if node.port == port_of(store, first))
    target = next(node for node in replicated.primaries() if node is not source)
    source_id, target_id = replicated.node_id(source), replicated.node_id(target)
    replicated.call(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
    replicated.call(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
    while keys := replicated.call(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split():
        replicated.call(source, "MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", *keys)
    # The source has none of the slot's keys now: it answers ASK, and the call is run on the target.
    assert (await store.record(usage(second), expires_at=EXPIRES)).outcome is Outcome.CLAIMED
    for node in replicated.primaries():
        replicated.call(node, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
    # The client still routes the slot to the source: it answers MOVED, and the call goes to the target.
    assert port_of(store, third) == source.port
    assert (await store.record(usage(third), expires_at=EXPIRES)).outcome is Outcome.CLAIMED
    assert port_of(store, third) == target.port
    for user in (first, second, third):
        assert (await store.record(usage(user), expires_at=EXPIRES)).outcome is Outcome.USED
    entries = replicated.call(target, "XRANGE", key, "-", "+")
    assert [entries.count(f'"{user}"') for user in (first, second, third)] == [1, 1, 1]


def wait_for_client(cluster: LocalRedisCluster, node: RedisServer, command: str) -> str:
    """The id of the client of ``node`` whose last command is ``command`` (one the pause holds)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in cluster.call(node, "CLIENT", "LIST").splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if fields.get("cmd") == command:
                return fields["id"]
        time.sleep(0.02)
    raise AssertionError(f"no client sent {command} to the node on port {node.port}")


async def test_a_call_whose_connection_broke_is_not_sent_again(
    replicated: LocalRedisCluster, store: RedisUsageStore
) -> None:
    """Its caller hears the store was unreachable; redis-py's ClusterPipeline would have sent it again."""
    node = next(node for node in replicated.primaries() if node.port == port_of(store, "cut"))
    replicated.call(node, "CLIENT", "PAUSE", "10000", "WRITE")  # holds the claim before it runs
    try:
        claim = asyncio.create_task(store.record(usage("cut"), expires_at=EXPIRES))
        victim = await asyncio.to_thread(wait_for_client, replicated, node, "evalsha")
        replicated.call(node, "CLIENT", "KILL", "ID", victim)
    finally:
        replicated.call(node, "CLIENT", "UNPAUSE")
    with pytest.raises(StoreUnreachable):
        await claim
    assert await store.used_at("SPRING", "cut", now=NOW) is None  # not sent again behind the caller's back
    assert (await store.record(usage("cut"), expires_at=EXPIRES)).outcome is Outcome.CLAIMED


async def test_a_connection_the_cluster_client_closes_under_a_call_is_a_store_failure(
    replicated: LocalRedisCluster, store: RedisUsageStore
) -> None:
    """After a node fails the client closes every connection, in use or not (``aclose``): not a 500."""
    node = next(node for node in replicated.primaries() if node.port == port_of(store, "closed"))
    replicated.call(node, "CLIENT", "PAUSE", "10000", "WRITE")
    try:
        claim = asyncio.create_task(store.record(usage("closed"), expires_at=EXPIRES))
        await asyncio.to_thread(wait_for_client, replicated, node, "evalsha")
        await store.client.aclose()
    finally:
        replicated.call(node, "CLIENT", "UNPAUSE")
    with pytest.raises(StoreUnreachable):
        await claim
    assert (await store.record(usage("closed"), expires_at=EXPIRES)).outcome is Outcome.CLAIMED
