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
import dataclasses
import functools
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from discounts.money import to_cents
from discounts.sqlite_file import SQLiteFile
from discounts.usage.store import (
    NO_LIMITS,
    Change,
    Changed,
    Limits,
    Outcome,
    Recorded,
    Status,
    StreamEntry,
    Usage,
    usage_key,
)

#: ``PRAGMA user_version`` of the file; older files are brought up to it when opened.
SCHEMA_VERSION = 3

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
    changed_at REAL
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
#: A hold a claim found ended and gave back (it reads as a held usage whose hold has passed).
ENDED = "ended"
#: Rows that count against the limits at a moment (the one parameter).
LIVE = "(status = 'used' OR (status = 'held' AND hold_until > ?))"

COLUMNS = (
    "code, user_id, brand, discount, amount, discount_amount, amount_to_pay, used_at, amount_off, currency, use,"
    " status, hold_until, changed_at"
)


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
        usage.status.value,
        None if usage.hold_until is None else usage.hold_until.timestamp(),
        None if usage.changed_at is None else usage.changed_at.timestamp(),
    )


def _usage(row: Sequence[object]) -> Usage:
    code, user, brand, discount, amount, discount_amount, to_pay, used_at, amount_off, currency, use, *state = row
    status, hold_until, changed_at = state
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
        status=Status.HELD if status == ENDED else Status(str(status)),
        hold_until=None if hold_until is None else datetime.fromtimestamp(float(hold_until), UTC),  # type: ignore[arg-type]
        changed_at=None if changed_at is None else datetime.fromtimestamp(float(changed_at), UTC),  # type: ignore[arg-type]
    )


INSERT = (
    "INSERT INTO usages (key, code, user_id, use, brand, discount, amount_off, currency, amount, discount_amount,"
    " amount_to_pay, used_at, expires_at, copied, status, hold_until, changed_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
ADD_TO_TOTALS = (
    "INSERT INTO code_totals (code, uses, cents, expires_at) VALUES (?, 1, ?, ?)"
    " ON CONFLICT (code) DO UPDATE SET uses = uses + 1, cents = cents + excluded.cents"
)


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
                functools.partial(_claim, claim=Claim(usage, expires_at, limits), dry_run=True)
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
                    answers = await self._file.write(functools.partial(_claim_all, claims=claims))
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
            functools.partial(_change, key=_key(code, user, use), limits=limits, now=now, to=None)
        )

    async def give_back(
        self, code: str, user: str, use: int, *, limits: Limits, now: datetime, usage: Usage | None = None
    ) -> Changed:
        key = _key(code, user, use)
        return await self._file.write(
            functools.partial(_change, key=key, limits=limits, now=now, to=Status.ROLLED_BACK)
        )

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS, *, now: datetime) -> datetime | None:
        (found,) = await self.used_at_many([(code, user)], now=now)
        return found

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None, *, now: datetime
    ) -> list[datetime | None]:
        firsts = [_key(code, user, 1) for code, user in pairs]
        query = f"SELECT min(used_at) FROM usages WHERE key >= ? AND key <= ? AND {LIVE}"

        def look_up(db: sqlite3.Connection) -> list[float | None]:
            moment = now.timestamp()
            return [db.execute(query, (first, first + b"\xff" * 4, moment)).fetchone()[0] for first in firsts]

        found = await self._file.read(look_up)
        return [None if seconds is None else datetime.fromtimestamp(seconds, UTC) for seconds in found]

    async def pending(self, limit: int) -> list[StreamEntry]:
        query = f"SELECT seq, {COLUMNS} FROM usages WHERE copied = 0 ORDER BY seq LIMIT ?"
        rows = await self._file.read(lambda db: db.execute(query, (limit,)).fetchall())
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
            db.execute("BEGIN IMMEDIATE")
            try:
                for usage in usages:
                    expiry = expires_at[usage.code]
                    if db.execute(INSERT, _row(usage, expiry, 1)).rowcount != 1:
                        continue
                    added += 1
                    code_limits = limits.get(usage.code)
                    if code_limits is not None and code_limits.shared and usage.is_active(now):
                        db.execute(ADD_TO_TOTALS, (usage.code, to_cents(usage.discount_amount), expiry.timestamp()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return added

        return await self._file.write(put_back)

    async def count(self, code: str, now: datetime) -> int:
        query = f"SELECT count(*) FROM usages WHERE code = ? AND {LIVE}"
        row = await self._file.read(lambda db: db.execute(query, (code, now.timestamp())).fetchone())
        return int(row[0]) if row else 0

    async def purge_expired(self, now: datetime) -> int:
        """Drop expired usages, but never one the ledger has not copied yet."""
        query = "DELETE FROM usages WHERE expires_at < ? AND copied = 1"

        def purge(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM code_totals WHERE expires_at < ?", (now.timestamp(),))
            return int(db.execute(query, (now.timestamp(),)).rowcount)

        return await self._file.write(purge)

    async def ping(self) -> None:
        await self._file.read(lambda db: db.execute("SELECT 1"))

    async def close(self) -> None:
        if self._committing is not None:
            await self._committing
        await self._file.close()


@dataclass(frozen=True, slots=True)
class Claim:
    usage: Usage
    expires_at: datetime
    limits: Limits


def _claim_all(db: sqlite3.Connection, claims: list[Claim]) -> list[Recorded]:
    """Each claim's outcome, all in one transaction: one commit (one fsync) for the batch."""
    db.execute("BEGIN IMMEDIATE")
    try:
        answers = [_claim(db, claim) for claim in claims]
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return answers


def _claim(db: sqlite3.Connection, claim: Claim, dry_run: bool = False) -> Recorded:
    usage, limits = claim.usage, claim.limits
    first = _key(usage.code, usage.user, 1)
    held = usage.status is Status.HELD
    fast = limits is NO_LIMITS and not dry_run and not held  # the common case: the unique key decides alone
    if fast and db.execute(INSERT, _row(usage, claim.expires_at, 0, use=1)).rowcount == 1:
        return Recorded(Outcome.CLAIMED, 1)
    now = usage.used_at.timestamp()
    if limits.shared and not dry_run:
        _end_holds(db, usage.code, now)
    claims, live = db.execute(
        f"SELECT coalesce(max(use), 0), coalesce(sum(CASE WHEN {LIVE} THEN 1 ELSE 0 END), 0)"
        " FROM usages WHERE key >= ? AND key <= ?",
        (now, first, first + b"\xff" * 4),
    ).fetchone()
    if live >= limits.per_user:
        return Recorded(Outcome.USED)
    if limits.shared:
        totals = db.execute("SELECT uses, cents FROM code_totals WHERE code = ?", (usage.code,)).fetchone()
        used, spent = totals or (0, 0)
        if dry_run:  # holds that ended but that no claim has given back yet
            ended, cents = _ended_holds(db, usage.code, now)
            used, spent = used - ended, spent - cents
        if limits.max_uses is not None and used >= limits.max_uses:
            return Recorded(Outcome.EXHAUSTED)
        if limits.budget_cents is not None and spent + limits.discount_cents > limits.budget_cents:
            return Recorded(Outcome.EXHAUSTED)
    if dry_run:
        return Recorded(Outcome.CLAIMED, claims + 1)
    if limits.shared:
        db.execute(ADD_TO_TOTALS, (usage.code, limits.discount_cents, claim.expires_at.timestamp()))
    db.execute(INSERT, _row(usage, claim.expires_at, 0, use=claims + 1))
    return Recorded(Outcome.CLAIMED, claims + 1)


def _ended_holds(db: sqlite3.Connection, code: str, now: float) -> tuple[int, int]:
    rows = db.execute(
        "SELECT discount_amount FROM usages WHERE code = ? AND status = 'held' AND hold_until <= ?", (code, now)
    ).fetchall()
    return len(rows), sum(to_cents(Decimal(amount)) for (amount,) in rows)


def _end_holds(db: sqlite3.Connection, code: str, now: float) -> None:
    """Give back the code's holds that ended by ``now``: a claim does it first, so no sweeper is needed."""
    ended, cents = _ended_holds(db, code, now)
    if ended:
        db.execute(
            "UPDATE usages SET status = ? WHERE code = ? AND status = 'held' AND hold_until <= ?", (ENDED, code, now)
        )
        db.execute("UPDATE code_totals SET uses = uses - ?, cents = cents - ? WHERE code = ?", (ended, cents, code))


def _change(db: sqlite3.Connection, key: bytes, limits: Limits, now: datetime, to: Status | None) -> Changed:
    """Confirm (``to`` None) or give back one usage, in one write transaction."""
    moment = now.timestamp()
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(f"SELECT seq, {COLUMNS} FROM usages WHERE key = ?", (key,)).fetchone()
        changed = _decide(db, row, limits, moment, to)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return changed


def _decide(
    db: sqlite3.Connection, row: Sequence[Any] | None, limits: Limits, now: float, to: Status | None
) -> Changed:
    if row is None:
        return Changed(Change.NOT_FOUND)
    seq, usage, raw_status = row[0], _usage(row[1:]), row[12]
    if raw_status == "held" and usage.hold_until is not None and usage.hold_until.timestamp() <= now:
        if limits.shared:
            _end_holds(db, usage.code, now)
        else:
            db.execute("UPDATE usages SET status = ? WHERE seq = ?", (ENDED, seq))
        raw_status = ENDED
    if raw_status == ENDED:
        return Changed(Change.EXPIRED if to is None else Change.NOT_FOUND)
    if raw_status in (Status.RELEASED, Status.ROLLED_BACK):
        return Changed(Change.NOT_FOUND)
    if to is None and raw_status == Status.USED:
        return Changed(Change.ALREADY, usage)
    new = Status.USED if to is None else Status.RELEASED if raw_status == Status.HELD else Status.ROLLED_BACK
    changed_at = datetime.fromtimestamp(now, UTC)
    db.execute("UPDATE usages SET status = ?, changed_at = ?, copied = 0 WHERE seq = ?", (new.value, now, seq))
    if new is not Status.USED and limits.shared:
        cents = to_cents(usage.discount_amount)
        db.execute("UPDATE code_totals SET uses = uses - 1, cents = cents - ? WHERE code = ?", (cents, usage.code))
    return Changed(Change.DONE, dataclasses.replace(usage, status=new, changed_at=changed_at))


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
            for statement in (UPGRADE_FROM_2 if version == 2 else UPGRADE_FROM_1).split(";"):
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
