"""The storages of guessing misses: Redis (the ``limits`` library's moving window) or a SQLite file.

Both are written only on a miss and read every ``REFRESH_SECONDS`` per process, never per request.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from limits import RateLimitItem
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from discounts.codes.guessing import MissStorage


class RedisMisses:
    """Misses in Redis keys of ``limits`` (prefix ``<namespace>:guess``); blocks in one sorted set."""

    def __init__(self, storage: RedisStorage, client: Redis | RedisCluster, namespace: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._storage, self._redis = storage, client
        self._blocks = f"{namespace}:guess:blocked"

    async def miss(self, key: str, limit: RateLimitItem) -> tuple[bool, float | None]:
        counted = await self._limiter.hit(limit, key)
        stats = await self._limiter.get_window_stats(limit, key)
        return counted, None if stats.remaining > 0 else float(stats.reset_time)

    async def block(self, key: str, until: float) -> None:
        await self._redis.zadd(self._blocks, {key: until}, gt=True)

    async def blocked(self, now: float) -> dict[str, float]:
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
        self._path, self._clock = path, clock
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="guesses")
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, timeout=10, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                "CREATE TABLE IF NOT EXISTS misses (key TEXT NOT NULL, at REAL NOT NULL);"
                "CREATE INDEX IF NOT EXISTS misses_by_key ON misses (key, at);"
                "CREATE TABLE IF NOT EXISTS blocks (key TEXT PRIMARY KEY, until REAL NOT NULL);"
            )
            self._db = db
        return self._db

    async def _run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def miss(self, key: str, limit: RateLimitItem) -> tuple[bool, float | None]:
        return await self._run(self._miss, key, limit.amount, float(limit.get_expiry()))

    def _miss(self, key: str, amount: int, seconds: float) -> tuple[bool, float | None]:
        db, now = self._connect(), self._clock()
        with db:  # one IMMEDIATE transaction: count and insert with no other writer between
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM misses WHERE key = ? AND at <= ?", (key, now - seconds))
            (count, oldest) = db.execute("SELECT count(*), min(at) FROM misses WHERE key = ?", (key,)).fetchone()
            counted = count < amount
            if counted:
                db.execute("INSERT INTO misses (key, at) VALUES (?, ?)", (key, now))
                count, oldest = count + 1, now if oldest is None else oldest
        return counted, None if count < amount else oldest + seconds

    async def block(self, key: str, until: float) -> None:
        def write() -> None:
            db = self._connect()
            db.execute(
                "INSERT INTO blocks (key, until) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET until = max(until, excluded.until)",
                (key, until),
            )

        await self._run(write)

    async def blocked(self, now: float) -> dict[str, float]:
        def read() -> dict[str, float]:
            db = self._connect()
            db.execute("DELETE FROM blocks WHERE until <= ?", (now,))
            return dict(db.execute("SELECT key, until FROM blocks").fetchall())

        return await self._run(read)

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()

        await self._run(shut)
        self._thread.shutdown()


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
