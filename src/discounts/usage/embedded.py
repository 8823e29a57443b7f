"""The embedded usage store: one SQLite file, for the single-machine default.

The (code, user) key is a UNIQUE column, so the claim is the database's own atomic
insert, never a check followed by an insert. The table doubles as the stream: rows
with ``copied = 0`` are the usages the ledger has not taken yet. Writes use
``synchronous=FULL`` because a usage acknowledged to a user must survive a power cut.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiosqlite

from discounts.usage.store import StreamEntry, Usage, usage_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS usages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB NOT NULL UNIQUE,
    code TEXT NOT NULL,
    user_id TEXT NOT NULL,
    brand TEXT NOT NULL,
    discount INTEGER NOT NULL,
    amount TEXT NOT NULL,
    discount_amount TEXT NOT NULL,
    amount_to_pay TEXT NOT NULL,
    used_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    copied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usages_uncopied ON usages (seq) WHERE copied = 0;
CREATE INDEX IF NOT EXISTS usages_code ON usages (code);
CREATE INDEX IF NOT EXISTS usages_expiry ON usages (expires_at);
"""

COLUMNS = "code, user_id, brand, discount, amount, discount_amount, amount_to_pay, used_at"


def _row(usage: Usage, expires_at: datetime, copied: int) -> tuple[object, ...]:
    return (
        usage_key(usage.code, usage.user)[:16],
        usage.code,
        usage.user,
        usage.brand,
        usage.discount,
        str(usage.amount),
        str(usage.discount_amount),
        str(usage.amount_to_pay),
        usage.used_at.timestamp(),
        expires_at.timestamp(),
        copied,
    )


def _usage(row: Sequence[object]) -> Usage:
    code, user, brand, discount, amount, discount_amount, to_pay, used_at = row
    return Usage(
        code=str(code),
        user=str(user),
        brand=str(brand),
        discount=int(discount),  # type: ignore[call-overload]
        amount=Decimal(str(amount)),
        discount_amount=Decimal(str(discount_amount)),
        amount_to_pay=Decimal(str(to_pay)),
        used_at=datetime.fromtimestamp(float(used_at), UTC),  # type: ignore[arg-type]
    )


INSERT = (
    "INSERT INTO usages (key, code, user_id, brand, discount, amount, discount_amount, amount_to_pay,"
    " used_at, expires_at, copied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)


class SQLiteUsageStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self._path, timeout=30, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=30000")
            await db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def record(self, usage: Usage, *, expires_at: datetime) -> bool:
        async with self._lock:
            db = await self._conn()
            cursor = await db.execute(INSERT, _row(usage, expires_at, 0))
            return cursor.rowcount == 1

    async def used_at(self, code: str, user: str) -> datetime | None:
        async with self._lock:
            db = await self._conn()
            cursor = await db.execute("SELECT used_at FROM usages WHERE key = ?", (usage_key(code, user)[:16],))
            row = await cursor.fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row else None

    async def used_at_many(self, pairs: Sequence[tuple[str, str]]) -> list[datetime | None]:
        keys = [usage_key(code, user)[:16] for code, user in pairs]
        found: dict[bytes, float] = {}
        async with self._lock:
            db = await self._conn()
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                cursor = await db.execute(f"SELECT key, used_at FROM usages WHERE key IN ({marks})", part)
                found.update((bytes(key), used_at) for key, used_at in await cursor.fetchall())
        return [datetime.fromtimestamp(found[key], UTC) if key in found else None for key in keys]

    async def pending(self, limit: int) -> list[StreamEntry]:
        async with self._lock:
            db = await self._conn()
            cursor = await db.execute(
                f"SELECT seq, {COLUMNS} FROM usages WHERE copied = 0 ORDER BY seq LIMIT ?", (limit,)
            )
            rows = await cursor.fetchall()
        return [StreamEntry(str(row[0]), _usage(row[1:])) for row in rows]

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        async with self._lock:
            db = await self._conn()
            seqs = [int(i) for i in entry_ids]
            for start in range(0, len(seqs), 500):
                part = seqs[start : start + 500]
                marks = ",".join("?" * len(part))
                await db.execute(f"UPDATE usages SET copied = 1 WHERE seq IN ({marks})", part)

    async def restore(self, usages: Sequence[Usage], *, expires_at: dict[str, datetime]) -> int:
        async with self._lock:
            db = await self._conn()
            before = db.total_changes
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.executemany(INSERT, [_row(u, expires_at[u.code], 1) for u in usages])
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            return db.total_changes - before

    async def count(self, code: str) -> int:
        async with self._lock:
            db = await self._conn()
            cursor = await db.execute("SELECT count(*) FROM usages WHERE code = ?", (code,))
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        """Drop expired usages, but never one the ledger has not copied yet."""
        async with self._lock:
            db = await self._conn()
            cursor = await db.execute("DELETE FROM usages WHERE expires_at < ? AND copied = 1", (now.timestamp(),))
            return cursor.rowcount

    async def ping(self) -> None:
        async with self._lock:
            db = await self._conn()
            await db.execute("SELECT 1")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
