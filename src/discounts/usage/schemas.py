from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.config import JsonDict

from discounts.fields import (
    JSON_INTEGER,
    MAX_MONEY,
    STRICT,
    Category,
    CodeString,
    Currency,
    Identifier,
    LineId,
    Money,
    ProductId,
    TimeOut,
)

#: The most lines a cart (or a redemption's ``items``) may have.
MAX_LINES = 1000


class CartItem(BaseModel):
    """A cart line (API.md part 3); ``id`` defaults to the line's position in the list ("0", "1", …)."""

    model_config = STRICT

    id: LineId | None = Field(default=None, description='The line\'s id (default: its position, `"0"`, `"1"`, …)')
    brand: Identifier
    product: ProductId | None = Field(default=None, description="The product (SKU) a rule's `products` may name")
    categories: Annotated[list[Category], Field(max_length=20)] = Field(
        default_factory=list, description="Categories a rule's `categories` may name"
    )
    price: Money
    quantity: Annotated[int, Strict(), Field(ge=1, le=100_000), JSON_INTEGER]


def line_ids(lines: Sequence[CartItem]) -> list[str]:
    """Each line's id, the default (its position) where it names none."""
    return [line.id if line.id is not None else str(index) for index, line in enumerate(lines)]


def _distinct_lines(lines: list[CartItem] | None) -> list[CartItem] | None:
    """Two lines with one id (defaults included) would make allocations ambiguous; the cart's total is bounded."""
    if lines is None:
        return None
    ids = line_ids(lines)
    if len(set(ids)) != len(ids):
        seen: dict[str, int] = {}
        for index, line_id in enumerate(ids):
            if line_id in seen:
                raise ValueError(f"line {index} has the id {line_id!r} of line {seen[line_id]}; line ids must differ")
            seen[line_id] = index
    if sum([line.price * line.quantity for line in lines]) > MAX_MONEY:
        raise ValueError(f"the cart's total cannot exceed {MAX_MONEY}")
    return lines


Lines = Annotated[list[CartItem], Field(min_length=1, max_length=MAX_LINES), AfterValidator(_distinct_lines)]


#: Exactly one of ``amount`` and ``items``, in the OpenAPI document (``_amount_or_items`` checks it).
AMOUNT_OR_ITEMS: JsonDict = {
    "oneOf": [
        {"required": ["amount"], "properties": {"amount": {"not": {"type": "null"}}, "items": {"type": "null"}}},
        {"required": ["items"], "properties": {"items": {"type": "array"}, "amount": {"type": "null"}}},
    ]
}


class RedemptionIn(BaseModel):
    """Either ``amount`` (the whole order) or ``items`` (only the code's brand's lines are discounted).

    The total of a cart (each price times its quantity) is at most 999,999,999,999.99, the
    largest order priced; JSON Schema cannot say this, the description does.
    """

    model_config = ConfigDict(**STRICT, json_schema_extra=AMOUNT_OR_ITEMS)

    code: CodeString
    user: Identifier
    amount: Money | None = None
    items: Lines | None = None
    currency: Currency | None = Field(default=None, description="The order's currency; required by a rule that has one")
    hold: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="Hold the code during checkout (status `held` until `hold_expires_at`), to confirm or release",
    )

    @model_validator(mode="after")
    def _amount_or_items(self) -> RedemptionIn:
        if (self.amount is None) == (self.items is None):
            raise ValueError("give exactly one of 'amount' or 'items'")
        return self


class Allocation(BaseModel):
    """How much of a code's discount lands on one line (lines that get nothing are left out)."""

    line: str
    amount: Money


class QuoteOut(BaseModel):
    """What a redemption gives: ``discount`` for a percent rule, ``amount_off`` and ``currency`` for a fixed one."""

    code: str
    user: str
    discount: int | None = Field(default=None, description="Percent off (percent rules only)")
    amount_off: Money | None = Field(default=None, description="The fixed amount off (fixed-amount rules only)")
    currency: str | None = Field(default=None, description="The rule's currency, or the one the request named")
    amount: Money
    discount_amount: Money
    amount_to_pay: Money
    allocations: list[Allocation] | None = Field(
        default=None, description="With `items`: the discount line by line (largest remainder; sums to it exactly)"
    )
    cart: str | None = Field(default=None, description="The cart redemption this usage is part of, if any")


class RedemptionOut(QuoteOut):
    id: str = Field(description="The usage's id: confirm it, or release or roll it back, with it")
    status: Literal["held", "used"]
    used_at: TimeOut
    hold_expires_at: TimeOut | None = Field(default=None, description="Only for a hold: when it gives itself back")


CodeState = Literal["active", "scheduled", "expired", "exhausted"]


class UsesIn(BaseModel):
    """Uses in one period: an hour, or a day (UTC)."""

    start: TimeOut = Field(description="The period's first moment (UTC)")
    uses: int


class CurrencyTotals(BaseModel):
    """A code's confirmed uses in one currency (an order may name none: a percent rule takes any)."""

    currency: str | None
    uses: int
    amount: Money = Field(description="The orders' amounts together")
    discount_amount: Money = Field(description="The discount given")


class CodeStats(BaseModel):
    """What a code has done, from the durable ledger (a second or so behind the redemptions)."""

    code: str
    state: CodeState = Field(
        description="`expired` past its validity; `exhausted` when its uses reached `max_uses` or the discount"
        " given its `budget`; `scheduled` before its rule's `starts_at`; else `active`"
    )
    as_of: TimeOut
    uses: int = Field(description="Confirmed uses (a use rolled back no longer counts)")
    holds: int = Field(description="Checkout holds in progress (not ended, not confirmed, not released)")
    released: int = Field(description="Holds given back before they were confirmed")
    rolled_back: int = Field(description="Uses given back")
    max_uses: int | None
    uses_left: int | None = Field(description="`max_uses` less uses and holds; null without `max_uses`")
    discount_given: Money = Field(description="Discount of every confirmed use, all currencies together")
    budget: Money | None
    budget_left: Money | None = Field(description="`budget` less the discount of uses and holds; null without one")
    totals: list[CurrencyTotals] = Field(description="Confirmed uses per currency")
    hourly: list[UsesIn] = Field(description="Uses per hour over the last `hours` hours, oldest first, with zeros")
    daily: list[UsesIn] = Field(description="Uses per day (UTC) from the code's creation to today, with zeros")


class UsageRow(BaseModel):
    """One usage of a code as its brand sees it."""

    id: str = Field(description="The usage's id (what a rollback takes)")
    user: str
    use: int = Field(description="Which of the user's uses of the code this is")
    status: Literal["held", "used", "released", "rolled_back", "expired"] = Field(
        description="`expired`: a hold that ended without being confirmed"
    )
    used_at: TimeOut
    hold_until: TimeOut | None
    changed_at: TimeOut | None = Field(description="When it was confirmed, released or rolled back")
    currency: str | None
    amount: Money
    discount_amount: Money
    amount_to_pay: Money
    cart: str | None = Field(default=None, description="The cart redemption it was part of, if any")
    allocations: list[Allocation] | None = Field(default=None, description="Its discount line by line (with lines)")


class UsagePage(BaseModel):
    """A code's usages, newest first; ``next`` continues the list."""

    items: list[UsageRow]
    next: str | None = Field(description="Pass as `after` for the next (older) page; null at the end")
