"""The terms of codes, kept in each API process's memory for the redemption path.

A flash sale is thousands of requests a second for one code: reading it from the database
each time would make the database the limit, and opening a session per request costs more
than the rest of the redemption. Codes never change once created, so their terms are kept
for a few seconds (``DISCOUNTS_CODE_CACHE_SECONDS``) — long enough that the database sees
one query per code per period, short enough that a code an operator removes is soon gone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.service import find_code
from discounts.codes.terms import CodeTerms
from discounts.errors import UNREACHABLE, CodeNotFound

#: Seconds a redemption waits for the database before answering from a code's last terms.
STALE_WAIT = 1.0


class CodeCache:
    """Found codes for ``ttl`` seconds; one query per code however many requests wait for it.

    Only found codes are kept: a code created a moment ago (perhaps by another process) must
    be found at once. Concurrent lookups of one code share a single query (single flight),
    run as a task of its own so that a caller who goes away does not cancel it for the rest.
    A session is opened only for that query: a hit touches no database at all.

    When a code's period ends it is read again *behind* the requests (refresh ahead): for one
    more period its terms are still answered while one query fetches them anew, so a flash
    sale never stops, every ``ttl`` seconds, to wait for the database all at once. A code
    an operator removed is gone once that query finds nothing (at most two periods).

    When the database is down or slow (no answer within ``STALE_WAIT``), a code seen in the
    last ``stale_if_error`` seconds is answered from memory (stale-if-error, RFC 5861's
    idea): its terms never change, and a checkout should not fail because a query about
    a code it redeemed a minute ago cannot run. Only a found code is kept, so an outage
    never turns a miss into a hit.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ttl: float,
        max_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        stale_if_error: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._ttl, self._max, self._clock = ttl, max_size, clock
        self._stale_if_error = stale_if_error
        self._entries: dict[str, tuple[float, CodeTerms]] = {}
        self._loading: dict[str, asyncio.Task[CodeTerms]] = {}

    async def get(self, ref: str) -> CodeTerms:
        """The code whose string (any case) or hash is ``ref``; raises CodeNotFound."""
        key = ref.upper()
        hit = self._entries.get(key)
        if hit is not None:
            fresh_until, terms = hit
            now = self._clock()
            if now <= fresh_until:
                return terms
            if now <= fresh_until + self._ttl:
                self._start_loading(key, ref)
                return terms
            if now <= fresh_until + self._stale_if_error:
                return await self._fresh_or_stale(key, ref, terms)
        return await asyncio.shield(self._start_loading(key, ref))

    async def _fresh_or_stale(self, key: str, ref: str, stale: CodeTerms) -> CodeTerms:
        """The code read anew; its last terms if the database fails or keeps us waiting."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._start_loading(key, ref)), STALE_WAIT)
        except UNREACHABLE:  # a refused connection, or no answer within STALE_WAIT
            return stale

    def _start_loading(self, key: str, ref: str) -> asyncio.Task[CodeTerms]:
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, ref))
            self._loading[key] = task
            task.add_done_callback(lambda done: self._loaded(key, done))
        return task

    def _loaded(self, key: str, task: asyncio.Task[CodeTerms]) -> None:
        self._loading.pop(key, None)
        # Also marks the exception as seen when no request waited for this (a refresh ahead).
        if not task.cancelled() and isinstance(task.exception(), CodeNotFound):
            self._entries.pop(key, None)

    async def _load(self, key: str, ref: str) -> CodeTerms:
        async with self._sessions() as session:
            terms = CodeTerms.of(await find_code(session, ref))
        if self._ttl > 0:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (self._clock() + self._ttl, terms)
        return terms
