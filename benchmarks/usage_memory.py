"""Bytes per stored usage in Redis, with the design's workload (1,000 codes, Zipf, top code 10%).

    .venv/bin/python -m benchmarks.usage_memory --usages 1000000
    .venv/bin/python -m benchmarks.usage_memory --usages 10000000 --via restore

Starts its own redis-server (no persistence) on a free port, measures ``INFO memory``
``used_memory`` before and after loading, and prints one Markdown table row per figure:
with the stream un-drained (after ``record``) and drained (after the ledger copier's
``pending``/``acknowledge``, which deletes acknowledged entries). ``--via restore`` loads
through the rebuild path instead (the same Lua claim, no stream): faster for 10M.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from itertools import islice

from redis import Redis

from benchmarks.usage_common import (
    EXPIRES,
    NOW,
    machine,
    private_redis,
    stop_cleanly_on_sigterm,
    store_settings,
    used_memory,
    workload,
)
from discounts.usage.redis_store import RedisUsageStore, open_redis_store


async def load_by_record(store: RedisUsageStore, total: int, concurrency: int) -> float:
    usages = workload(total)
    started = time.perf_counter()

    async def worker() -> None:
        for usage in usages:  # one shared generator: each worker takes the next usage
            if not await store.record(usage, expires_at=EXPIRES):
                raise AssertionError(f"{usage.code}/{usage.user} was refused")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def load_by_restore(store: RedisUsageStore, total: int, batch: int) -> float:
    usages = workload(total)
    started = time.perf_counter()
    while part := list(islice(usages, batch)):
        expiry = {u.code: EXPIRES for u in part}
        if await store.restore(part, expires_at=expiry, now=NOW) != len(part):
            raise AssertionError("a restored usage was there already")
    return time.perf_counter() - started


async def drain(store: RedisUsageStore, batch: int) -> int:
    drained = 0
    while entries := await store.pending(batch):
        await store.acknowledge([entry.id for entry in entries])
        drained += len(entries)
    return drained


def key_census(port: int, sample: int = 2000) -> str:
    """How many keys, how the hashes are encoded (a sample), how deep the levels went."""
    client = Redis(port=port, decode_responses=True)
    try:
        keys = client.dbsize()
        buckets = [key for key in client.scan_iter(count=10_000, _type="hash")]
        encodings = Counter(client.object("encoding", key) for key in random.sample(buckets, min(sample, len(buckets))))
        levels = Counter(int(key.rsplit(":", 2)[1]) for key in buckets)
        deepest = max(levels) if levels else 0
        return (
            f"{keys:,} keys, {len(buckets):,} bucket hashes ({dict(encodings)} in a sample of {sample}),"
            f" deepest level {deepest}, buckets per level {dict(sorted(levels.items()))}"
        )
    finally:
        client.close()


async def run(args: argparse.Namespace) -> None:
    listpack = ["--hash-max-listpack-entries", str(args.capacity)] if args.capacity > 128 else []
    with private_redis(*listpack) as server:
        settings = store_settings(usage_shards=args.shards, usage_bucket_capacity=args.capacity)
        store = open_redis_store(server.url, settings)
        await store.count("WARM-UP", NOW)  # layout marker, consumer groups, scripts
        before = used_memory(server.port)
        label = f"{args.usages:,} usages, S={args.shards}, capacity={args.capacity}"
        if args.via == "record":
            seconds = await load_by_record(store, args.usages, args.concurrency)
            undrained = used_memory(server.port)
            print(f"| {label} | stream un-drained | {(undrained - before) / args.usages:.1f} | {seconds:.0f} s load |")
            drained_entries = await drain(store, 10_000)
            assert drained_entries == args.usages, drained_entries
        else:
            seconds = await load_by_restore(store, args.usages, 20_000)
        after = used_memory(server.port)
        print(
            f"| {label} | stream drained ({args.via}) | {(after - before) / args.usages:.1f} | {seconds:.0f} s load |"
        )
        print(f"<!-- {key_census(server.port)}; used_memory {before:,} -> {after:,}; {machine()} -->", flush=True)
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usages", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=128)
    parser.add_argument("--via", choices=["record", "restore"], default="record")
    parser.add_argument("--concurrency", type=int, default=64)
    stop_cleanly_on_sigterm()
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
