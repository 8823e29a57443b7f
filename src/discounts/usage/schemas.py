from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.config import JsonDict

from discounts.fields import JSON_INTEGER, MAX_MONEY, STRICT, CodeString, Currency, Identifier, Money, TimeOut


class CartItem(BaseModel):
    model_config = STRICT

    brand: Identifier
    price: Money
    quantity: Annotated[int, Strict(), Field(ge=1, le=100_000), JSON_INTEGER]


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
    items: Annotated[list[CartItem], Field(min_length=1, max_length=1000)] | None = None
    currency: Currency | None = Field(default=None, description="The order's currency; required by a rule that has one")
    hold: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="Hold the code during checkout (status `held` until `hold_expires_at`), to confirm or release",
    )

    @model_validator(mode="after")
    def _amount_or_items(self) -> RedemptionIn:
        if (self.amount is None) == (self.items is None):
            raise ValueError("give exactly one of 'amount' or 'items'")
        if self.items is not None and sum(i.price * i.quantity for i in self.items) > MAX_MONEY:
            raise ValueError(f"the cart's total cannot exceed {MAX_MONEY}")
        return self


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


class RedemptionOut(QuoteOut):
    id: str = Field(description="The usage's id: confirm it, or release or roll it back, with it")
    status: Literal["held", "used"]
    used_at: TimeOut
    hold_expires_at: TimeOut | None = Field(default=None, description="Only for a hold: when it gives itself back")
