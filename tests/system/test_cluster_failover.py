"""A Redis Cluster master fails over mid-sale: with DISCOUNTS_USAGE_MIN_REPLICAS no 201 is lost.

Three masters with a replica each behind ``discounts serve``; a crowd of shoppers redeems one
code, each with an ``Idempotency-Key``, retrying 503s as a checkout does. Mid-sale the replica
of the busiest master stops applying its master's writes (``CLIENT PAUSE WRITE``: replication
held back), a second later that master is killed with SIGKILL, and its replica takes over
(``CLUSTER FAILOVER TAKEOVER``) with what it had applied; a new node then joins as its replica,
as an operator would replace the dead one. Afterwards every use answered 201 must be in the
store and every kept answer must replay. With the setting off, the very same test must find
201s lost — so that it can fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from discounts.settings import Settings
from discounts.usage.store import open_usage_store
from tests.services import RedisServer
from tests.system.conftest import Server, cli_env
from tests.system.crowd import Crowd, check_answers
from tests.system.test_faults import CODE, no_tracebacks, open_sale, tokens_for, until
from tests.usage.redis_cluster import LocalRedisCluster

pytestmark = pytest.mark.slow

#: How long the replica of the failing master applies nothing before the master dies.
HELD_BACK_SECONDS = 1.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalRedisCluster]:
    started = LocalRedisCluster(tmp_path / "cluster", masters=3, replicas=1).start()
    yield started
    started.stop()


def busiest(cluster: LocalRedisCluster, seconds: float = 0.3) -> RedisServer:
    """The master that ran the most commands in the last ``seconds``."""

    def processed() -> dict[int, int]:
        counts = {}
        for node in cluster.primaries():
            info = cluster.call(node, "INFO", "stats")
            counts[node.port] = int(info.split("total_commands_processed:")[1].split()[0])
        return counts

    before = processed()
    time.sleep(seconds)
    after = processed()
    port = max(after, key=lambda port: after[port] - before.get(port, 0))
    return next(node for node in cluster.nodes if node.port == port)


def fail_over(cluster: LocalRedisCluster, master: RedisServer) -> None:
    """Kill ``master`` while its replica lags a second behind; the replica takes over; a new node replaces it."""
    replica = cluster.replica_of(master)
    cluster.call(replica, "CLIENT", "PAUSE", "30000", "WRITE")  # it stops applying the master's writes
    time.sleep(HELD_BACK_SECONDS)
    master.kill()
    deadline = time.monotonic() + 10
    # Once the replica has seen its master go, what it had not applied is dropped, as after a crash.
    while "master_link_status:down" not in cluster.call(replica, "INFO", "replication"):
        assert time.monotonic() < deadline, "the replica never noticed its master was gone"
        time.sleep(0.02)
    cluster.call(replica, "CLIENT", "UNPAUSE")
    cluster.call(replica, "CLUSTER", "FAILOVER", "TAKEOVER")
    while "role:master" not in cluster.call(replica, "INFO", "replication"):
        assert time.monotonic() < deadline, "the replica never took over"
        time.sleep(0.02)
    cluster.add_replica(replica)


class Tokens(dict[str, str]):
    """A token for each shopper, made when the crowd first needs it."""

    def __missing__(self, user: str) -> str:
        self[user] = token = tokens_for([user])[user]
        return token


#: More shoppers than any machine serves before the failover is over; each sends an Idempotency-Key.
SHOPPERS = [f"f{n:06d}" for n in range(100_000)]


def shoppers(failed_over: asyncio.Event, after: int = 300) -> Iterator[str]:
    """New shoppers until ``after`` more have come once the failover is over, however fast the machine."""
    for user in SHOPPERS:
        if failed_over.is_set():
            if after == 0:
                return
            after -= 1
        yield user


async def replayed(url: str, crowd: Crowd, users: list[str]) -> list[str]:
    """The shoppers whose request, sent again with its Idempotency-Key, is not the first answer replayed."""
    not_replayed: list[str] = []
    queue = iter(users)

    async def send() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for user in queue:
                answer = await http.post(
                    "/api/v1/discountcodeusage/",
                    json={"code": crowd.code, "user": user, "amount": crowd.amount},
                    headers={"Authorization": f"Bearer {crowd.tokens[user]}", "Idempotency-Key": f"order-of-{user}"},
                )
                if (answer.status_code, answer.headers.get("idempotent-replayed")) != (201, "true"):
                    not_replayed.append(user)

    async with asyncio.TaskGroup() as senders:
        for _ in range(16):
            senders.create_task(send())
    return not_replayed


@pytest.mark.parametrize("min_replicas", [1, 0])
async def test_a_master_killed_mid_sale_loses_no_201_with_min_replicas_and_does_without(
    tmp_path: Path, cluster: LocalRedisCluster, min_replicas: int
) -> None:
    env = cli_env(tmp_path / "data", DISCOUNTS_USAGE_STORE_URL=cluster.url)
    env["DISCOUNTS_USAGE_MIN_REPLICAS"] = str(min_replicas)
    server = await asyncio.to_thread(Server, env, "--no-background")
    try:
        await open_sale(server.url)
        failed_over = asyncio.Event()
        crowd = Crowd(lambda: server.url, Tokens(), CODE.lower(), keyed=frozenset(SHOPPERS))
        load = asyncio.create_task(crowd.run(shoppers(failed_over)))
        try:
            await until("the first 200 redemptions", lambda: served(crowd, 200))
            master = await asyncio.to_thread(busiest, cluster)
            await asyncio.to_thread(fail_over, cluster, master)
        except BaseException:
            load.cancel()
            raise
        failed_over.set()
        await load

        users = list(crowd.answers)
        acknowledged = sorted(check_answers(crowd, users))  # no 500; each 503 a problem with Retry-After
        assert crowd.statuses()[503] > 0, "the crowd never met the failover"
        store = open_usage_store(cluster.url, Settings(_env_file=None))  # type: ignore[call-arg]
        try:
            found = await store.used_at_many([(CODE, user) for user in acknowledged], now=datetime.now(UTC))
        finally:
            await store.close()
        lost = [user for user, used_at in zip(acknowledged, found, strict=True) if used_at is None]
        answers_lost = await replayed(server.url, crowd, acknowledged)
    finally:
        no_tracebacks(server)
    if min_replicas:
        assert (lost, answers_lost) == ([], []), f"{len(lost)} uses and {len(answers_lost)} answers lost"
    else:
        assert lost, "with no replica asked for, a failover that lags a second must lose some 201s"


async def served(crowd: Crowd, count: int) -> bool:
    return crowd.successes() >= count
