"""The relational database: engine, the declarative base and the unit of work.

One place commits: :func:`unit_of_work`. Services add and flush; they never commit, so a
request either happens whole or not at all. Work that must only start once the data is
durable (enqueueing a fan-out) is registered with :meth:`UnitOfWork.after_commit`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, DateTime, MetaData, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in and out on every backend (SQLite forgets the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine; SQLite gets WAL and a busy timeout so several processes can share it."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)
    event.listen(engine.sync_engine, "handle_error", server_unavailable)
    return engine


#: SQLSTATE classes of a server going away or not taking connections yet (08: connection
#: exception; 57P: shut down, crashed, starting up; 53300: too many connections).
UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")


def server_unavailable(context: ExceptionContext) -> BaseException | None:
    """Raise a database that went away or is restarting as :class:`OperationalError`: a 503, not a 500.

    SQLAlchemy's asyncpg dialect raises these as a bare ``DBAPIError``, which is also what a
    bug in a statement would be; the SQLSTATE tells them apart.
    """
    if isinstance(context.sqlalchemy_exception, OperationalError | InterfaceError):
        return None
    original = context.original_exception
    state = getattr(original, "sqlstate", None) or getattr(original.__cause__, "sqlstate", None)
    if not isinstance(state, str) or not state.startswith(UNAVAILABLE_SQLSTATES):
        return None
    context.is_disconnect = True  # the pool drops this connection (and, for a gone server, the others)
    return OperationalError(context.statement, context.parameters, original)


def dialect_insert(session: AsyncSession) -> Callable[[Any], Any]:
    """The ``insert`` of the session's database (PostgreSQL or SQLite), which knows ``ON CONFLICT``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class UnitOfWork:
    """A session plus the callbacks to run once it has committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._after_commit.append(callback)

    async def run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            await callback()


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    """Commit on success, roll back on error; then run the after-commit callbacks."""
    async with sessions() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    await uow.run_after_commit()


#: Retention (outbox, webhooks): rows deleted per transaction, and at most per run and table (the next run goes on).
DELETE_BATCH = 5_000
DELETE_PER_RUN = 1_000_000


async def delete_in_batches(
    sessions: async_sessionmaker[AsyncSession],
    key: InstrumentedAttribute[Any],
    old: ColumnElement[bool],
    oldest_first: InstrumentedAttribute[Any],
    batch: int,
    per_run: int,
) -> int:
    """Delete the rows ``old`` selects, oldest first, ``batch`` per transaction, until none is left
    or ``per_run`` have gone; returns how many did.

    Each transaction finds its rows (give ``oldest_first`` an index that ``old`` can use), then
    deletes them by ``key``, a lookup each: as ``DELETE … WHERE key IN (SELECT … LIMIT n)``,
    PostgreSQL's planner chose to scan the whole table (1M rows) to join the two. Each holds its
    row locks (and SQLite's write lock) for one batch only, so a first run over months of rows
    never blocks the writers that share the table for long.
    """
    deleted = 0
    while deleted < per_run:
        async with unit_of_work(sessions) as uow:
            keys = (await uow.session.scalars(select(key).where(old).order_by(oldest_first).limit(batch))).all()
            if keys:
                gone = await uow.session.execute(delete(key.class_).where(key.in_(keys), old))
                deleted += cast("CursorResult[Any]", gone).rowcount
        if len(keys) < batch:
            break
    return deleted
