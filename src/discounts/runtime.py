"""What a process holds for its lifetime: settings, the database, the usage store, keys."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from discounts.auth import TokenVerifier
from discounts.background import SESSION_KEY, Background
from discounts.clock import Clock, utcnow
from discounts.codes.cache import CodeCache
from discounts.codes.guess_storage import open_miss_storage
from discounts.codes.guessing import Guesses
from discounts.db import make_engine, make_sessionmaker
from discounts.directory.groups import UserGroups
from discounts.idempotency import Idempotency, open_record_storage
from discounts.ratelimit import RateLimit
from discounts.settings import Settings
from discounts.usage.carts import CartCheckout
from discounts.usage.events import Drains, expiry_margin
from discounts.usage.ledger import ledger_cart, ledger_usage
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
    #: Starts background work once a transaction commits; sessions carry it (``Session.info``, ``background.py``).
    background: Background | None
    redeemer: Redeemer
    carts: CartCheckout
    rate_limit: RateLimit
    guesses: Guesses
    idempotency: Idempotency
    #: When the ledger copies of this process found the stream drained (hold expiries, ``usage/events.py``).
    drains: Drains
    clock: Clock = field(default=utcnow)

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.settings.usage_grace_seconds)

    @classmethod
    def start(cls, settings: Settings, clock: Clock = utcnow, background: Background | None = None) -> Runtime:
        """``background``: where work that follows a commit is published (the Celery publisher, ``jobs/``)."""
        settings.ensure_data_dir()
        engine = make_engine(settings.resolved_database_url)
        sessions = make_sessionmaker(engine)
        sessions.configure(info={SESSION_KEY: background})
        store = open_usage_store(settings.resolved_usage_store_url, settings)
        codes = CodeCache(sessions, settings.code_cache_seconds, stale_if_error=settings.code_stale_if_error_seconds)
        grace = timedelta(seconds=settings.usage_grace_seconds)
        client = getattr(store, "client", None)
        misses = open_miss_storage(
            settings.resolved_usage_store_url, client, settings.data_dir.resolve(), settings.usage_namespace
        )
        redeemer = Redeemer(
            store,
            codes,
            UserGroups(sessions, settings.code_cache_seconds),
            clock,
            grace,
            hold=timedelta(seconds=settings.hold_seconds),
            ledger=functools.partial(ledger_usage, sessions),
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            store=store,
            verifier=TokenVerifier(settings),
            codes=codes,
            background=background,
            redeemer=redeemer,
            carts=CartCheckout(redeemer, functools.partial(ledger_cart, sessions)),
            rate_limit=RateLimit(settings.rate_limit),
            guesses=Guesses(misses, settings.guess_limit, settings.guess_limit_per_address),
            idempotency=Idempotency(
                open_record_storage(
                    getattr(store, "pipeline", None), settings.data_dir.resolve(), settings.usage_namespace
                ),
                settings.idempotency_seconds,
                settings.idempotency_lease_seconds,
            ),
            drains=Drains(expiry_margin(settings.resolved_usage_store_url, settings.usage_claim_idle_seconds)),
            clock=clock,
        )

    async def stop(self) -> None:
        if self.background is not None:
            self.background.close()
        await self.guesses.storage.close()
        await self.idempotency.storage.close()
        await self.store.close()
        await self.engine.dispose()
