"""Money at the edges: ``Decimal`` amounts with two places in and out, integer cents inside.

Amounts carry at most two fraction digits on the way in, so they convert to whole cents
exactly; pricing (``discounts.pricing``) works on cents and rounds once, where the contract
says; answers are written with exactly two places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal) -> str:
    """Money as the API writes it: a string with exactly two places."""
    return f"{quantize(value):.2f}"


def to_cents(value: Decimal) -> int:
    """Money as a whole number of hundredths (rounded half-up first: exact for the API's amounts)."""
    return int(quantize(value) * 100)


def money_cents(value: Decimal) -> int:
    """Cents of money the API took in (at most two places, ``fields.parse_money``): exact, no rounding."""
    return int(value * 100)


def from_cents(cents: int) -> Decimal:
    """Whole hundredths as money with two places: 1234 → Decimal("12.34")."""
    return Decimal(cents).scaleb(-2)


#: ".00" to ".99": a cart's answer writes some thirty amounts, and formatting the cents part was most of that.
_CENTS_PARTS = tuple(f".{part:02d}" for part in range(100))


def format_cents(cents: int) -> str:
    """Cents as the API writes money: ``"12.34"``, ``"0.05"``, ``"-1.00"``."""
    if cents < 0:
        return "-" + format_cents(-cents)
    return str(cents // 100) + _CENTS_PARTS[cents % 100]
