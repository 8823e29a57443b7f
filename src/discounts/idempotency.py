"""Retries with an ``Idempotency-Key``: the first answer, kept, is the answer to every retry.

A client whose connection dropped cannot know whether its redemption happened; retrying it
plainly would answer "already used" to a user who never got the first 201. With a key, the
first request's answer (every answer below 500, refusals included) is kept for
``idempotency_seconds`` and replayed to a retry with the same key and the same request; the
same key with another request is refused (422), and a retry that arrives while the first
is still running gets 409 rather than a second run.

A request *owns* its key while it runs: the record says "in flight" with a random token and
a lease. Should the process die, the lease runs out and a retry runs afresh (for a
redemption, the store's claim then decides: it answers 409 ``code_already_used`` if the
first one had got that far). Only the owner's token may write the answer or give the key up,
so a request that outlived its lease cannot overwrite a newer one. Records live where every
API process sees them: Redis beside a Redis usage store, else a SQLite file in the data dir.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from discounts.errors import IdempotencyInProgress, IdempotencyKeyReused
from discounts.sqlite_file import SQLiteFile
from discounts.usage.redis_pipelining import AutoPipeline


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as it was sent: what a retry gets again."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class RecordStorage(Protocol):
    async def claim(self, key: str, record: bytes, lease_seconds: float) -> bytes | None:
        """Store ``record`` under ``key`` unless a live one is there; None if stored, else the one there."""

    async def replace(self, key: str, token: str, record: bytes | None, keep_seconds: float) -> None:
        """Unless another request holds ``key`` now: put ``record`` there (None: remove it).

        Also when ``token``'s lease ran out: a request slower than its lease still ran, and its retry must
        get its answer, not run again.
        """

    async def close(self) -> None: ...


def _in_flight(token: str, fingerprint: str) -> bytes:
    return orjson.dumps({"t": token, "f": fingerprint})


class Idempotency:
    """Keys scoped to a principal; a request is told to run (with a token), or gets its replay or a refusal."""

    def __init__(self, storage: RecordStorage, keep_seconds: float, lease_seconds: float) -> None:
        self.storage, self.keep_seconds, self.lease_seconds = storage, keep_seconds, lease_seconds

    @staticmethod
    def fingerprint(method: str, path: str, body: bytes) -> str:
        """The request a key was first used with: its operation and its body, as JSON means it."""
        try:
            canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
        except orjson.JSONDecodeError:
            canonical = body
        return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.rstrip("/").encode(), canonical)).hexdigest()

    @staticmethod
    def storage_key(principal: str, key: str) -> str:
        return hashlib.sha256(f"{principal}\x00{key}".encode()).hexdigest()

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(16)

    async def begin(
        self, principal: str, key: str, fingerprint: str, token: str | None = None
    ) -> tuple[str, str] | Answer:
        """``(storage key, token)`` to run the request and then :meth:`finish`; or the first answer to replay.

        Raises :class:`IdempotencyKeyReused` for another request, :class:`IdempotencyInProgress`
        while the first is still running. A caller that passes its own ``token`` can free the
        lease even when the store went away before saying whether it took it (``finish`` with
        ``(storage_key(principal, key), token)`` deletes only a lease of that token).
        """
        stored_key, token = self.storage_key(principal, key), token or self.new_token()
        found = await self.storage.claim(stored_key, _in_flight(token, fingerprint), self.lease_seconds)
        if found is None:
            return stored_key, token
        record = orjson.loads(found)
        if record["f"] != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key came with another request before; use a new key")
        if "s" not in record:
            raise IdempotencyInProgress("the first request with this Idempotency-Key is still running; retry soon")
        return Answer(record["s"], [tuple(pair) for pair in record["h"]], record["b"].encode())

    async def finish(self, owned: tuple[str, str], fingerprint: str, answer: Answer | None) -> None:
        """Keep ``answer`` for retries; None (a 5xx, a crash of the handler) frees the key to run again."""
        stored_key, token = owned
        if answer is None or answer.status >= 500:
            await self.storage.replace(stored_key, token, None, self.keep_seconds)
            return
        record = {"t": token, "f": fingerprint, "s": answer.status, "h": answer.headers, "b": answer.body.decode()}
        await self.storage.replace(stored_key, token, orjson.dumps(record), self.keep_seconds)


#: KEYS[1]; ARGV: record, lease in ms. Returns nothing when stored, else the live record.
CLAIM = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
#: KEYS[1]; ARGV: token, record ('' to delete), keep in ms. A key whose lease ran out with no
#: other request on it still takes the answer: the request did run, its retry must get it.
REPLACE = """
local found = redis.call('GET', KEYS[1])
if found and cjson.decode(found).t ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


class RedisRecords:
    """One string key per (principal, key), ``<namespace>:idem:<hash>``, expiring by itself.

    The scripts go through the usage store's pipeline: sent with the redemptions, never sent
    twice after a broken connection, and, with ``DISCOUNTS_USAGE_MIN_REPLICAS``, acknowledged
    only once replicas have them — a kept answer must survive a failover as its usage does.
    """

    def __init__(self, pipeline: AutoPipeline, namespace: str) -> None:
        self._prefix, self._pipeline = f"{namespace}:idem:", pipeline
        self._claim, self._replace = (pipeline.client.register_script(script) for script in (CLAIM, REPLACE))

    async def claim(self, key: str, record: bytes, lease_seconds: float) -> bytes | None:
        found = await self._pipeline.call(self._claim, [self._prefix + key], [record, int(lease_seconds * 1000)])
        return None if found is None else found.encode() if isinstance(found, str) else found

    async def replace(self, key: str, token: str, record: bytes | None, keep_seconds: float) -> None:
        args = [token, record or b"", int(keep_seconds * 1000)]
        await self._pipeline.call(self._replace, [self._prefix + key], args)

    async def close(self) -> None:
        """The client is the usage store's, closed with it."""


class SQLiteRecords:
    """A table in a SQLite file every process of the embedded default opens; expired rows are swept as it goes."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._file = SQLiteFile(path, name="idempotency", prepare=_prepare_records)
        self._clock = clock

    async def claim(self, key: str, record: bytes, lease_seconds: float) -> bytes | None:
        def claim(db: sqlite3.Connection) -> bytes | None:
            now = self._clock()
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "DELETE FROM records WHERE key IN (SELECT key FROM records WHERE expires_at <= ? LIMIT 100)", (now,)
                )
                row = db.execute("SELECT record FROM records WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
                if row is not None:
                    return bytes(row[0])
                db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (key, record, now + lease_seconds))
            return None

        return await self._file.write(claim)

    async def replace(self, key: str, token: str, record: bytes | None, keep_seconds: float) -> None:
        def replace(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute(
                    "SELECT record FROM records WHERE key = ? AND expires_at > ?", (key, self._clock())
                ).fetchone()
                if row is not None and orjson.loads(row[0])["t"] != token:
                    return
                if record is None:
                    db.execute("DELETE FROM records WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (key, record, self._clock() + keep_seconds)
                    )

        await self._file.write(replace)

    async def close(self) -> None:
        await self._file.close()


def _prepare_records(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA synchronous=FULL")  # an answer kept for a retry must survive a crash
    db.execute(
        "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, record BLOB NOT NULL, expires_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at)")


def open_record_storage(pipeline: AutoPipeline | None, data_dir: Path, namespace: str) -> RecordStorage:
    """Redis beside a Redis usage store (``pipeline`` is the store's); otherwise a file in the data directory."""
    if pipeline is None:
        return SQLiteRecords(data_dir / "idempotency.sqlite3")
    return RedisRecords(pipeline, namespace)
