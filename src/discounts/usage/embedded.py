"""The embedded usage store: one SQLite file, for the single-machine default.

The (code, user) key is a UNIQUE column, so the claim is the database's own atomic
insert, never a check followed by an insert. The table doubles as the stream: rows
with ``copied = 0`` are the usages the ledger has not taken yet. Writes use
``synchronous=FULL`` because a usage acknowledged to a user must survive a power cut.

One thread owns the connection, and claims that arrive together are committed together
(group commit): each is still its own ``INSERT … ON CONFLICT DO NOTHING`` with its own
answer, but a flash sale pays one fsync and one hop to that thread per batch, not per
claim. A batch that fails to commit fails every claim in it, so none is acknowledged
without being durable.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

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


T = TypeVar("T")

#: Claims per transaction at most; more wait for the next one.
MAX_BATCH = 1000


class SQLiteUsageStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="usage-store")
        self._claims: list[tuple[tuple[object, ...], asyncio.Future[bool]]] = []
        self._committing: asyncio.Task[None] | None = None

    def _conn(self) -> sqlite3.Connection:
        """The connection, opened on first use, in the store's own thread."""
        if self._db is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: work(self._conn()))

    async def record(self, usage: Usage, *, expires_at: datetime) -> bool:
        claimed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((_row(usage, expires_at, 0), claimed))
        if self._committing is None:
            self._committing = asyncio.ensure_future(self._commit_claims())
        return await asyncio.shield(claimed)

    async def _commit_claims(self) -> None:
        """Commit waiting claims a batch at a time, until none wait (the batch grows while one commits)."""
        try:
            while self._claims:
                batch, self._claims = self._claims[:MAX_BATCH], self._claims[MAX_BATCH:]
                rows = [row for row, _ in batch]
                try:
                    answers = await self._run(functools.partial(_claim_all, rows=rows))
                except Exception as exc:  # noqa: BLE001 - not swallowed: every claim of the batch gets it
                    for _, claimed in batch:
                        claimed.set_exception(exc)
                    continue
                for (_, claimed), answer in zip(batch, answers, strict=True):
                    claimed.set_result(answer)
        finally:
            self._committing = None

    async def used_at(self, code: str, user: str) -> datetime | None:
        key = usage_key(code, user)[:16]
        row = await self._run(lambda db: db.execute("SELECT used_at FROM usages WHERE key = ?", (key,)).fetchone())
        return datetime.fromtimestamp(row[0], UTC) if row else None

    async def used_at_many(self, pairs: Sequence[tuple[str, str]]) -> list[datetime | None]:
        keys = [usage_key(code, user)[:16] for code, user in pairs]

        def look_up(db: sqlite3.Connection) -> dict[bytes, float]:
            found: dict[bytes, float] = {}
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = db.execute(f"SELECT key, used_at FROM usages WHERE key IN ({marks})", part).fetchall()
                found.update((bytes(key), used_at) for key, used_at in rows)
            return found

        found = await self._run(look_up)
        return [datetime.fromtimestamp(found[key], UTC) if key in found else None for key in keys]

    async def pending(self, limit: int) -> list[StreamEntry]:
        query = f"SELECT seq, {COLUMNS} FROM usages WHERE copied = 0 ORDER BY seq LIMIT ?"
        rows = await self._run(lambda db: db.execute(query, (limit,)).fetchall())
        return [StreamEntry(str(row[0]), _usage(row[1:])) for row in rows]

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        seqs = [int(i) for i in entry_ids]

        def mark_copied(db: sqlite3.Connection) -> None:
            for start in range(0, len(seqs), 500):
                part = seqs[start : start + 500]
                marks = ",".join("?" * len(part))
                db.execute(f"UPDATE usages SET copied = 1 WHERE seq IN ({marks})", part)

        await self._run(mark_copied)

    async def restore(self, usages: Sequence[Usage], *, expires_at: dict[str, datetime]) -> int:
        rows = [_row(u, expires_at[u.code], 1) for u in usages]

        def put_back(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(INSERT, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return db.total_changes - before

        return await self._run(put_back)

    async def count(self, code: str) -> int:
        row = await self._run(lambda db: db.execute("SELECT count(*) FROM usages WHERE code = ?", (code,)).fetchone())
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        """Drop expired usages, but never one the ledger has not copied yet."""
        query = "DELETE FROM usages WHERE expires_at < ? AND copied = 1"
        return await self._run(lambda db: db.execute(query, (now.timestamp(),)).rowcount)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1"))

    async def close(self) -> None:
        if self._committing is not None:
            await self._committing
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)


def _claim_all(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> list[bool]:
    """Each row's claim, all in one transaction: one commit (one fsync) for the batch."""
    db.execute("BEGIN IMMEDIATE")
    try:
        answers = [db.execute(INSERT, row).rowcount == 1 for row in rows]
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return answers
