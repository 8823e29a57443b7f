"""The marketplace cart's answers with ``Decimal`` money (API.md part 3), as money.py does for one code.

A cart is priced line by line: each code applied (in ascending priority) carries its
``allocations`` — what it took off each line, summing exactly to its ``discount_amount`` — and
each line its ``subtotal``, ``discount`` and ``total``. The generated model stays in ``raw``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from discounts_client.generated.models import (
    AppliedCode as GeneratedAppliedCode,
)
from discounts_client.generated.models import (
    CartQuoteOut,
    CartRedemptionOut,
    RedeemedCode,
    RejectedCode,
)
from discounts_client.generated.models import LineTotal as GeneratedLineTotal
from discounts_client.money import Allocation, from_wire


@dataclass(frozen=True)
class AppliedCode:
    """A code as applied to the cart: ``discount`` (percent) or ``amount_off`` and ``currency`` (fixed)."""

    code: str
    brand: str
    discount_amount: Decimal
    allocations: tuple[Allocation, ...]
    discount: int | None
    amount_off: Decimal | None
    currency: str | None
    usage: str | None
    """In a redemption: the id of this code's usage (a usage like any other: ``ops.give_back`` takes it)."""

    @classmethod
    def from_generated(cls, out: GeneratedAppliedCode | RedeemedCode) -> AppliedCode:
        return cls(
            code=out.code,
            brand=out.brand,
            discount_amount=from_wire(out.discount_amount),
            allocations=Allocation.all_from(out.allocations),
            discount=out.discount if isinstance(out.discount, int) else None,
            amount_off=from_wire(out.amount_off) if isinstance(out.amount_off, str) else None,
            currency=out.currency if isinstance(out.currency, str) else None,
            usage=out.usage if isinstance(out, RedeemedCode) else None,
        )


@dataclass(frozen=True)
class LineTotal:
    id: str
    subtotal: Decimal
    """price × quantity"""
    discount: Decimal
    """What every applied code took off this line together."""
    total: Decimal
    """subtotal − discount, never below zero."""

    @classmethod
    def from_generated(cls, out: GeneratedLineTotal) -> LineTotal:
        return cls(out.id, from_wire(out.subtotal), from_wire(out.discount), from_wire(out.total))


@dataclass(frozen=True)
class PricedCart:
    """What a quote and a redemption of a cart both answer: the price to charge is ``amount_to_pay``."""

    user: str
    currency: str | None
    applied: tuple[AppliedCode, ...]
    """In the order applied: ascending priority, then the request's order."""
    lines: tuple[LineTotal, ...]
    amount: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal

    @staticmethod
    def priced(out: CartQuoteOut | CartRedemptionOut) -> PricedCart:
        return PricedCart(
            user=out.user,
            currency=out.currency if isinstance(out.currency, str) else None,
            applied=tuple(AppliedCode.from_generated(code) for code in out.applied),
            lines=tuple(LineTotal.from_generated(line) for line in out.lines),
            amount=from_wire(out.amount),
            discount_amount=from_wire(out.discount_amount),
            amount_to_pay=from_wire(out.amount_to_pay),
        )


@dataclass(frozen=True)
class CartQuote(PricedCart):
    """The cart priced with every code that would be accepted; nothing recorded."""

    rejected: tuple[RejectedCode, ...]
    """Each refused code (upper-cased), its ``reason`` (a problem ``code``, ``not_applicable`` or
    ``combination_disallowed``) and ``detail``, in the order of the request; maybe empty."""
    raw: CartQuoteOut

    @classmethod
    def from_generated(cls, out: CartQuoteOut) -> CartQuote:
        return cls(**vars(PricedCart.priced(out)), rejected=tuple(out.rejected), raw=out)


@dataclass(frozen=True)
class CartRedemption(PricedCart):
    """A cart redeemed all or nothing: every code used (``status == "used"``) or held together (``"held"``)."""

    id: str
    """The cart redemption's id: ``ops.cart_confirm`` and ``ops.cart_give_back`` take it."""
    status: str
    used_at: datetime.datetime
    hold_expires_at: datetime.datetime | None
    raw: CartRedemptionOut

    @property
    def held(self) -> bool:
        return self.status == "held"

    @classmethod
    def from_generated(cls, out: CartRedemptionOut) -> CartRedemption:
        expires = out.hold_expires_at
        return cls(
            **vars(PricedCart.priced(out)),
            id=out.id,
            status=out.status.value,
            used_at=out.used_at,
            hold_expires_at=expires if isinstance(expires, datetime.datetime) else None,
            raw=out,
        )
