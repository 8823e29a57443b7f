"""The usage store: the design's key-value store of "user U used code C at T".

It grows four orders of magnitude faster than the codes, so it lives behind one narrow
interface with several backends (embedded SQLite, Redis, Redis Cluster), chosen by URL.
Every backend makes :meth:`UsageStore.record` one atomic step that both claims the
(code, user) key and appends the usage to the store's stream: whoever reads the stream
(the ledger copier, hence the brand's notification) can never miss a usage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from discounts.settings import Settings


@dataclass(frozen=True, slots=True)
class Usage:
    code: str
    user: str
    brand: str
    discount: int
    amount: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal
    used_at: datetime


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A usage not yet copied to the ledger; ``id`` is what :meth:`UsageStore.acknowledge` takes."""

    id: str
    usage: Usage


def usage_key(code: str, user: str) -> bytes:
    """The design's key: a hash of the (code, user) pair, 32 bytes; backends keep what they need."""
    return hashlib.sha256(f"{code}\x00{user}".encode()).digest()


class UsageStore(Protocol):
    async def record(self, usage: Usage, *, expires_at: datetime) -> bool:
        """Claim (code, user) and append to the stream, atomically; False if already claimed."""

    async def used_at(self, code: str, user: str) -> datetime | None:
        """When ``user`` used ``code``, or None."""

    async def used_at_many(self, pairs: Sequence[tuple[str, str]]) -> list[datetime | None]:
        """:meth:`used_at` for many (code, user) pairs in few round trips (verifying the ledger)."""

    async def pending(self, limit: int) -> list[StreamEntry]:
        """Up to ``limit`` stream entries not yet acknowledged, oldest first."""

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        """Mark entries as safely copied to the ledger, so they are not handed out again."""

    async def restore(self, usages: Sequence[Usage], *, expires_at: dict[str, datetime]) -> int:
        """Put usages back (after a loss) without appending them to the stream; returns how many were new."""

    async def count(self, code: str) -> int:
        """How many users have used ``code`` (for verification against the ledger)."""

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
