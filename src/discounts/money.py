"""Money and rule arithmetic: pure functions on ``Decimal``, no I/O.

Amounts carry at most two fraction digits on the way in; every result is rounded
half-up to two places once, at the end, so a cart and its total never disagree
by a cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    """Money as the API writes it: a string with exactly two places."""
    return f"{quantize(value):.2f}"


@dataclass(frozen=True, slots=True)
class Line:
    brand: str
    price: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class Offer:
    """A rule's discount: ``percent`` % off, or a fixed ``amount_off`` — exactly one of them."""

    percent: int | None = None
    amount_off: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.amount_off is None):
            raise ValueError("an offer is a percent or an amount off, not both or neither")


@dataclass(frozen=True, slots=True)
class Priced:
    """An order priced under an offer; ``eligible`` is the part the offer applies to."""

    amount: Decimal
    eligible: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal


def discount_of(eligible: Decimal, percent: int) -> Decimal:
    """The discount on ``eligible`` at ``percent`` %, rounded half-up to the cent."""
    return quantize(eligible * Decimal(percent) / HUNDRED)


def discount_on(eligible: Decimal, offer: Offer) -> Decimal:
    """The offer's discount on ``eligible``: never more than ``eligible`` itself, rounded once."""
    if offer.percent is not None:
        return discount_of(eligible, offer.percent)
    assert offer.amount_off is not None
    return min(quantize(offer.amount_off), quantize(eligible))


def price_amount(amount: Decimal, offer: Offer) -> Priced:
    """A whole order of ``amount``, all of it eligible."""
    total = quantize(amount)
    discount = discount_on(amount, offer)
    return Priced(total, total, discount, total - discount)


def price_cart(lines: Iterable[Line], brand: str, offer: Offer) -> Priced:
    """A cart where only ``brand``'s lines are discounted; the rest is paid in full."""
    total = Decimal(0)
    eligible = Decimal(0)
    for line in lines:
        subtotal = line.price * line.quantity
        total += subtotal
        if line.brand == brand:
            eligible += subtotal
    discount = discount_on(eligible, offer)
    return Priced(quantize(total), quantize(eligible), discount, quantize(total) - discount)


def to_cents(value: Decimal) -> int:
    """Money as a whole number of hundredths, for counters kept in the usage store."""
    return int(quantize(value) * 100)
