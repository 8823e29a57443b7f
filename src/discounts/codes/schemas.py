"""The codes API's shapes (Pydantic models are the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.config import JsonDict

from discounts.fields import (
    JSON_INTEGER,
    STRICT,
    CampaignTime,
    CodeString,
    Currency,
    Identifier,
    Money,
    PositiveMoney,
    TimeOut,
)

Percent = Annotated[int, Strict(), Field(gt=0, lt=100, description="Percent off, 0 < discount < 100"), JSON_INTEGER]
#: Rule ids are 32-bit integers in every database; a larger one cannot exist (and would overflow the query).
RuleId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1), JSON_INTEGER]
#: Counts kept in 32-bit integer columns.
Count = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1), JSON_INTEGER]


#: The kinds of rule, stated in the OpenAPI document as far as JSON Schema can: a percent, or a
#: fixed amount with its currency, never both. ``RuleIn.kind_errors`` checks them.
RULE_KINDS: JsonDict = {
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


class RuleIn(BaseModel):
    """Exactly one kind of discount (``discount`` or ``amount_off``); every limit is optional."""

    model_config = ConfigDict(**STRICT, json_schema_extra=RULE_KINDS)

    brand: Identifier
    discount: Percent | None = None
    amount_off: PositiveMoney | None = Field(default=None, description="A fixed amount off, in `currency`")
    currency: Currency | None = Field(default=None, description="ISO 4217, required with `amount_off`")
    min_amount: PositiveMoney | None = Field(default=None, description="The eligible amount must be at least this")
    starts_at: CampaignTime | None = Field(default=None, description="First moment the code can be used")
    max_uses: Count | None = Field(default=None, description="Total uses by all users together")
    max_uses_per_user: Count | None = Field(default=None, description="Uses per user (1 when not set)")
    budget: PositiveMoney | None = Field(default=None, description="Total discount given over all uses")
    group: Identifier | None = Field(default=None, description="Only users of this group may use it and are e-mailed")

    def kind_errors(self) -> list[tuple[str, str]]:
        """(field, why) for a rule with neither or both kinds of discount, or an amount without currency.

        Checked by ``codes.service`` rather than a model validator, so that each error names its
        field (a model-level error would only name the model, inside the ``rule`` union).
        """
        if self.discount is None and self.amount_off is None:
            return [("discount", "give 'discount' (percent) or 'amount_off' (a fixed amount)")]
        if self.discount is not None and self.amount_off is not None:
            return [("amount_off", "give 'discount' or 'amount_off', not both")]
        if self.amount_off is not None and self.currency is None:
            return [("currency", "'amount_off' needs a 'currency'")]
        return []


class RuleOut(BaseModel):
    """A rule with every field: the ones not set are null, ``max_uses_per_user`` is 1 when not set."""

    id: int
    brand: str
    discount: int | None
    amount_off: Money | None
    currency: str | None
    min_amount: Money | None
    starts_at: TimeOut | None
    max_uses: int | None
    max_uses_per_user: int
    budget: Money | None
    group: str | None


class CodeIn(BaseModel):
    model_config = STRICT

    id: CodeString = Field(description="The code string, e.g. SPRINGSALE2022 (case-insensitive)")
    rule: RuleIn | RuleId = Field(description="A new rule, or the id of an existing rule of the same brand")
    validity: CampaignTime = Field(
        description="Last moment the code can be used (ISO 8601 with offset); in the future when it is created"
    )


class CodeOut(BaseModel):
    id: str
    hash: str
    rule: RuleOut
    validity: TimeOut
    created_at: TimeOut


class CodeView(CodeOut):
    """A fetched code: whether it expired and, for a user, whether they used it."""

    expired: bool
    used: bool | None = Field(default=None, description="Whether the calling user has used it (only for users)")
