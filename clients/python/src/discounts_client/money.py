"""Money as ``Decimal`` at the edge: the service sends and takes decimal strings ("120.00"), never floats.

The generated models keep the strings of the wire; the checkout's answers (what to charge) are
turned into the frozen classes below, with ``Decimal`` amounts and the generated model in ``raw``
for anything the API adds before this layer names it.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from discounts_client.generated.models import Allocation as GeneratedAllocation
from discounts_client.generated.models import CartItem, QuoteOut, RedemptionOut
from discounts_client.generated.types import UNSET


def to_wire(amount: Decimal | int) -> str:
    """``Decimal("120.5")`` → ``"120.5"``: exact, never rounded here (the service refuses a third decimal with 422)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"money is a Decimal or an int, not {type(amount).__name__}: floats are not exact")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError(f"money must be a finite amount, not {value}")
    return format(value, "f")


def from_wire(amount: str) -> Decimal:
    return Decimal(amount)


@dataclass(frozen=True)
class Line:
    """One line of a cart: only the rule's brand's lines are discounted (those its products or categories target).

    ``id`` names the line in the answer's ``allocations`` and ``lines`` (default: its position,
    ``"0"``, ``"1"``, …).
    """

    brand: str
    price: Decimal
    quantity: int = 1
    id: str | None = None
    product: str | None = None
    categories: tuple[str, ...] = ()

    def to_generated(self) -> CartItem:
        return CartItem(
            brand=self.brand,
            price=to_wire(self.price),
            quantity=self.quantity,
            id=UNSET if self.id is None else self.id,
            product=UNSET if self.product is None else self.product,
            categories=list(self.categories) if self.categories else UNSET,
        )


@dataclass(frozen=True)
class Allocation:
    """How much of a code's discount lands on one line; a code's allocations sum exactly to its discount."""

    line: str
    amount: Decimal

    @classmethod
    def all_from(cls, allocations: object) -> tuple[Allocation, ...]:
        """From the generated list (absent or null: none, as for an order given by ``amount``)."""
        if not isinstance(allocations, list):
            return ()
        return tuple(cls(a.line, from_wire(a.amount)) for a in allocations if isinstance(a, GeneratedAllocation))


@dataclass(frozen=True)
class Quote:
    """What a redemption gives: the price to charge is ``amount_to_pay``."""

    code: str
    user: str
    amount: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal
    discount: int | None
    """Percent off, for a percent rule."""
    amount_off: Decimal | None
    """The fixed amount off, for a fixed-amount rule (in ``currency``)."""
    currency: str | None
    allocations: tuple[Allocation, ...]
    """With ``items``: the discount line by line (empty for an order given by ``amount``)."""
    raw: QuoteOut | RedemptionOut

    @classmethod
    def from_generated(cls, out: QuoteOut | RedemptionOut) -> Quote:
        return Quote(
            code=out.code,
            user=out.user,
            amount=from_wire(out.amount),
            discount_amount=from_wire(out.discount_amount),
            amount_to_pay=from_wire(out.amount_to_pay),
            discount=out.discount if isinstance(out.discount, int) else None,
            amount_off=from_wire(out.amount_off) if isinstance(out.amount_off, str) else None,
            currency=out.currency if isinstance(out.currency, str) else None,
            allocations=Allocation.all_from(out.allocations),
            raw=out,
        )


@dataclass(frozen=True)
class Redemption(Quote):
    """A use (``status == "used"``) or a checkout hold (``"held"``, until ``hold_expires_at``)."""

    id: str
    status: str
    used_at: datetime.datetime
    hold_expires_at: datetime.datetime | None

    @property
    def held(self) -> bool:
        return self.status == "held"

    @classmethod
    def from_generated(cls, out: QuoteOut | RedemptionOut) -> Redemption:
        if not isinstance(out, RedemptionOut):
            raise TypeError(f"a redemption answers a RedemptionOut, not {type(out).__name__}")
        expires = out.hold_expires_at
        return cls(
            **vars(Quote.from_generated(out)),
            id=out.id,
            status=out.status.value,
            used_at=out.used_at,
            hold_expires_at=expires if isinstance(expires, datetime.datetime) else None,
        )
