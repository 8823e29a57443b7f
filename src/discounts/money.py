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
class Priced:
    amount: Decimal
    discount_amount: Decimal
    amount_to_pay: Decimal


def discount_of(eligible: Decimal, percent: int) -> Decimal:
    """The discount on ``eligible`` at ``percent`` %, rounded half-up to the cent."""
    return quantize(eligible * Decimal(percent) / HUNDRED)


def price_amount(amount: Decimal, percent: int) -> Priced:
    """A whole order of ``amount`` discounted by ``percent`` %."""
    discount = discount_of(amount, percent)
    return Priced(quantize(amount), discount, quantize(amount) - discount)


def price_cart(lines: Iterable[Line], brand: str, percent: int) -> Priced:
    """A cart where only ``brand``'s lines are discounted; the rest is paid in full."""
    total = Decimal(0)
    eligible = Decimal(0)
    for line in lines:
        subtotal = line.price * line.quantity
        total += subtotal
        if line.brand == brand:
            eligible += subtotal
    discount = discount_of(eligible, percent)
    return Priced(quantize(total), discount, quantize(total) - discount)
