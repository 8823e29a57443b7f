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

from discounts.pricing.offers import Offer, offer_of

if TYPE_CHECKING:
    from discounts.settings import Settings

#: (line id, cents) pairs.
Allocations = tuple[tuple[str, int], ...]


class Status(enum.StrEnum):
    """Where a usage is in the checkout; a hold whose ``hold_until`` has passed is expired (computed, never stored).

    The order of the members is the order a usage moves in: a ledger that hears of two
    changes in the wrong order keeps the later one (``RANK``).
    """

    HELD = "held"
    USED = "used"
    #: A hold given back before it was confirmed (the checkout was abandoned).
    RELEASED = "released"
    #: A use given back (the order was cancelled, the payment failed).
    ROLLED_BACK = "rolled_back"


RANK = {Status.HELD: 0, Status.USED: 1, Status.RELEASED: 2, Status.ROLLED_BACK: 2}


@dataclass(frozen=True, slots=True)
class Usage:
    """One use of a code; ``use`` numbers the user's claims of it (1, 2, … even after give-backs).

    ``(code, user, use)`` is the usage's identity (its id in the API); ``changed_at`` is when
    it was confirmed, released or rolled back.
    """

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
    status: Status = Status.USED
    hold_until: datetime | None = None
    changed_at: datetime | None = None
    #: The cart redemption it is part of, if any.
    cart: str | None = None
    #: Where its discount landed, (line id, cents) in the order's line order: only for orders with lines.
    allocations: Allocations | None = None

    @property
    def offer(self) -> Offer:
        return offer_of(self.discount, self.amount_off, self.currency)

    def numbered(self, use: int) -> Usage:
        """This usage as the store numbered it (``dataclasses.replace``, without its cost on a hot path)."""
        return Usage(
            self.code,
            self.user,
            self.brand,
            self.discount,
            self.amount,
            self.discount_amount,
            self.amount_to_pay,
            self.used_at,
            self.amount_off,
            self.currency,
            use,
            self.status,
            self.hold_until,
            self.changed_at,
            self.cart,
            self.allocations,
        )

    def is_active(self, now: datetime) -> bool:
        if self.status is Status.HELD:
            return self.hold_until is not None and self.hold_until > now
        return self.status is Status.USED


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
class Recorded:
    """A claim's outcome and, when claimed, its ``use`` number (the usage's identity with code and user)."""

    outcome: Outcome
    use: int = 0

    def __bool__(self) -> bool:
        return self.outcome is Outcome.CLAIMED


class Change(enum.Enum):
    """The answer to a confirm or a give-back."""

    DONE = "done"
    #: Confirming a usage that is used already (confirmed before, or never held).
    ALREADY = "already"
    #: The hold ended before it was confirmed: it gave everything back by itself.
    EXPIRED = "expired"
    #: No such usage, or it was given back already.
    NOT_FOUND = "not_found"
    #: A give-back of a use the store holds no body of (Redis keeps none for a plain use):
    #: call again with the usage, from the ledger.
    NEEDS_USAGE = "needs_usage"


@dataclass(frozen=True, slots=True)
class Changed:
    change: Change
    #: The usage as it is now, when the store keeps its body.
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class Cart:
    """Several codes claimed for one user at once: all of them, or none (API.md part 3).

    ``usages`` are all held (until ``hold_until``) or all used, each with ``cart`` = ``id``;
    ``summary`` is the cart's priced body (JSON, opaque to the store), kept for its confirm.
    Claims that a cart took but never completed give themselves back by ``hold_until``.
    """

    id: str
    user: str
    usages: tuple[Usage, ...]
    limits: tuple[Limits, ...]
    expires_at: tuple[datetime, ...]
    summary: bytes
    hold_until: datetime

    @property
    def held(self) -> bool:
        return self.usages[0].status is Status.HELD


@dataclass(frozen=True, slots=True)
class CartRecorded:
    """Each code's outcome, in the cart's order; claimed only when every one is (``uses`` then numbers them)."""

    outcomes: tuple[Outcome, ...]
    uses: tuple[int, ...] = ()
    #: The cart was claimed before, under this id (a retry): ``uses`` are its claims.
    existing: bool = False

    def __bool__(self) -> bool:
        return all(outcome is Outcome.CLAIMED for outcome in self.outcomes)


class CartState(enum.StrEnum):
    HELD = "held"
    USED = "used"
    #: Given back by ``DELETE`` (each usage released or rolled back).
    RELEASED = "released"
    #: A held cart whose hold ended before it was confirmed.
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class StoredCart:
    """A cart as the store keeps it: its state, its summary, its usages as they are now (``use`` numbered)."""

    id: str
    user: str
    state: CartState
    used_at: datetime
    hold_until: datetime
    summary: bytes
    usages: tuple[Usage, ...]


@dataclass(frozen=True, slots=True)
class CartChanged:
    change: Change
    cart: StoredCart | None = None


@dataclass(frozen=True, slots=True)
class CartEntry:
    """A committed cart as the ledger keeps it: who, when, its summary (its usages come as usages)."""

    id: str
    user: str
    used_at: datetime
    hold_until: datetime
    summary: bytes


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A usage, or a cart, not yet copied to the ledger; ``id`` is what :meth:`UsageStore.acknowledge` takes."""

    id: str
    usage: Usage | None
    cart: CartEntry | None = None


def usage_key(code: str, user: str) -> bytes:
    """The design's key: a hash of the (code, user) pair, 32 bytes; backends keep what they need."""
    return hashlib.sha256(f"{code}\x00{user}".encode()).digest()


class UsageStore(Protocol):
    """Every method that finds a code's usages takes its :class:`Limits`: where they live depends on them."""

    async def record(
        self, usage: Usage, *, expires_at: datetime, limits: Limits = NO_LIMITS, dry_run: bool = False
    ) -> Recorded:
        """Claim one more use of (code, user) within ``limits`` and append it to the stream, atomically.

        A ``usage`` with status ``HELD`` is a hold until its ``hold_until``: it counts against
        every limit until then, and gives everything back by itself when that passes — the
        next claim that meets it does the arithmetic, so no sweeper is needed. Holds and uses
        given back do not count. The appended usage carries its ``use`` number (one more than
        the user's claims of the code so far). ``dry_run`` answers what the claim would answer
        now and changes nothing (a quote).
        """

    async def confirm(self, code: str, user: str, use: int, *, limits: Limits, now: datetime) -> Changed:
        """Turn a live hold into a use, and append the change to the stream, atomically."""

    async def give_back(
        self, code: str, user: str, use: int, *, limits: Limits, now: datetime, usage: Usage | None = None
    ) -> Changed:
        """Release a live hold or roll back a use: its count, its share of ``max_uses`` and budget come back.

        The change is appended to the stream in the same step. ``usage`` (the ledger's copy)
        is needed only when the store answered ``NEEDS_USAGE``.
        """

    async def record_cart(self, cart: Cart, *, now: datetime) -> CartRecorded:
        """Claim every usage of ``cart`` within its limits, or none; the cart's record with them, atomically.

        A cart claimed before under the same id (a retry) answers its claims again and claims
        nothing more. Whatever a cart took and never completed (the process died midway) gives
        itself back by ``cart.hold_until``.
        """

    async def cart(self, cart_id: str, *, now: datetime) -> StoredCart | None:
        """The cart and its usages as they are now; None if the store does not know it (any more)."""

    async def confirm_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        """Turn every live hold of a held cart into a use, all or none (``EXPIRED`` once its hold ended)."""

    async def give_back_cart(self, cart_id: str, *, now: datetime) -> CartChanged:
        """Release (held) or roll back (used) every usage of the cart still live; ``NOT_FOUND`` if none was."""

    async def finish_carts(self, now: datetime) -> int:
        """Complete what dead processes left midway (a cart decided, its usages not all moved); how many."""

    async def used_at(self, code: str, user: str, limits: Limits = NO_LIMITS, *, now: datetime) -> datetime | None:
        """When ``user`` first used ``code``, or None; only held (live) and used usages count."""

    async def used_at_many(
        self, pairs: Sequence[tuple[str, str]], limits: Mapping[str, Limits] | None = None, *, now: datetime
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
        now: datetime,
    ) -> int:
        """Put usages back (after a loss) without appending them to the stream; returns how many were new.

        A user's usages arrive in order (``use`` 1, 2, …), given-back ones too (so their ids
        stay given back); each live one put back also counts again in its code's shared total
        and budget, which were lost with it.
        """

    async def count(self, code: str, now: datetime) -> int:
        """How many live uses and holds ``code`` has, all users together (to verify against the ledger)."""

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
