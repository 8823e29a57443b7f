"""The kinds of discount a rule can give, in one place: how each prices, and how the API writes it.

A rule stores its kind in columns (``discount``; ``amount_off`` and ``currency``); ``offer_of``
is the one mapping from those columns to the offer that prices lines, and an offer's
``fields`` are what a redemption's body says of it. A new kind (buy X get Y, tiers) is a class
here, its columns, and its words in the e-mails (``notify.messages.format_offer``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from discounts.money import format_money, to_cents


@dataclass(frozen=True, slots=True)
class PercentOff:
    """``percent`` % off the eligible amount, rounded half-up to the cent once."""

    kind: ClassVar[str] = "percent"
    percent: int

    def discount(self, eligible: int) -> int:
        """Cents off ``eligible`` cents: half-up, as ``quantize`` rounds (never more than ``eligible``)."""
        return (eligible * self.percent + 50) // 100

    def fields(self) -> dict[str, object]:
        return {"discount": self.percent}


@dataclass(frozen=True, slots=True)
class AmountOff:
    """A fixed ``amount`` off in ``currency``, never more than the eligible amount."""

    kind: ClassVar[str] = "amount_off"
    amount: Decimal
    currency: str

    def discount(self, eligible: int) -> int:
        return min(to_cents(self.amount), eligible)

    def fields(self) -> dict[str, object]:
        return {"amount_off": format_money(self.amount), "currency": self.currency}


Offer = PercentOff | AmountOff


def offer_of(discount: int | None, amount_off: Decimal | None, currency: str | None) -> Offer:
    """The offer a rule's (or a usage's) stored columns describe: exactly one kind is set."""
    if discount is not None and amount_off is None:
        return PercentOff(discount)
    if amount_off is not None and discount is None and currency is not None:
        return AmountOff(amount_off, currency)
    raise ValueError("a rule gives a percent, or an amount off in a currency: exactly one")


def kind_errors(discount: object, amount_off: object, currency: object) -> list[tuple[str, str]]:
    """(field, why) for a rule that names no kind, two kinds, or an amount without its currency."""
    if discount is None and amount_off is None:
        return [("discount", "give 'discount' (percent) or 'amount_off' (a fixed amount)")]
    if discount is not None and amount_off is not None:
        return [("amount_off", "give 'discount' or 'amount_off', not both")]
    if amount_off is not None and currency is None:
        return [("currency", "'amount_off' needs a 'currency'")]
    return []


#: The kinds in the OpenAPI document, as far as JSON Schema can say them: a percent, or a fixed
#: amount with its currency, never both (``kind_errors`` says which field is wrong).
KINDS_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"required": ["discount"], "properties": {"discount": {"type": "integer"}, "amount_off": {"type": "null"}}},
        {
            "required": ["amount_off", "currency"],
            "properties": {
                "amount_off": {"not": {"type": "null"}},
                "currency": {"type": "string"},
                "discount": {"type": "null"},
            },
        },
    ]
}
