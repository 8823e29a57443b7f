"""The cart's API shapes (API.md part 3, "Several codes in one cart"): the OpenAPI schema is these models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from discounts.fields import STRICT, CodeString, Currency, Identifier, Money, TimeOut
from discounts.usage.schemas import Allocation, Lines

#: The most codes one cart may bring.
MAX_CODES = 10


def _distinct_codes(codes: list[str]) -> list[str]:
    """Code strings are upper-cased on the way in, so "acme10" and "ACME10" are the same code twice."""
    if len(set(codes)) == len(codes):
        return codes
    seen: dict[str, int] = {}
    for index, code in enumerate(codes):
        if code in seen:
            raise ValueError(f"code {code} is given twice (positions {seen[code]} and {index})")
        seen[code] = index
    return codes


Codes = Annotated[list[CodeString], Field(min_length=1, max_length=MAX_CODES), AfterValidator(_distinct_codes)]


class CartIn(BaseModel):
    """A marketplace cart and the codes the shopper brings (of one brand or several)."""

    model_config = STRICT

    user: Identifier
    currency: Currency | None = Field(default=None, description="The order's currency; required by a rule that has one")
    codes: Codes = Field(description="1 to 10 code strings, any case, each once")
    lines: Lines = Field(description="1 to 1,000 lines")


class CartRedemptionIn(CartIn):
    hold: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="Hold the codes during checkout (status `held`), to confirm or release together"
    )


class AppliedCode(BaseModel):
    """A code as applied: ``discount`` for a percent rule, ``amount_off`` and ``currency`` for a fixed one."""

    code: str
    brand: str
    discount: int | None = Field(default=None, description="Percent off (percent rules only)")
    amount_off: Money | None = Field(default=None, description="The fixed amount off (fixed-amount rules only)")
    currency: str | None = Field(default=None, description="The fixed amount's currency")
    discount_amount: Money
    allocations: list[Allocation] = Field(description="Where its discount lands, line by line; sums to it exactly")


class RedeemedCode(AppliedCode):
    usage: str = Field(description="The id of this code's usage: a usage like any other (it can be given back alone)")


class RejectedCode(BaseModel):
    code: str = Field(description="The code as the request named it, upper-cased")
    reason: str = Field(
        description="The problem `code` a single redemption of it would get, or `not_applicable`,"
        " `combination_disallowed`"
    )
    detail: str


class LineTotal(BaseModel):
    id: str
    subtotal: Money = Field(description="price × quantity")
    discount: Money = Field(description="What every applied code took off this line together")
    total: Money = Field(description="subtotal − discount, never below zero")


class CartTotals(BaseModel):
    user: str
    currency: str | None = Field(description="The request's currency (null when it named none)")
    lines: list[LineTotal]
    amount: Money = Field(description="The subtotals together")
    discount_amount: Money = Field(description="Every applied code's discount together")
    amount_to_pay: Money


class CartQuoteOut(CartTotals):
    """The cart priced: the codes applied in order, each refused one with its reason; nothing recorded."""

    applied: list[AppliedCode] = Field(description="In the order applied: ascending priority, then the request's")
    rejected: list[RejectedCode] = Field(description="Refused codes in the order of the request (maybe empty)")


class CartRedemptionOut(CartTotals):
    """A cart redeemed all or nothing: every code is a usage, held or used together."""

    id: str = Field(description="The cart redemption's id: confirm or release it with it")
    status: Literal["held", "used"]
    used_at: TimeOut
    hold_expires_at: TimeOut | None = Field(default=None, description="Only for a hold: when it gives itself back")
    applied: list[RedeemedCode]


#: A cart redemption's id: 32 lower-case hex digits.
CART_ID_PATTERN = r"^[0-9a-f]{32}$"
