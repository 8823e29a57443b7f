"""The terms of codes, kept in each API process's memory for the redemption path.

A flash sale is thousands of requests a second for one code: reading it from the database
each time would make the database the limit, and opening a session per request costs more
than the rest of the redemption. Codes never change once created, so their terms are kept
for a few seconds (``DISCOUNTS_CODE_CACHE_SECONDS``) — long enough that the database sees
one query per code per period, short enough that a code an operator removes is soon gone.

A batch's single-use codes are the opposite case: every redemption is of another code, so
every one misses. Misses that arrive together are read together — the codes asked for in one
turn of the event loop in one query — so a million codes each used once cost a query per
turn, not one per request (benchmarks/README.md, "Bulk single-use codes").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.codes.service import find_codes
from discounts.codes.terms import CodeTerms
from discounts.errors import UNREACHABLE, CodeNotFound

#: Seconds a redemption waits for the database before answering from a code's last terms.
STALE_WAIT = 1.0

#: Codes read by one query at most (SQLite's bound parameters, and a query that stays short).
MAX_READ = 500


class CodeCache:
    """Found codes for ``ttl`` seconds; one query per code however many requests wait for it.

    Only found codes are kept: a code created a moment ago (perhaps by another process) must
    be found at once. Concurrent lookups of one code share a single query (single flight), and
    lookups of different codes in the same turn of the loop share one too; the query runs as a
    task of its own, so that a caller who goes away does not cancel it for the rest. A session
    is opened only for that query: a hit touches no database at all.

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
        self._loading: dict[str, asyncio.Future[CodeTerms]] = {}
        #: Codes to read in the next query (key -> the ref as asked), and the task that reads them.
        self._wanted: dict[str, str] = {}
        self._reader: asyncio.Task[None] | None = None

    def fresh(self, ref: str) -> CodeTerms | None:
        """The code's terms if this process holds them fresh now, else None (then ``get`` it): no await at all."""
        hit = self._entries.get(ref.upper())
        return hit[1] if hit is not None and self._clock() <= hit[0] else None

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

    def _start_loading(self, key: str, ref: str) -> asyncio.Future[CodeTerms]:
        future = self._loading.get(key)
        if future is None:
            future = self._loading[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda done: self._loaded(key, done))
            self._wanted[key] = ref
            if self._reader is None:
                self._reader = asyncio.ensure_future(self._read())
        return future

    def _loaded(self, key: str, future: asyncio.Future[CodeTerms]) -> None:
        self._loading.pop(key, None)
        # Also marks the exception as seen when no request waited for this (a refresh ahead).
        if not future.cancelled() and isinstance(future.exception(), CodeNotFound):
            self._entries.pop(key, None)

    async def _read(self) -> None:
        """Read every code wanted so far, once this turn of the loop has asked for all it will."""
        await asyncio.sleep(0)
        while self._wanted:
            keys = list(self._wanted)[:MAX_READ]
            wanted = {key: self._wanted.pop(key) for key in keys}
            try:
                async with self._sessions() as session:
                    codes = await find_codes(session, list(wanted.values()))
                found = {key: CodeTerms.of(code) for key, code in codes.items()}
            except Exception as exc:  # noqa: BLE001 - the database is unreachable, say: each waiting request gets it
                for key in wanted:
                    self._settle(key, error=exc)
                continue
            except BaseException:  # cancelled (the loop is closing): no one is left to answer
                for key in wanted:
                    if key in self._loading:
                        self._loading[key].cancel()
                self._reader = None
                raise
            for key, ref in wanted.items():
                terms = found.get(key)
                if terms is None:
                    self._settle(key, error=CodeNotFound(f"no code {ref!r}"))
                    continue
                if self._ttl > 0:
                    if len(self._entries) >= self._max:
                        self._entries.clear()
                    self._entries[key] = (self._clock() + self._ttl, terms)
                self._settle(key, terms=terms)
        self._reader = None

    def _settle(self, key: str, terms: CodeTerms | None = None, error: BaseException | None = None) -> None:
        future = self._loading.get(key)
        if future is None or future.done():
            return
        if terms is not None:
            future.set_result(terms)
        else:
            future.set_exception(error or CodeNotFound(key))
