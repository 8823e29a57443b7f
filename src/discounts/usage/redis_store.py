"""The usage store on Redis or Redis Cluster: Lua scripts over small listpack hashes and streams.

``record`` is one script that claims the (code, user) field and XADDs the usage to its
shard's stream, so the stream can never miss or repeat a usage; the ledger copier's reading
of the streams is in ``redis_streams.py``, carts in ``redis_carts.py``. The layout of the keys
is in ``redis_layout.py``; the reasoning is in ``docs/usage-store.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError

from discounts.errors import client_failures
from discounts.money import to_cents
from discounts.settings import Settings, get_settings
from discounts.usage.redis_carts import RedisCarts
from discounts.usage.redis_layout import (
    STREAM_FIELD,
    Layout,
    Slot,
    recorded,
    stream_payload,
    unix_micros,
    unix_seconds,
    usage_of,
)
from discounts.usage.redis_pipelining import AutoPipeline
from discounts.usage.redis_streams import RedisStreams, chunks
from discounts.usage.store import (
    NO_LIMITS,
    Change,
    Changed,
    Limits,
    Recorded,
    Status,
    Usage,
)

log = logging.getLogger(__name__)

#: Usages per script call when restoring or looking up many: keeps each call short on the server.
SCRIPT_BATCH = 200


def _script(name: str) -> str:
    """A script of ``usage/lua``, with the shared layout functions in front of it."""
    folder = resources.files("discounts.usage") / "lua"
    return (folder / "layout.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


SCRIPTS = {
    name: _script(name)
    for name in (
        "record",
        "confirm",
        "give_back",
        "restore",
        "lookup",
        "count",
        "acknowledge",
        "prune",
        "settle",
        "unreserve",
        "cart_begin",
        "cart_move",
        "cart",
    )
}


class RedisUsageStore(RedisCarts, RedisStreams):
    """One Redis or a Redis Cluster; ``namespace`` prefixes every key (several deployments, tests)."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        shards: int,
        bucket_capacity: int,
        claim_idle_seconds: float,
        namespace: str,
        max_in_flight: int,
        consumer: str | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int = 500,
        cart_keep_seconds: int = 86_400,
    ) -> None:
        self._redis = client
        #: A cart's record outlives its hold this long (its retries, its confirm); then the ledger answers.
        self.cart_keep_seconds = cart_keep_seconds
        self._closing: set[asyncio.Future[Any]] = set()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.layout = Layout(namespace, shards)
        self._capacity = bucket_capacity
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._scripts = {name: client.register_script(body) for name, body in SCRIPTS.items()}
        self._pipeline = AutoPipeline(
            client, self._in_flight, min_replicas=min_replicas, replica_timeout_ms=replica_timeout_ms
        )
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._next_shard = 0

    @property
    def client(self) -> Redis | RedisCluster:
        """The connection to Redis, for what else a deployment keeps beside the usages (guessing counts)."""
        return self._redis

    @property
    def pipeline(self) -> AutoPipeline:
        """The store's calls, for other records that must be acknowledged as a usage is (kept answers)."""
        return self._pipeline

    async def _prepare(self) -> None:
        """Once per process: refuse a different shard count, create the consumer groups."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            marker = self.layout.marker_value
            with client_failures("preparing the usage store failed"):
                await self._redis.set(self.layout.marker, marker, nx=True)
                stored = await self._redis.get(self.layout.marker)
            if stored != marker:
                raise RuntimeError(
                    f"this Redis holds usages laid out as {stored!r}, but the settings ask for {marker!r};"
                    " changing the shard count would hide every stored usage"
                )
            with client_failures("preparing the usage store failed"):
                await self._create_groups()
                await self._warn_about_config()
            self._ready = True

    async def _warn_about_config(self) -> None:
        """Settings that silently break the promises: eviction forgets usages, small listpacks cost memory."""
        try:
            config = await self._redis.config_get("*")
        except ResponseError:  # managed Redis often forbids CONFIG
            log.info("cannot read the Redis configuration; check maxmemory-policy is noeviction")
            return
        policy = config.get("maxmemory-policy", "noeviction")
        if policy != "noeviction":
            log.warning("Redis evicts keys (maxmemory-policy %s): an evicted bucket lets users redeem twice", policy)
        entries = int(config.get("hash-max-listpack-entries") or self._capacity)
        if entries < self._capacity:
            log.warning(
                "hash-max-listpack-entries is %d, below the bucket capacity %d: full buckets lose the compact"
                " encoding (set DISCOUNTS_USAGE_BUCKET_CAPACITY to at most %d)",
                entries,
                self._capacity,
                entries,
            )

    async def record(
        self,
        usage: Usage,
        *,
        expires_at: datetime,
        limits: Limits = NO_LIMITS,
        dry_run: bool = False,
        nonce: str = "",
    ) -> Recorded:
        await self._prepare()
        return await self._claim(usage, expires_at, limits, dry_run=dry_run, nonce=nonce)

    async def _claim(
        self,
        usage: Usage,
        expires_at: datetime,
        limits: Limits,
        *,
        dry_run: bool = False,
        nonce: str = "",
        quiet: bool = False,
    ) -> Recorded:
        keys, args = self._claim_call(usage, expires_at, limits, dry_run=dry_run, nonce=nonce, quiet=quiet)
        return recorded(await self._pipeline.call(self._scripts["record"], keys, args, writes=not dry_run))

    def _claim_call(
        self,
        usage: Usage,
        expires_at: datetime,
        limits: Limits,
        *,
        dry_run: bool = False,
        nonce: str = "",
        quiet: bool = False,
        hold: datetime | None = None,
    ) -> tuple[list[str], list[Any]]:
        """``record.lua``'s keys and arguments; ``quiet``: a cart's reservation (announced once settled)."""
        slot = self.layout.locate(usage.code, usage.user, shared=limits.shared)
        args: list[Any] = [slot.field, slot.bits, unix_seconds(usage.used_at), unix_seconds(expires_at)]
        args += [self._capacity, STREAM_FIELD, stream_payload(usage)]
        keys = [slot.head, self.layout.stream(slot.shard)]
        hold = hold or (usage.hold_until if usage.status is Status.HELD else None)
        if limits is not NO_LIMITS or dry_run or hold or nonce or quiet:
            budget = -1 if limits.budget_cents is None else limits.budget_cents
            args += [limits.per_user, limits.max_uses or 0, budget, limits.discount_cents, "dry" if dry_run else ""]
            hold_until = unix_seconds(hold) if hold else 0
            args += [hold_until, nonce, "quiet" if quiet else "", unix_micros(usage.used_at)]
            if limits.shared:
                keys += [slot.totals, slot.holds]
        return keys, args

    def _change_call(self, code: str, user: str, use: int, shared: bool, now: datetime) -> tuple[list[str], list[Any]]:
        slot = self.layout.locate(code, user, shared=shared)
        keys = [slot.head, self.layout.stream(slot.shard)]
        if shared:
            keys += [slot.totals, slot.holds]
        micros = unix_micros(now)
        return keys, [slot.field, slot.bits, use, unix_seconds(now), micros, STREAM_FIELD]

    async def confirm(self, code: str, user: str, use: int, *, limits: Limits, now: datetime) -> Changed:
        await self._prepare()
        keys, args = self._change_call(code, user, use, limits.shared, now)
        answer, *rest = await self._pipeline.call(self._scripts["confirm"], keys, args)
        if answer in ("done", "already") and rest:
            payload, ends = rest
            usage = usage_of(payload, use=use, status=Status.USED, hold_until=int(ends))
            return Changed(Change.DONE if answer == "done" else Change.ALREADY, usage)
        return Changed(Change(answer))

    async def give_back(
        self, code: str, user: str, use: int, *, limits: Limits, now: datetime, usage: Usage | None = None
    ) -> Changed:
        await self._prepare()
        keys, args = self._change_call(code, user, use, limits.shared, now)
        if usage is not None:
            args += [stream_payload(usage), to_cents(usage.discount_amount)]
        answer, *rest = await self._pipeline.call(self._scripts["give_back"], keys, args)
        if answer != "done":
            return Changed(Change(answer))
        payload, ends, status = rest
        given = usage_of(payload, use=use, status=Status(status), hold_until=int(ends) if ends else None)
        return Changed(Change.DONE, dataclasses.replace(given, changed_at=now))

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS, *, now: datetime) -> datetime | None:
        """One lookup, sent with whatever else this process is sending (a user fetching a code at checkout)."""
        await self._prepare()
        slot = self.layout.locate(code, user, shared=limits.shared)
        keys, args = [self.layout.stream(slot.shard)], [unix_seconds(now), slot.prefix, slot.field, slot.bits]
        (seconds,) = await self._pipeline.call(self._scripts["lookup"], keys, args, writes=False)
        return None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None, *, now: datetime
    ) -> list[datetime | None]:
        await self._prepare()
        limits = limits or {}
        slots = [self.layout.locate(code, user, shared=_shared(limits, code)) for code, user in pairs]
        calls = []
        for shard, positions in _by_shard(slots).items():
            for part in chunks(positions, SCRIPT_BATCH):
                args: list[Any] = [unix_seconds(now)]
                args += [value for i in part for value in (slots[i].prefix, slots[i].field, slots[i].bits)]
                calls.append((part, ("lookup", self.layout.stream(shard), args)))
        results: list[datetime | None] = [None] * len(pairs)
        replies = await self._run([call for _, call in calls], writes=False)
        for (part, _), reply in zip(calls, replies, strict=True):
            for i, seconds in zip(part, reply, strict=True):
                results[i] = None if seconds is None else datetime.fromtimestamp(int(seconds), UTC)
        return results

    async def restore(
        self,
        usages: Sequence[Usage],
        *,
        expires_at: Mapping[str, datetime],
        limits: Mapping[str, Limits] | None = None,
        now: datetime,
    ) -> int:
        await self._prepare()
        limits = limits or {}
        slots = [self.layout.locate(u.code, u.user, shared=_shared(limits, u.code)) for u in usages]
        calls = []
        for shard, positions in _by_shard(slots).items():
            for part in chunks(positions, SCRIPT_BATCH):
                args: list[Any] = [self._capacity, unix_seconds(now)]
                for i in part:
                    slot, usage = slots[i], usages[i]
                    shared = _shared(limits, usage.code)
                    args += [slot.prefix, slot.field, slot.bits, unix_seconds(usage.used_at)]
                    args += [unix_seconds(expires_at[usage.code]), usage.use]
                    args += [slot.totals if shared else "", to_cents(usage.discount_amount), usage.status.value]
                    args.append(0 if usage.hold_until is None else unix_seconds(usage.hold_until))
                    args += [stream_payload(usage) if usage.hold_until else "", slot.holds if shared else ""]
                calls.append(("restore", self.layout.stream(shard), args))
        return sum(int(n) for n in await self._run(calls, writes=True))

    async def count(self, code: str, now: datetime) -> int:
        await self._prepare()
        calls = []
        for shard in range(self.layout.shards):
            prefix = self.layout.code_prefix(shard, code)
            calls.append(("count", f"{prefix}:0:0", [prefix, unix_seconds(now)]))
        return sum(int(n) for n in await self._run(calls, writes=False))

    async def ping(self) -> None:
        async with self._in_flight:
            with client_failures("pinging Redis failed"):
                await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def _run(self, calls: Sequence[tuple[str, str, list[Any]]], *, writes: bool) -> list[Any]:
        """Run scripts (one routing key each) through the pipeline; the first failure is raised.

        ``writes``: acknowledged only once the replicas asked for have them (``min_replicas``).
        """
        replies = await asyncio.gather(
            *(self._pipeline.call(self._scripts[name], [key], args, writes=writes) for name, key, args in calls),
            return_exceptions=True,
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        return replies


def _by_shard(slots: Sequence[Slot]) -> dict[int, list[int]]:
    positions: dict[int, list[int]] = defaultdict(list)
    for index, slot in enumerate(slots):
        positions[slot.shard].append(index)
    return positions


def _shared(limits: Mapping[str, Limits], code: str) -> bool:
    found = limits.get(code)
    return found is not None and found.shared


def open_redis_store(url: str, settings: Settings | None = None) -> RedisUsageStore:
    """``redis://``, ``rediss://``, ``unix://`` for one server; ``redis+cluster://h1:p1,h2:p2`` for a cluster."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
        # One per command in flight, plus the ones a pipeline holds on each node.
        "max_connections": settings.usage_max_connections + 8,
    }
    client: Redis | RedisCluster
    if url.startswith(("redis+cluster://", "rediss+cluster://")):
        client = _cluster_client(url, options)
    else:
        client = Redis.from_url(url, **options)
    return RedisUsageStore(
        client,
        shards=settings.usage_shards,
        bucket_capacity=settings.usage_bucket_capacity,
        claim_idle_seconds=settings.usage_claim_idle_seconds,
        namespace=settings.usage_namespace,
        max_in_flight=settings.usage_max_connections,
        min_replicas=settings.usage_min_replicas,
        replica_timeout_ms=settings.usage_replica_timeout_ms,
        cart_keep_seconds=settings.idempotency_seconds,
    )


def _cluster_client(url: str, options: dict[str, Any]) -> RedisCluster:
    """A cluster client seeded with every listed node (any one of them is enough to find the rest)."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    credentials, _, hosts = rest.split("/", 1)[0].rpartition("@")
    nodes = []
    for address in filter(None, hosts.split(",")):
        host, _, port = address.rpartition(":")
        nodes.append(ClusterNode(host, int(port)) if host else ClusterNode(address, 6379))
    if not nodes:
        raise ValueError(f"no cluster nodes in {url!r}")
    first = f"{scheme.removesuffix('+cluster')}://{credentials + '@' if credentials else ''}{hosts.split(',')[0]}"
    return RedisCluster.from_url(first + (f"?{query}" if query else ""), startup_nodes=nodes, **options)
