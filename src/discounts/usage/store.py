"""The usage store: the design's key-value store of "user U used code C at T".

It grows four orders of magnitude faster than the codes, so it lives behind one narrow
interface with several backends (embedded SQLite, Redis, Redis Cluster), chosen by URL.
Every backend makes :meth:`UsageStore.record` one atomic step that both claims the
(code, user) key and appends the usage to the store's stream: whoever reads the stream
(the ledger copier, hence the brand's notification) can never miss a usage.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from discounts.settings import Settings


@dataclass(frozen=True, slots=True)
class Usage:
    """One use of a code; ``use`` counts the user's uses of it (1 unless the rule allows more)."""

    code: str
    user: str
    brand: str
    #: Percent off, or None for a fixed ``amount_off`` in ``currency``.
    discount: int | None
    amount: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal
    used_at: datetime
    amount_off: Decimal | None = None
    currency: str | None = None
    use: int = 1


@dataclass(frozen=True, slots=True)
class Limits:
    """What a claim must respect besides its own user's count, decided in the same atomic step.

    ``max_uses`` and ``budget_cents`` are shared by every user of the code; a code with either
    keeps all its usages in one place of the store (one Redis Cluster slot), so that the shared
    counters and every user's count change together. ``discount_cents`` is this claim's share
    of the budget.
    """

    per_user: int = 1
    max_uses: int | None = None
    budget_cents: int | None = None
    discount_cents: int = 0

    @property
    def shared(self) -> bool:
        return self.max_uses is not None or self.budget_cents is not None


NO_LIMITS = Limits()


class Outcome(enum.Enum):
    """A claim's answer; only ``CLAIMED`` is true, so ``if await store.record(...)`` reads well."""

    CLAIMED = "claimed"
    #: The user's uses of the code reached ``per_user``.
    USED = "used"
    #: ``max_uses`` is reached, or this discount would take the code past its budget.
    EXHAUSTED = "exhausted"

    def __bool__(self) -> bool:
        return self is Outcome.CLAIMED


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A usage not yet copied to the ledger; ``id`` is what :meth:`UsageStore.acknowledge` takes."""

    id: str
    usage: Usage


def usage_key(code: str, user: str) -> bytes:
    """The design's key: a hash of the (code, user) pair, 32 bytes; backends keep what they need."""
    return hashlib.sha256(f"{code}\x00{user}".encode()).digest()


class UsageStore(Protocol):
    """Every method that finds a code's usages takes its :class:`Limits`: where they live depends on them."""

    async def record(
        self, usage: Usage, *, expires_at: datetime, limits: Limits = NO_LIMITS, dry_run: bool = False
    ) -> Outcome:
        """Claim one more use of (code, user) within ``limits`` and append it to the stream, atomically.

        The appended usage carries its ``use`` number (the user's count after this claim).
        ``dry_run`` answers what the claim would answer now and changes nothing (a quote).
        """

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS) -> datetime | None:
        """When ``user`` first used ``code``, or None."""

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None
    ) -> list[datetime | None]:
        """:meth:`used_at` for many (code, user) pairs in few round trips (verifying the ledger)."""

    async def pending(self, limit: int) -> list[StreamEntry]:
        """Up to ``limit`` stream entries not yet acknowledged, oldest first."""

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        """Mark entries as safely copied to the ledger, so they are not handed out again."""

    async def restore(
        self,
        usages: Sequence[Usage],
        *,
        expires_at: Mapping[str, datetime],
        limits: Mapping[str, Limits] | None = None,
    ) -> int:
        """Put usages back (after a loss) without appending them to the stream; returns how many were new.

        A user's uses arrive in order (``use`` 1, 2, …); each one put back also counts again
        in its code's shared total and budget, which were lost with it.
        """

    async def count(self, code: str) -> int:
        """How many uses ``code`` has, all users together (for verification against the ledger)."""

    async def purge_expired(self, now: datetime) -> int:
        """Drop usages of codes past their expiry (backends with native TTLs do this themselves)."""

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""

    async def close(self) -> None: ...


def open_usage_store(url: str, settings: Settings | None = None) -> UsageStore:
    """The backend for ``url``: ``sqlite:///path``, ``redis://…`` or ``redis+cluster://…``.

    ``settings`` tunes the Redis layout (shards, bucket size); the environment's by default.
    """
    if url.startswith("sqlite:///"):
        from discounts.usage.embedded import SQLiteUsageStore

        return SQLiteUsageStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")):
        from discounts.usage.redis_store import open_redis_store

        return open_redis_store(url, settings)
    raise ValueError(f"unsupported usage store URL: {url!r}")
