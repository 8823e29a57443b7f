"""A code's terms as plain values: what the redemption path needs, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.codes.schemas import RuleOut
from discounts.fields import format_time
from discounts.money import Offer, format_money


@dataclass(frozen=True, slots=True)
class RuleTerms:
    """A rule's discount and limits; ``max_uses_per_user`` is already 1 where the rule left it unset."""

    id: int
    brand: str
    discount: int | None
    amount_off: Decimal | None
    currency: str | None
    min_amount: Decimal | None
    starts_at: datetime | None
    max_uses: int | None
    max_uses_per_user: int
    budget: Decimal | None
    group: str | None

    @classmethod
    def of(cls, rule: DiscountRule) -> RuleTerms:
        return cls(
            id=rule.id,
            brand=rule.brand,
            discount=rule.discount,
            amount_off=rule.amount_off,
            currency=rule.currency,
            min_amount=rule.min_amount,
            starts_at=rule.starts_at,
            max_uses=rule.max_uses,
            max_uses_per_user=rule.max_uses_per_user or 1,
            budget=rule.budget,
            group=rule.group,
        )

    @property
    def offer(self) -> Offer:
        return Offer(percent=self.discount, amount_off=self.amount_off)

    @property
    def limits_the_code(self) -> bool:
        """Whether uses by different users share a count (``max_uses``, ``budget``)."""
        return self.max_uses is not None or self.budget is not None

    def is_active(self, now: datetime) -> bool:
        return self.starts_at is None or now >= self.starts_at


@dataclass(frozen=True, slots=True)
class CodeTerms:
    id: str
    hash: str
    rule: RuleTerms
    validity: datetime
    created_at: datetime

    @classmethod
    def of(cls, code: DiscountCode) -> CodeTerms:
        return cls(code.id, code.hash, RuleTerms.of(code.rule), code.validity, code.created_at)

    @property
    def brand(self) -> str:
        return self.rule.brand

    def is_expired(self, now: datetime) -> bool:
        return now > self.validity


def rule_body(rule: RuleTerms) -> dict[str, object]:
    """The rule as the API shows it (``RuleOut``), built from plain values for the hot GET."""
    return {
        "id": rule.id,
        "brand": rule.brand,
        "discount": rule.discount,
        "amount_off": None if rule.amount_off is None else format_money(rule.amount_off),
        "currency": rule.currency,
        "min_amount": None if rule.min_amount is None else format_money(rule.min_amount),
        "starts_at": None if rule.starts_at is None else format_time(rule.starts_at),
        "max_uses": rule.max_uses,
        "max_uses_per_user": rule.max_uses_per_user,
        "budget": None if rule.budget is None else format_money(rule.budget),
        "group": rule.group,
    }


def rule_out(rule: DiscountRule) -> RuleOut:
    return RuleOut.model_validate(rule_body(RuleTerms.of(rule)))
