"""The storages of guessing misses: Redis (the ``limits`` library's moving window) or a SQLite file.

Both are written only on a miss and read every ``REFRESH_SECONDS`` per process, never per request.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from limits import RateLimitItem
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from discounts.codes.guessing import MissStorage
from discounts.errors import client_failures
from discounts.sqlite_file import SQLiteFile


class RedisMisses:
    """Misses in Redis keys of ``limits`` (prefix ``<namespace>:guess``); blocks in one sorted set."""

    def __init__(self, storage: RedisStorage, client: Redis | RedisCluster, namespace: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._storage, self._redis = storage, client
        self._blocks = f"{namespace}:guess:blocked"

    async def miss(self, key: str, limit: RateLimitItem) -> tuple[bool, float | None]:
        with client_failures("counting a miss in Redis failed"):
            counted = await self._limiter.hit(limit, key)
            stats = await self._limiter.get_window_stats(limit, key)
        return counted, None if stats.remaining > 0 else float(stats.reset_time)

    async def block(self, key: str, until: float) -> None:
        with client_failures("blocking a guesser in Redis failed"):
            await self._redis.zadd(self._blocks, {key: until}, gt=True)

    async def blocked(self, now: float) -> dict[str, float]:
        with client_failures("reading the blocked guessers from Redis failed"):
            await self._redis.zremrangebyscore(self._blocks, "-inf", now)
            pairs = cast(list[tuple[str, float]], await self._redis.zrange(self._blocks, 0, -1, withscores=True))
        return {key: float(until) for key, until in pairs}

    async def close(self) -> None:
        """The one Redis client is the usage store's, closed with it; a cluster's ``limits`` has its own."""
        if isinstance(self._redis, RedisCluster):
            own = getattr(self._storage.bridge, "storage", None)
            if own is not None and own is not self._redis:
                await own.aclose()


class SQLiteMisses:
    """Misses and blocks in a SQLite file that every process of the embedded default opens."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._file = SQLiteFile(path, name="guesses", prepare=_prepare)
        self._clock = clock

    async def miss(self, key: str, limit: RateLimitItem) -> tuple[bool, float | None]:
        amount, seconds = limit.amount, float(limit.get_expiry())

        def miss(db: sqlite3.Connection) -> tuple[bool, float | None]:
            now = self._clock()
            with db:  # one IMMEDIATE transaction: count and insert with no other writer between
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM misses WHERE key = ? AND at <= ?", (key, now - seconds))
                (count, oldest) = db.execute("SELECT count(*), min(at) FROM misses WHERE key = ?", (key,)).fetchone()
                counted = count < amount
                if counted:
                    db.execute("INSERT INTO misses (key, at) VALUES (?, ?)", (key, now))
                    count, oldest = count + 1, now if oldest is None else oldest
            return counted, None if count < amount else oldest + seconds

        return await self._file.write(miss)

    async def block(self, key: str, until: float) -> None:
        await self._file.write(
            lambda db: db.execute(
                "INSERT INTO blocks (key, until) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET until = max(until, excluded.until)",
                (key, until),
            )
        )

    async def blocked(self, now: float) -> dict[str, float]:
        def sweep_and_read(db: sqlite3.Connection) -> dict[str, float]:
            db.execute("DELETE FROM blocks WHERE until <= ?", (now,))
            return dict(db.execute("SELECT key, until FROM blocks").fetchall())

        return await self._file.write(sweep_and_read)

    async def close(self) -> None:
        await self._file.close()


def _prepare(db: sqlite3.Connection) -> None:
    db.executescript(
        "CREATE TABLE IF NOT EXISTS misses (key TEXT NOT NULL, at REAL NOT NULL);"
        "CREATE INDEX IF NOT EXISTS misses_by_key ON misses (key, at);"
        "CREATE TABLE IF NOT EXISTS blocks (key TEXT PRIMARY KEY, until REAL NOT NULL);"
    )


def open_miss_storage(
    usage_store_url: str, client: Redis | RedisCluster | None, data_dir: Path, namespace: str
) -> MissStorage:
    """Redis beside a Redis usage store (``client`` is the store's), so every process shares the counts;
    otherwise a file in the data directory."""
    if client is None:
        return SQLiteMisses(data_dir / "guesses.sqlite3")
    scheme, _, rest = usage_store_url.partition("://")
    prefix = f"{namespace}:guess"
    storage: RedisStorage
    if isinstance(client, RedisCluster):
        storage = RedisClusterStorage(f"async+{scheme}://{rest}", implementation="redispy", key_prefix=prefix)
    else:
        uri = f"redis+unix://{rest}" if scheme == "unix" else usage_store_url
        pool: Any = client.connection_pool  # the usage store's connections, not a second pool
        storage = RedisStorage(f"async+{uri}", implementation="redispy", key_prefix=prefix, connection_pool=pool)
    return RedisMisses(storage, client, namespace)
