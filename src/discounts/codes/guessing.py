"""Limits on guessing codes: misses (404 ``code_not_found``) counted per principal and per address.

A code is money, and its string is short enough to guess; so whoever misses too often is
refused everything that would reveal a code — lookups, quotes, redemptions — for a while,
hits included (refusing only misses would still confirm a correct guess). Hits never count:
an honest shopper is never limited by this.

Counting happens only on a miss, in storage every API process shares (Redis through the
``limits`` library's moving window, or a SQLite file beside the embedded store). The check on
every request must cost nothing, so it reads a local copy of the keys blocked now: a process
adds the blocks it decides at once, and copies everyone's from the shared storage every
``REFRESH_SECONDS``. So a key blocked by one process is refused by another at most that long
later, and even then its misses are still counted exactly and refused there — only a lucky
correct guess could get through in that moment.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from limits import RateLimitItem, parse_many

from discounts.errors import CodeNotFound, RateLimited

log = logging.getLogger(__name__)

#: How often a process copies the shared blocks (seconds).
REFRESH_SECONDS = 0.5


class MissStorage(Protocol):
    """Where misses are counted and blocks are kept; every API process of a deployment shares it."""

    async def miss(self, key: str, limit: RateLimitItem) -> tuple[bool, float | None]:
        """Count one miss of ``key`` within ``limit``: whether it was counted, and when ``key`` is free again.

        The moment is None while ``key`` has misses left. A miss beyond the limit is not
        counted (it is refused), so a blocked key cannot push its own release further out.
        """

    async def block(self, key: str, until: float) -> None: ...

    async def blocked(self, now: float) -> dict[str, float]:
        """Every key blocked at ``now``, with the moment it is released."""

    async def close(self) -> None: ...


class Guesses:
    """The guessing limits of one process: the shared storage, and its local copy of the blocks."""

    def __init__(
        self,
        storage: MissStorage,
        per_principal: str,
        per_address: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage, self.clock = storage, clock
        self._limits = {
            "p": parse_many(per_principal) if per_principal else [],
            "a": parse_many(per_address) if per_address else [],
        }
        self.enabled = bool(self._limits["p"] or self._limits["a"])
        self._blocked: dict[str, float] = {}
        self._refreshed = -math.inf
        #: Whether the last read of the shared blocks failed: an outage is logged once, not twice a second.
        self._unreadable = False

    def watch(self, principal: str, address: str) -> Watch:
        """``async with guesses.watch(...)``: refuse a blocked caller, count a miss inside."""
        return Watch(self, principal, address)

    async def check(self, keys: Sequence[str]) -> None:
        """429 if any of ``keys`` is blocked now (the local copy, refreshed at most every REFRESH_SECONDS)."""
        if not self.enabled:
            return
        now = self.clock()
        if now - self._refreshed >= REFRESH_SECONDS:
            await self._refresh(now)
        if self._blocked:
            until = max(self._blocked.get(key, 0.0) for key in keys)
            if until > now:
                raise RateLimited(max(1, math.ceil(until - now)))

    async def missed(self, keys: Sequence[str]) -> None:
        """Count a miss against every key; the miss that reaches a limit blocks the key until it frees.

        A miss that finds the limit already reached (another process blocked the key a moment
        ago) is refused with 429 instead of its 404.
        """
        refused: list[float] = []
        for key in keys:
            for limit in self._limits[key[0]]:
                counted, until = await self.storage.miss(key, limit)
                if until is None:
                    continue
                if until > self._blocked.get(key, 0.0):
                    self._blocked[key] = until
                    await self.storage.block(key, until)
                if not counted:
                    refused.append(until)
        if refused:
            raise RateLimited(max(1, math.ceil(max(refused) - self.clock())))

    async def _refresh(self, now: float) -> None:
        self._refreshed = now
        try:
            shared = await self.storage.blocked(now)
        except Exception as exc:  # noqa: BLE001 - whatever the storage's failure, this process's blocks hold
            if not self._unreadable:
                log.warning("cannot read the shared guessing blocks (%r); using this process's until it can", exc)
            self._unreadable = True
            shared = {}
        else:
            if self._unreadable:
                log.info("the shared guessing blocks can be read again")
            self._unreadable = False
        for key, until in self._blocked.items():
            if until > max(now, shared.get(key, 0.0)):
                shared[key] = until
        self._blocked = shared


class Watch:
    """An async context: refuses a blocked caller on entry; a ``CodeNotFound`` inside counts a miss."""

    __slots__ = ("guesses", "keys")

    def __init__(self, guesses: Guesses, principal: str, address: str) -> None:
        self.guesses, self.keys = guesses, (f"p:{principal}", f"a:{address}")

    async def __aenter__(self) -> None:
        await self.guesses.check(self.keys)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if isinstance(error, CodeNotFound):
            await self.guesses.missed(self.keys)
