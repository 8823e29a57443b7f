"""The embedded usage store: one SQLite file, for the single-machine default.

The (code, user) key is a UNIQUE column, so the claim of a code without limits is the
database's own atomic insert, never a check followed by an insert. A claim with limits (more
than one use per user, a total, a budget) reads the counts and writes in the same
``BEGIN IMMEDIATE`` transaction, which SQLite runs alone: no other write can come between.
The table doubles as the stream: rows with ``copied = 0`` are the usages the ledger has not
taken yet. Writes use
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from discounts.money import to_cents
from discounts.usage.store import NO_LIMITS, Limits, Outcome, StreamEntry, Usage, usage_key

#: ``PRAGMA user_version`` of the file; older files are brought up to it when opened.
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS usages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB NOT NULL UNIQUE,
    code TEXT NOT NULL,
    user_id TEXT NOT NULL,
    use INTEGER NOT NULL DEFAULT 1,
    brand TEXT NOT NULL,
    discount INTEGER,
    amount_off TEXT,
    currency TEXT,
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
CREATE TABLE IF NOT EXISTS code_totals (
    code TEXT PRIMARY KEY,
    uses INTEGER NOT NULL,
    cents INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""

#: Version 1 (before rules had limits): one use per user, percent discounts only.
UPGRADE_FROM_1 = (
    """
ALTER TABLE usages RENAME TO usages_v1;
DROP INDEX IF EXISTS usages_uncopied;
DROP INDEX IF EXISTS usages_code;
DROP INDEX IF EXISTS usages_expiry;
"""
    + SCHEMA
    + """
INSERT INTO usages (seq, key, code, user_id, use, brand, discount, amount, discount_amount, amount_to_pay,
                    used_at, expires_at, copied)
SELECT seq, key, code, user_id, 1, brand, discount, amount, discount_amount, amount_to_pay, used_at, expires_at, copied
FROM usages_v1;
DROP TABLE usages_v1;
"""
)

COLUMNS = "code, user_id, brand, discount, amount, discount_amount, amount_to_pay, used_at, amount_off, currency, use"


def _key(code: str, user: str, use: int) -> bytes:
    """A user's first use has the (code, user) hash itself as key, later ones the use number after it."""
    prefix = usage_key(code, user)[:16]
    return prefix if use == 1 else prefix + use.to_bytes(4, "big")


def _row(usage: Usage, expires_at: datetime, copied: int, use: int | None = None) -> tuple[object, ...]:
    use = usage.use if use is None else use
    return (
        _key(usage.code, usage.user, use),
        usage.code,
        usage.user,
        use,
        usage.brand,
        usage.discount,
        None if usage.amount_off is None else str(usage.amount_off),
        usage.currency,
        str(usage.amount),
        str(usage.discount_amount),
        str(usage.amount_to_pay),
        usage.used_at.timestamp(),
        expires_at.timestamp(),
        copied,
    )


def _usage(row: Sequence[object]) -> Usage:
    code, user, brand, discount, amount, discount_amount, to_pay, used_at, amount_off, currency, use = row
    return Usage(
        code=str(code),
        user=str(user),
        brand=str(brand),
        discount=None if discount is None else int(discount),  # type: ignore[call-overload]
        amount=Decimal(str(amount)),
        discount_amount=Decimal(str(discount_amount)),
        amount_to_pay=Decimal(str(to_pay)),
        used_at=datetime.fromtimestamp(float(used_at), UTC),  # type: ignore[arg-type]
        amount_off=None if amount_off is None else Decimal(str(amount_off)),
        currency=None if currency is None else str(currency),
        use=int(use),  # type: ignore[call-overload]
    )


INSERT = (
    "INSERT INTO usages (key, code, user_id, use, brand, discount, amount_off, currency, amount, discount_amount,"
    " amount_to_pay, used_at, expires_at, copied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING"
)
ADD_TO_TOTALS = (
    "INSERT INTO code_totals (code, uses, cents, expires_at) VALUES (?, 1, ?, ?)"
    " ON CONFLICT (code) DO UPDATE SET uses = uses + 1, cents = cents + excluded.cents"
)


T = TypeVar("T")

#: Claims per transaction at most; more wait for the next one.
MAX_BATCH = 1000


class SQLiteUsageStore:
    def __init__(self, path: str) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="usage-store")
        self._claims: list[tuple[Claim, asyncio.Future[Outcome]]] = []
        self._committing: asyncio.Task[None] | None = None

    def _conn(self) -> sqlite3.Connection:
        """The connection, opened on first use, in the store's own thread."""
        if self._db is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            _bring_up_to_date(db)
            self._db = db
        return self._db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: work(self._conn()))

    async def record(
        self, usage: Usage, *, expires_at: datetime, limits: Limits = NO_LIMITS, dry_run: bool = False
    ) -> Outcome:
        if dry_run:  # the same decision as a claim, outside any write transaction: nothing to commit
            return await self._run(functools.partial(_claim, claim=Claim(usage, expires_at, limits), dry_run=True))
        claimed: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._claims.append((Claim(usage, expires_at, limits), claimed))
        if self._committing is None:
            self._committing = asyncio.ensure_future(self._commit_claims())
        return await asyncio.shield(claimed)

    async def _commit_claims(self) -> None:
        """Commit waiting claims a batch at a time, until none wait (the batch grows while one commits)."""
        try:
            while self._claims:
                batch, self._claims = self._claims[:MAX_BATCH], self._claims[MAX_BATCH:]
                claims = [claim for claim, _ in batch]
                try:
                    answers = await self._run(functools.partial(_claim_all, claims=claims))
                except Exception as exc:  # noqa: BLE001 - not swallowed: every claim of the batch gets it
                    for _, claimed in batch:
                        claimed.set_exception(exc)
                    continue
                for (_, claimed), answer in zip(batch, answers, strict=True):
                    claimed.set_result(answer)
        finally:
            self._committing = None

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS) -> datetime | None:
        key = _key(code, user, 1)
        row = await self._run(lambda db: db.execute("SELECT used_at FROM usages WHERE key = ?", (key,)).fetchone())
        return datetime.fromtimestamp(row[0], UTC) if row else None

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None
    ) -> list[datetime | None]:
        keys = [_key(code, user, 1) for code, user in pairs]

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

    async def restore(
        self,
        usages: Sequence[Usage],
        *,
        expires_at: Mapping[str, datetime],
        limits: Mapping[str, Limits] | None = None,
    ) -> int:
        limits = limits or {}

        def put_back(db: sqlite3.Connection) -> int:
            added = 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for usage in usages:
                    expiry = expires_at[usage.code]
                    if db.execute(INSERT, _row(usage, expiry, 1)).rowcount != 1:
                        continue
                    added += 1
                    code_limits = limits.get(usage.code)
                    if code_limits is not None and code_limits.shared:
                        db.execute(ADD_TO_TOTALS, (usage.code, to_cents(usage.discount_amount), expiry.timestamp()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return added

        return await self._run(put_back)

    async def count(self, code: str) -> int:
        row = await self._run(lambda db: db.execute("SELECT count(*) FROM usages WHERE code = ?", (code,)).fetchone())
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        """Drop expired usages, but never one the ledger has not copied yet."""
        query = "DELETE FROM usages WHERE expires_at < ? AND copied = 1"

        def purge(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM code_totals WHERE expires_at < ?", (now.timestamp(),))
            return int(db.execute(query, (now.timestamp(),)).rowcount)

        return await self._run(purge)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1"))

    async def close(self) -> None:
        if self._committing is not None:
            await self._committing
        if self._db is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=True)


@dataclass(frozen=True, slots=True)
class Claim:
    usage: Usage
    expires_at: datetime
    limits: Limits


def _claim_all(db: sqlite3.Connection, claims: list[Claim]) -> list[Outcome]:
    """Each claim's outcome, all in one transaction: one commit (one fsync) for the batch."""
    db.execute("BEGIN IMMEDIATE")
    try:
        answers = [_claim(db, claim) for claim in claims]
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return answers


def _claim(db: sqlite3.Connection, claim: Claim, dry_run: bool = False) -> Outcome:
    usage, limits = claim.usage, claim.limits
    first = _key(usage.code, usage.user, 1)
    if limits is NO_LIMITS and not dry_run:  # the common case: the unique key decides alone
        inserted = db.execute(INSERT, _row(usage, claim.expires_at, 0, use=1)).rowcount == 1
        return Outcome.CLAIMED if inserted else Outcome.USED
    (uses,) = db.execute(
        "SELECT count(*) FROM usages WHERE key >= ? AND key <= ?", (first, first + b"\xff" * 4)
    ).fetchone()
    if uses >= limits.per_user:
        return Outcome.USED
    if limits.shared:
        totals = db.execute("SELECT uses, cents FROM code_totals WHERE code = ?", (usage.code,)).fetchone()
        used, spent = totals or (0, 0)
        if limits.max_uses is not None and used >= limits.max_uses:
            return Outcome.EXHAUSTED
        if limits.budget_cents is not None and spent + limits.discount_cents > limits.budget_cents:
            return Outcome.EXHAUSTED
    if dry_run:
        return Outcome.CLAIMED
    if limits.shared:
        db.execute(ADD_TO_TOTALS, (usage.code, limits.discount_cents, claim.expires_at.timestamp()))
    db.execute(INSERT, _row(usage, claim.expires_at, 0, use=uses + 1))
    return Outcome.CLAIMED


def _bring_up_to_date(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a file of an older version to this one, in one transaction.

    Several API processes open the file at once: the version is read again under the write
    lock, so the one that waited finds the work done instead of doing it twice.
    """
    if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usages'").fetchone()
        if version == SCHEMA_VERSION:
            db.execute("COMMIT")
            return
        if exists and version < SCHEMA_VERSION:
            for statement in UPGRADE_FROM_1.split(";"):
                if statement.strip():
                    db.execute(statement)
        else:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
