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

Several processes (``serve --workers N``, the worker's ledger copy) write the one file; they
take turns as every ``SQLiteFile`` does (``discounts/sqlite_file.py`` says why).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from discounts.money import to_cents
from discounts.sqlite_file import SQLiteFile
from discounts.usage.embedded_carts import CART_COLUMNS, cart_entry, move_cart, record_cart, stored_cart
from discounts.usage.embedded_steps import (
    ADD_TO_TOTALS,
    COLUMNS,
    INSERT,
    LIVE,
    Claim,
    change,
    claim_all,
    claim_one,
    in_transaction,
    row_key,
    row_of,
    usage_of_row,
)
from discounts.usage.store import (
    NO_LIMITS,
    Cart,
    CartChanged,
    CartRecorded,
    CartState,
    Changed,
    Limits,
    Recorded,
    Status,
    StoredCart,
    StreamEntry,
    Usage,
)

#: ``PRAGMA user_version`` of the file; older files are brought up to it when opened.
SCHEMA_VERSION = 4

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
    copied INTEGER NOT NULL DEFAULT 0,
    -- held, used, released, rolled_back, or ended (a hold whose end a claim has given back)
    status TEXT NOT NULL DEFAULT 'used',
    hold_until REAL,
    changed_at REAL,
    -- the cart redemption it is part of, and its allocations as JSON [[line, cents], ...]
    cart TEXT,
    allocations TEXT,
    -- the request that claimed it (its Idempotency-Key's nonce): a retry of it finds this claim
    nonce TEXT
);
CREATE INDEX IF NOT EXISTS usages_uncopied ON usages (seq) WHERE copied = 0;
CREATE INDEX IF NOT EXISTS usages_holds ON usages (code, hold_until) WHERE status = 'held';
CREATE INDEX IF NOT EXISTS usages_code ON usages (code);
CREATE INDEX IF NOT EXISTS usages_expiry ON usages (expires_at);
CREATE TABLE IF NOT EXISTS code_totals (
    code TEXT PRIMARY KEY,
    uses INTEGER NOT NULL,
    cents INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS usages_cart ON usages (cart) WHERE cart IS NOT NULL;
CREATE TABLE IF NOT EXISTS carts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    -- held, used, released (a held one past hold_until has expired)
    state TEXT NOT NULL,
    used_at REAL NOT NULL,
    hold_until REAL NOT NULL,
    summary BLOB NOT NULL,
    expires_at REAL NOT NULL,
    -- its codes whose limits are shared (JSON): their totals move with their usages
    shared TEXT NOT NULL,
    copied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS carts_uncopied ON carts (id) WHERE copied = 0;
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
#: Version 2 (before holds and give-backs): every row a use.
UPGRADE_FROM_2 = """
ALTER TABLE usages ADD COLUMN status TEXT NOT NULL DEFAULT 'used';
ALTER TABLE usages ADD COLUMN hold_until REAL;
ALTER TABLE usages ADD COLUMN changed_at REAL;
CREATE INDEX IF NOT EXISTS usages_holds ON usages (code, hold_until) WHERE status = 'held';
"""
#: Version 3 (before carts and nonces): no usage is part of one, none knows its request.
UPGRADE_FROM_3 = """
ALTER TABLE usages ADD COLUMN cart TEXT;
ALTER TABLE usages ADD COLUMN allocations TEXT;
ALTER TABLE usages ADD COLUMN nonce TEXT;
"""
#: Claims per transaction at most; more wait for the next one.
MAX_BATCH = 1000


class SQLiteUsageStore:
    def __init__(self, path: str) -> None:
        self._file = SQLiteFile(path, name="usage-store", prepare=_prepare)
        self._claims: list[tuple[Claim, asyncio.Future[Recorded]]] = []
        self._committing: asyncio.Task[None] | None = None

    async def record(
        self, usage: Usage, *, expires_at: datetime, limits: Limits = NO_LIMITS, dry_run: bool = False
    ) -> Recorded:
        if dry_run:  # the same decision as a claim, outside any write transaction: nothing to commit
            return await self._file.read(
                functools.partial(claim_one, claim=Claim(usage, expires_at, limits), dry_run=True)
            )
        claimed: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
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
                    answers = await self._file.write(functools.partial(claim_all, claims=claims))
                except Exception as exc:  # noqa: BLE001 - not swallowed: every claim of the batch gets it
                    for _, claimed in batch:
                        claimed.set_exception(exc)
                    continue
                for (_, claimed), answer in zip(batch, answers, strict=True):
                    claimed.set_result(answer)
        finally:
            self._committing = None

    async def confirm(self, code: str, user: str, use: int, *, limits: Limits, now: datetime) -> Changed:
        return await self._file.write(
            functools.partial(change, key=row_key(code, user, use), shared=limits.shared, now=now, to=None)
        )

    async def give_back(
        self, code: str, user: str, use: int, *, limits: Limits, now: datetime, usage: Usage | None = None
    ) -> Changed:
        key = row_key(code, user, use)
        return await self._file.write(
            functools.partial(change, key=key, shared=limits.shared, now=now, to=Status.ROLLED_BACK)
        )

    async def record_cart(self, cart: Cart, *, now: datetime) -> CartRecorded:
        return await self._file.write(lambda db: in_transaction(db, lambda: record_cart(db, cart)))

    async def cart(self, cart_id: str, *, now: datetime) -> StoredCart | None:
        return await self._file.read(lambda db: stored_cart(db, cart_id))

    async def confirm_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        return await self._file.write(
            lambda db: in_transaction(db, lambda: move_cart(db, cart_id, now, CartState.USED))
        )

    async def give_back_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        return await self._file.write(
            lambda db: in_transaction(db, lambda: move_cart(db, cart_id, now, CartState.RELEASED))
        )

    async def finish_carts(self, now: datetime) -> int:
        """Nothing is ever left midway here: every cart operation is one transaction."""
        return 0

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS, *, now: datetime) -> datetime | None:
        (found,) = await self.used_at_many([(code, user)], now=now)
        return found

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None, *, now: datetime
    ) -> list[datetime | None]:
        firsts = [row_key(code, user, 1) for code, user in pairs]
        query = f"SELECT min(used_at) FROM usages WHERE key >= ? AND key <= ? AND {LIVE}"

        def look_up(db: sqlite3.Connection) -> list[float | None]:
            moment = now.timestamp()
            return [db.execute(query, (first, first + b"\xff" * 4, moment)).fetchone()[0] for first in firsts]

        found = await self._file.read(look_up)
        return [None if seconds is None else datetime.fromtimestamp(seconds, UTC) for seconds in found]

    async def pending(self, limit: int) -> list[StreamEntry]:
        """Carts first (a cart's row before its usages' in the ledger), then usages, oldest first."""
        carts = f"SELECT {CART_COLUMNS} FROM carts WHERE copied = 0 LIMIT ?"
        usages = f"SELECT seq, {COLUMNS} FROM usages WHERE copied = 0 ORDER BY seq LIMIT ?"

        def read(db: sqlite3.Connection) -> list[StreamEntry]:
            entries = [StreamEntry(f"c:{row[0]}", None, cart_entry(row)) for row in db.execute(carts, (limit,))]
            rows = db.execute(usages, (limit - len(entries),)).fetchall() if len(entries) < limit else []
            return entries + [StreamEntry(str(row[0]), usage_of_row(row[1:])) for row in rows]

        return await self._file.read(read)

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        carts = [i.removeprefix("c:") for i in entry_ids if i.startswith("c:")]
        seqs = [int(i) for i in entry_ids if not i.startswith("c:")]

        def mark_copied(db: sqlite3.Connection) -> None:
            for table, column, keys in (("usages", "seq", seqs), ("carts", "id", carts)):
                for start in range(0, len(keys), 500):
                    part = keys[start : start + 500]
                    marks = ",".join("?" * len(part))
                    db.execute(f"UPDATE {table} SET copied = 1 WHERE {column} IN ({marks})", part)

        await self._file.write(mark_copied)

    async def restore(
        self,
        usages: Sequence[Usage],
        *,
        expires_at: Mapping[str, datetime],
        limits: Mapping[str, Limits] | None = None,
        now: datetime,
    ) -> int:
        limits = limits or {}

        def put_back(db: sqlite3.Connection) -> int:
            added = 0
            for usage in usages:
                expiry = expires_at[usage.code]
                if db.execute(INSERT, row_of(usage, expiry, 1)).rowcount != 1:
                    continue
                added += 1
                code_limits = limits.get(usage.code)
                if code_limits is not None and code_limits.shared and usage.is_active(now):
                    db.execute(ADD_TO_TOTALS, (usage.code, to_cents(usage.discount_amount), expiry.timestamp()))
            return added

        return await self._file.write(lambda db: in_transaction(db, lambda: put_back(db)))

    async def count(self, code: str, now: datetime) -> int:
        query = f"SELECT count(*) FROM usages WHERE code = ? AND {LIVE}"
        row = await self._file.read(lambda db: db.execute(query, (code, now.timestamp())).fetchone())
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        """Drop expired usages, but never one the ledger has not copied yet."""
        query = "DELETE FROM usages WHERE expires_at < ? AND copied = 1"

        def purge(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM code_totals WHERE expires_at < ?", (now.timestamp(),))
            db.execute("DELETE FROM carts WHERE expires_at < ? AND copied = 1", (now.timestamp(),))
            return int(db.execute(query, (now.timestamp(),)).rowcount)

        return await self._file.write(purge)

    async def ping(self) -> None:
        await self._file.read(lambda db: db.execute("SELECT 1"))

    async def close(self) -> None:
        if self._committing is not None:
            await self._committing
        await self._file.close()


def _prepare(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA synchronous=FULL")
    _bring_up_to_date(db)


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
            # A file of version 1 predates user_version (0): it is rebuilt in today's shape.
            upgrades = {2: UPGRADE_FROM_2 + UPGRADE_FROM_3, 3: UPGRADE_FROM_3}
            for statement in (upgrades.get(version, UPGRADE_FROM_1) + SCHEMA).split(";"):
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
