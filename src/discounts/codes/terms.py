"""A code's terms as plain values: what the redemption path needs, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from discounts.codes.models import DiscountCode, DiscountRule
from discounts.codes.schemas import RuleOut
from discounts.fields import format_time
from discounts.money import format_money, to_cents
from discounts.pricing.cart import CodeOffer, Target
from discounts.pricing.offers import Offer, offer_of


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
    #: Targeting, in the order the brand gave it.
    products: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    stackable: bool = False
    priority: int = 100

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
            products=None if rule.products is None else tuple(rule.products),
            categories=None if rule.categories is None else tuple(rule.categories),
            stackable=bool(rule.stackable),
            priority=100 if rule.priority is None else rule.priority,
        )

    @property
    def offer(self) -> Offer:
        """The one mapping from a stored rule to what prices lines (``pricing.offers.offer_of``)."""
        return offer_of(self.discount, self.amount_off, self.currency)

    @property
    def target(self) -> Target:
        products = None if self.products is None else frozenset(self.products)
        categories = None if self.categories is None else frozenset(self.categories)
        return Target(self.brand, products, categories)

    @property
    def min_amount_cents(self) -> int | None:
        return None if self.min_amount is None else to_cents(self.min_amount)

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
    #: What pricing needs of this code, built once (the code cache keeps it): a rule's thousand
    #: products become a set once, not at every redemption.
    pricing: CodeOffer

    @classmethod
    def of(cls, code: DiscountCode) -> CodeTerms:
        rule = RuleTerms.of(code.rule)
        pricing = CodeOffer(
            code.id, rule.offer, rule.target, rule.stackable, rule.priority, rule.min_amount_cents, rule.currency
        )
        return cls(code.id, code.hash, rule, code.validity, code.created_at, pricing)

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
        "products": None if rule.products is None else list(rule.products),
        "categories": None if rule.categories is None else list(rule.categories),
        "stackable": rule.stackable,
        "priority": rule.priority,
    }


def rule_out(rule: DiscountRule) -> RuleOut:
    return RuleOut.model_validate(rule_body(RuleTerms.of(rule)))
