"""Where a usage lives in Redis: shard, bucket bits, hash field, key names, stream entries.

Every key of a shard carries the hash tag ``{<shard>}``, so in a cluster each shard is one
slot and every script touches one slot only; a popular code is spread over all shards, so
no key is hot. The 32-byte (code, user) hash is cut into independent pieces: the shard, the
bucket bits the levels use, and the 6-byte hash field. ``docs/usage-store.md`` has the
memory arithmetic and the collision probability of the truncated field.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from discounts.usage.store import CartEntry, Outcome, Recorded, Status, StreamEntry, Usage, usage_key

#: Bytes of the (code, user) hash kept as the field; 48 bits make a false "used" negligible.
FIELD_BYTES = 6
#: Bumped whenever the mapping from (code, user) to keys changes: old data would be unreadable.
LAYOUT_VERSION = 1
#: The consumer group of the ledger copier on every shard's stream.
LEDGER_GROUP = "ledger"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The field of a stream entry: [code, user, brand, discount, amount, discount_amount, amount_to_pay,
#: used_at µs] and, for a fixed amount off, [amount_off, currency] after them.
STREAM_FIELD = "usage"
#: The entry's second field, only for a user's second use and later: the use number.
USE_FIELD = "n"
#: Only for holds and changes: the status (held, used, released, rolled_back), the hold's end
#: (unix seconds) and the moment of the change (µs since the epoch).
STATUS_FIELD, HOLD_FIELD, CHANGED_FIELD = "s", "h", "at"
#: The fields of a committed cart's entry (instead of ``usage``): ``cart_payload``, and its summary as it is.
CART_FIELD, SUMMARY_FIELD = "cart", "b"


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one (code, user) lives: ``prefix`` names the code's buckets in ``shard``."""

    shard: int
    prefix: str
    field: bytes
    bits: int

    @property
    def head(self) -> str:
        """The level-0 bucket; it also holds the number of the deepest level."""
        return f"{self.prefix}:0:0"

    @property
    def totals(self) -> str:
        """The code's shared count and budget spent (a code with shared limits lives in one shard)."""
        return f"{self.prefix}:T"

    @property
    def holds(self) -> str:
        """The live holds of a code with shared limits, by end time: a claim gives the ended ones back first."""
        return f"{self.prefix}:H"


@dataclass(frozen=True, slots=True)
class Layout:
    namespace: str
    shards: int

    def locate(self, code: str, user: str, *, shared: bool = False) -> Slot:
        """Where (code, user) lives; a code with ``shared`` limits keeps all its users in one shard.

        Spread over every shard, a popular code is no hot key; but its total and budget must
        change in the same step as each user's count, and a script reaches one slot only.
        """
        digest = usage_key(code, user)
        spread_by = hashlib.sha256(code.encode()).digest() if shared else digest
        shard = int.from_bytes(spread_by[0:4], "big") % self.shards
        return Slot(
            shard, self.code_prefix(shard, code), digest[8 : 8 + FIELD_BYTES], int.from_bytes(digest[4:8], "big")
        )

    def code_prefix(self, shard: int, code: str) -> str:
        return f"{self.namespace}{{{shard}}}{code}"

    def stream(self, shard: int) -> str:
        # Codes never start with ":", so this cannot clash with a code's buckets.
        return f"{self.namespace}{{{shard}}}:stream"

    def cart(self, cart_id: str) -> tuple[int, str, str]:
        """Where a cart's record lives: its shard, its hash, and the shard's set of carts still being settled."""
        shard = int.from_bytes(hashlib.sha256(cart_id.encode()).digest()[0:4], "big") % self.shards
        return shard, f"{self.namespace}{{{shard}}}:cart:{cart_id}", f"{self.namespace}{{{shard}}}:carts"

    @property
    def marker(self) -> str:
        """A key that pins the shard count: changing it would hide every stored usage."""
        return f"{self.namespace}:layout"

    @property
    def marker_value(self) -> str:
        return f"v{LAYOUT_VERSION} shards={self.shards} field={FIELD_BYTES}"


def unix_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


_MICROSECOND = timedelta(microseconds=1)


def unix_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly: how the stream keeps a usage's moment."""
    return (moment - EPOCH) // _MICROSECOND


def stream_payload(usage: Usage) -> bytes:
    """The usage as one compact JSON array: one XADD argument instead of sixteen (the client's cost).

    A fixed amount off adds its amount and currency; a usage with lines or of a cart adds those
    and its cart id and allocations after them (older entries are shorter, and read the same).
    """
    values: list[object] = [
        usage.code,
        usage.user,
        usage.brand,
        usage.discount,
        str(usage.amount),
        str(usage.discount_amount),
        str(usage.amount_to_pay),
        unix_micros(usage.used_at),
    ]
    extended = usage.cart is not None or usage.allocations is not None
    if usage.amount_off is not None or usage.currency is not None or extended:
        values += [None if usage.amount_off is None else str(usage.amount_off), usage.currency]
    if extended:
        values += [usage.cart, usage.allocations]
    return orjson.dumps(values)


def stream_entry(shard: int, entry_id: str, fields: Mapping[str, str]) -> StreamEntry:
    if CART_FIELD in fields:
        summary = fields[SUMMARY_FIELD].encode()
        return StreamEntry(id=f"{shard}/{entry_id}", usage=None, cart=cart_of(fields[CART_FIELD], summary))
    changed = fields.get(CHANGED_FIELD)
    usage = usage_of(
        fields[STREAM_FIELD],
        use=int(fields.get(USE_FIELD, 1)),
        status=Status(fields.get(STATUS_FIELD, Status.USED)),
        hold_until=int(fields[HOLD_FIELD]) if HOLD_FIELD in fields else None,
    )
    if changed is not None:
        usage = dataclasses.replace(usage, changed_at=EPOCH + timedelta(microseconds=int(changed)))
    return StreamEntry(id=f"{shard}/{entry_id}", usage=usage)


def usage_of(payload: str | bytes, *, use: int, status: Status = Status.USED, hold_until: int | None = None) -> Usage:
    """The usage a stream payload (or a hold's copy of it) describes."""
    code, user, brand, discount, amount, discount_amount, amount_to_pay, used_at, *more = orjson.loads(payload)
    amount_off, currency, cart, allocations = (more + [None] * 4)[:4]
    return Usage(
        code=code,
        user=user,
        brand=brand,
        discount=None if discount is None else int(discount),
        amount=Decimal(amount),
        discount_amount=Decimal(discount_amount),
        amount_to_pay=Decimal(amount_to_pay),
        used_at=EPOCH + timedelta(microseconds=used_at),
        amount_off=None if amount_off is None else Decimal(amount_off),
        currency=currency,
        use=use,
        status=status,
        hold_until=None if not hold_until else datetime.fromtimestamp(hold_until, UTC),
        cart=cart,
        allocations=None if allocations is None else tuple((line, cents) for line, cents in allocations),
    )


def cart_payload(cart: CartEntry) -> bytes:
    """A committed cart for the ledger: who, when, until when its claims hold (its summary goes beside it)."""
    used_at = unix_micros(cart.used_at)
    return orjson.dumps({"id": cart.id, "u": cart.user, "at": used_at, "h": unix_seconds(cart.hold_until)})


def cart_of(payload: str | bytes, summary: bytes) -> CartEntry:
    values = orjson.loads(payload)
    return CartEntry(
        id=values["id"],
        user=values["u"],
        used_at=EPOCH + timedelta(microseconds=values["at"]),
        hold_until=datetime.fromtimestamp(values["h"], UTC),
        summary=summary,
    )


def recorded(reply: Any) -> Recorded:
    """``record.lua``'s answer: the claim's use number, 0 for the user's uses taken, -1 for the code's;
    or [use, microseconds] for the claim of the request's nonce, found again."""
    if isinstance(reply, list):
        use, micros = reply
        return Recorded(Outcome.CLAIMED, int(use), EPOCH + timedelta(microseconds=int(micros)))
    use = int(reply)
    if use > 0:
        return Recorded(Outcome.CLAIMED, use)
    return Recorded(Outcome.USED if use == 0 else Outcome.EXHAUSTED)


def split_entry_id(entry_id: str) -> tuple[int, str]:
    """``"17/1700000000000-0"`` → shard 17, stream id ``1700000000000-0``."""
    shard, _, stream_id = entry_id.partition("/")
    return int(shard), stream_id
