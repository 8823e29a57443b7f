"""What a process holds for its lifetime: settings, the database, the usage store, keys."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from discounts.auth import TokenVerifier
from discounts.clock import Clock, utcnow
from discounts.codes.cache import CodeCache
from discounts.codes.guess_storage import open_miss_storage
from discounts.codes.guessing import Guesses
from discounts.db import make_engine, make_sessionmaker
from discounts.directory.groups import UserGroups
from discounts.idempotency import Idempotency, open_record_storage
from discounts.notify.queue import SESSION_KEY, TaskPublisher, make_celery
from discounts.ratelimit import RateLimit
from discounts.settings import Settings
from discounts.usage.ledger import ledger_usage
from discounts.usage.service import Redeemer
from discounts.usage.store import UsageStore, open_usage_store


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: UsageStore
    verifier: TokenVerifier
    codes: CodeCache
    #: Enqueues fan-outs once a request commits; sessions carry it (``Session.info``) to ``schedule_fanout``.
    tasks: TaskPublisher
    redeemer: Redeemer
    rate_limit: RateLimit
    guesses: Guesses
    idempotency: Idempotency
    clock: Clock = field(default=utcnow)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.settings.usage_grace_seconds)

    @classmethod
    def start(cls, settings: Settings, clock: Clock = utcnow) -> Runtime:
        settings.ensure_data_dir()
        engine = make_engine(settings.resolved_database_url)
        tasks = TaskPublisher(make_celery(settings))
        sessions = make_sessionmaker(engine)
        sessions.configure(info={SESSION_KEY: tasks})
        store = open_usage_store(settings.resolved_usage_store_url, settings)
        codes = CodeCache(sessions, settings.code_cache_seconds, stale_if_error=settings.code_stale_if_error_seconds)
        grace = timedelta(seconds=settings.usage_grace_seconds)
        client = getattr(store, "client", None)
        misses = open_miss_storage(
            settings.resolved_usage_store_url, client, settings.data_dir.resolve(), settings.usage_namespace
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            store=store,
            verifier=TokenVerifier(settings),
            codes=codes,
            tasks=tasks,
            redeemer=Redeemer(
                store,
                codes,
                UserGroups(sessions, settings.code_cache_seconds),
                clock,
                grace,
                hold=timedelta(seconds=settings.hold_seconds),
                ledger=functools.partial(ledger_usage, sessions),
            ),
            rate_limit=RateLimit(settings.rate_limit),
            guesses=Guesses(misses, settings.guess_limit, settings.guess_limit_per_address),
            idempotency=Idempotency(
                open_record_storage(
                    getattr(store, "pipeline", None), settings.data_dir.resolve(), settings.usage_namespace
                ),
                settings.idempotency_seconds,
                settings.idempotency_lease_seconds,
            ),
            clock=clock,
        )

    async def stop(self) -> None:
        self.tasks.close()
        await self.guesses.storage.close()
        await self.idempotency.storage.close()
        await self.store.close()
        await self.engine.dispose()
