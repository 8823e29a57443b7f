"""What ``DISCOUNTS_USAGE_MIN_REPLICAS=1`` costs a claim: WAIT for a replica, against the primary alone.

    .venv/bin/python -m benchmarks.usage_replicas --claims 20000 [--cluster]

Starts a private primary and a replica of it (loopback, no persistence) — with ``--cluster`` a
private Redis Cluster of three masters with a replica each, where each node's part of a batch
waits for that node's replica —, and claims new
(code, user) pairs through ``RedisUsageStore.record`` — one at a time (a lone checkout: the
latency a shopper sees) and 64 in flight (a flash sale: auto-pipelined batches share one WAIT)
— first with ``min_replicas`` 0, then 1. Prints one Markdown table row per run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from redis import Redis

from benchmarks.usage_common import EXPIRES, NOW, machine, private_redis, stop_cleanly_on_sigterm, store_settings
from discounts.usage.redis_store import open_redis_store
from tests.usage.conftest import usage
from tests.usage.redis_cluster import LocalRedisCluster


async def run(url: str, replicas: int, claims: int, in_flight: int, tag: str) -> str:
    store = open_redis_store(url, store_settings(usage_min_replicas=replicas, usage_namespace=f"b{tag}"))
    await store.count("WARM-UP", NOW)
    latencies: list[float] = []
    queue = iter(range(claims))

    async def worker() -> None:
        for n in queue:
            started = time.perf_counter()
            assert await store.record(usage(f"{tag}-{n}", used_at=NOW), expires_at=EXPIRES)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    seconds = time.perf_counter() - started
    await store.close()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return f"| min_replicas={replicas} | {in_flight} in flight | {claims / seconds:,.0f} | {p50:.2f} | {p99:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--cluster", action="store_true", help="3 masters with a replica each, not one primary")
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    if args.cluster:
        with tempfile.TemporaryDirectory() as directory:
            cluster = LocalRedisCluster(Path(directory), masters=3, replicas=1)
            try:
                table(cluster.start().url, args.claims)
            finally:
                cluster.stop()
        print(f"<!-- a Redis Cluster of 3 masters and 3 replicas on loopback, no persistence; {machine()} -->")
        return
    with private_redis() as primary, private_redis("--replicaof", "127.0.0.1", str(primary.port)) as replica:
        with Redis(port=replica.port) as client:
            while client.info("replication").get("master_link_status") != "up":
                time.sleep(0.05)
        table(primary.url, args.claims)
        print(f"<!-- primary and replica on loopback, no persistence; {machine()} -->")


def table(url: str, claims: int) -> None:
    print("| store | load | claims/s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|")
    for in_flight in (1, 64):
        for replicas in (0, 1):
            count = claims // (10 if in_flight == 1 else 1)
            print(asyncio.run(run(url, replicas, count, in_flight, f"r{replicas}c{in_flight}")))


if __name__ == "__main__":
    main()
