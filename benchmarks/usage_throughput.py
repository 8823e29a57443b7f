"""Redemptions per second through the Redis usage store alone (no HTTP), against redis-benchmark.

    .venv/bin/python -m benchmarks.usage_throughput --usages 200000

One private redis-server (no persistence), four measurements in the same run:

1. ``redis-benchmark SET key:__rand_int__ val NX``: what the server and a C client do for the
   simplest claim — the yardstick the issue asks for;
2. ``redis-benchmark EVALSHA`` of our record script: the server-side cost of claim + XADD;
3. redis-py ``SET NX`` from Python, same concurrency: the client library's ceiling;
4. ``UsageStore.record`` from Python with the design's workload, in 1 and in N processes.

Prints a Markdown table; ratios are against row 1.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import subprocess
import time
from itertools import islice

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from benchmarks.usage_common import (
    EXPIRES,
    NOW,
    machine,
    private_redis,
    stop_cleanly_on_sigterm,
    store_settings,
    workload,
)
from discounts.usage.redis_layout import STREAM_FIELD, unix_seconds
from discounts.usage.redis_store import SCRIPTS, open_redis_store


def redis_benchmark(port: int, requests: int, clients: int, *command: str) -> float:
    binary = shutil.which("redis-benchmark") or "redis-benchmark"
    argv = [binary, "-p", str(port), "-n", str(requests), "-c", str(clients), "-r", "100000000", "-q", *command]
    output = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout
    rates = re.findall(r"([\d.]+) requests per second", output)
    if not rates:
        raise RuntimeError(f"redis-benchmark printed no rate: {output[-500:]!r}")
    return float(rates[-1])


def record_script_command(port: int) -> list[str]:
    """EVALSHA of the record script with random keys and fields, as redis-benchmark can vary them."""
    client = Redis(port=port)
    sha = client.script_load(SCRIPTS["record"])
    client.close()
    payload = '["BENCH-SALE26","user-__rand_int__","acme",10,"120.00","12.00","108.00",1768478400000000]'
    return [
        "EVALSHA",
        sha,
        "2",
        "du{__rand_int__}BENCH-SALE26:0:0",
        "du{__rand_int__}:stream",
        "f__rand_int__",
        "__rand_int__",
        str(unix_seconds(NOW)),
        str(unix_seconds(EXPIRES)),
        "128",
        STREAM_FIELD,
        payload,
    ]


async def redis_py_set_nx(url: str, requests: int, concurrency: int) -> float:
    client = AsyncRedis.from_url(url)
    keys = iter(range(requests))

    async def worker() -> None:
        for key in keys:
            await client.set(f"py:{key}", "val", nx=True)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return requests / elapsed


async def store_records(url: str, usages: int, concurrency: int, part: int = 0, parts: int = 1) -> float:
    """``UsageStore.record`` for every ``parts``-th usage of the workload, starting at ``part``."""
    store = open_redis_store(url, store_settings())
    await store.count("WARM-UP", NOW)
    todo = islice(workload(usages), part, None, parts)

    async def worker() -> None:
        for usage in todo:
            if not await store.record(usage, expires_at=EXPIRES):
                raise AssertionError(f"{usage.code}/{usage.user} was refused")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await store.close()
    return elapsed


def _process(url: str, usages: int, concurrency: int, part: int, parts: int) -> float:
    return asyncio.run(store_records(url, usages, concurrency, part, parts))


def store_records_in_processes(url: str, usages: int, concurrency: int, processes: int) -> float:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        started = time.perf_counter()
        pool.starmap(_process, [(url, usages, concurrency, part, processes) for part in range(processes)])
        return usages / (time.perf_counter() - started)


def flush(port: int) -> None:
    client = Redis(port=port)
    client.flushall()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usages", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=50, help="connections / in-flight requests per client")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with private_redis() as server:
        n, c = args.usages, args.concurrency
        rows = [
            (
                f"redis-benchmark `SET key:__rand_int__ val NX`, -c {c}",
                redis_benchmark(server.port, n, c, "SET", "key:__rand_int__", "val", "NX"),
            )
        ]
        flush(server.port)
        rows.append(
            (
                f"redis-benchmark `EVALSHA` record script, -c {c}",
                redis_benchmark(server.port, n, c, *record_script_command(server.port)),
            )
        )
        flush(server.port)
        rows.append((f"redis-py `SET NX`, 1 process, {c} in flight", asyncio.run(redis_py_set_nx(server.url, n, c))))
        flush(server.port)
        rows.append(
            (f"`UsageStore.record`, 1 process, {c} in flight", n / asyncio.run(store_records(server.url, n, c)))
        )
        flush(server.port)
        p = args.processes
        rows.append(
            (f"`UsageStore.record`, {p} processes, {c} in flight each", store_records_in_processes(server.url, n, c, p))
        )
    yardstick = rows[0][1]
    print(f"<!-- {n:,} requests each; {machine()} -->")
    print("| what | per second | ratio to SET NX |")
    print("|---|---:|---:|")
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} | {rate / yardstick:.2f} |")


if __name__ == "__main__":
    main()
