"""A SQLite file that every process of the embedded default opens: one connection, one thread, writers in turn.

Three parts of the embedded default keep their state so — the usage store, the guessing
counts and the ``Idempotency-Key`` records — and they need the same things. ``sqlite3`` blocks,
so the connection lives in a thread of its own (one thread, so no two calls share the
connection at once). Every API process and the worker open the file, so writes take turns
across processes: each write first takes an ``flock`` on a file beside it (``<file>-writer``),
then SQLite's own write lock. Why the ``flock``: a writer that finds the file locked is put to
sleep by SQLite's busy handler — 1, 2, 5 … up to 100 ms a try — while the other process may
take the lock again and again; with two API processes a claim waited up to most of a second
(p99 131–722 ms), where the kernel wakes the next ``flock`` waiter the moment the lock is
released (p99 11–13 ms; benchmarks/README.md, "Two processes on the embedded store").
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: SQLite's own wait, behind the turns: only a writer that does not take them (a person's
#: ``sqlite3`` shell) can make it wait.
BUSY_TIMEOUT_MS = 30_000


class SQLiteFile:
    def __init__(self, path: str | Path, *, name: str, prepare: Callable[[sqlite3.Connection], None]) -> None:
        """``prepare`` runs once on the new connection, in the thread: its pragmas and its schema."""
        self.path = str(path)
        self._prepare = prepare
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._db: sqlite3.Connection | None = None
        self._turns: int | None = None
        self._closed = False

    def _connection(self) -> sqlite3.Connection:
        """The connection, opened on first use, in the file's own thread.

        Opened in turn with the writers: switching a new file to WAL, and the last connection's
        close (a checkpoint that removes the WAL), need the whole file, and SQLite answers
        "database is locked" at once — without its busy wait — to a process that tries either
        while another does (seen with three API processes starting under a flash sale, and a
        worker opening the file as the API closed it).
        """
        if self._db is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            turns = os.open(self.path + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(turns, fcntl.LOCK_EX)
                try:
                    db = self._open()
                finally:
                    fcntl.flock(turns, fcntl.LOCK_UN)
            except BaseException:
                os.close(turns)
                raise
            self._turns, self._db = turns, db
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        return db

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the connection, without a turn: in WAL mode another process's writer never blocks
        a reader (in this process it still queues behind the thread's calls before it)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: work(self._connection()))

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the connection, in turn with every other writer of the file, in any process."""

        def in_turn() -> T:
            db = self._connection()
            assert self._turns is not None
            fcntl.flock(self._turns, fcntl.LOCK_EX)
            try:
                return work(db)
            finally:
                fcntl.flock(self._turns, fcntl.LOCK_UN)

        return await asyncio.get_running_loop().run_in_executor(self._thread, in_turn)

    async def close(self) -> None:
        """Safe to call twice."""
        if self._closed:
            return
        self._closed = True

        def shut() -> None:
            if self._db is not None and self._turns is not None:
                db, self._db = self._db, None
                fcntl.flock(self._turns, fcntl.LOCK_EX)  # its close may checkpoint: in turn (above)
                try:
                    db.close()
                finally:
                    fcntl.flock(self._turns, fcntl.LOCK_UN)
            if self._turns is not None:
                os.close(self._turns)
                self._turns = None

        await asyncio.get_running_loop().run_in_executor(self._thread, shut)
        self._thread.shutdown(wait=True)
