"""The codes API's shapes (Pydantic models are the OpenAPI schema)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema

from discounts.fields import (
    JSON_INTEGER,
    STRICT,
    CampaignTime,
    Category,
    CodeString,
    Currency,
    Identifier,
    Money,
    PositiveMoney,
    ProductId,
    TimeOut,
)
from discounts.pricing.offers import KINDS_SCHEMA, kind_errors

Percent = Annotated[int, Strict(), Field(gt=0, lt=100, description="Percent off, 0 < discount < 100"), JSON_INTEGER]
#: Rule ids are 32-bit integers in every database; a larger one cannot exist (and would overflow the query).
RuleId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1), JSON_INTEGER]
#: Counts kept in 32-bit integer columns.
Count = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1), JSON_INTEGER]
Priority = Annotated[int, Strict(), Field(ge=0, le=1000), JSON_INTEGER]
#: A rule's targeting (API.md part 3).
Products = Annotated[list[ProductId], Field(min_length=1, max_length=1000)]
Categories = Annotated[list[Category], Field(min_length=1, max_length=100)]


class RuleIn(BaseModel):
    """Exactly one kind of discount (``discount`` or ``amount_off``); every limit is optional."""

    model_config = ConfigDict(**STRICT, json_schema_extra=KINDS_SCHEMA)

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
    products: Products | None = Field(
        default=None, description="Only its brand's lines with one of these products (with `categories`: either)"
    )
    categories: Categories | None = Field(
        default=None, description="Only its brand's lines with one of these categories (with `products`: either)"
    )
    stackable: Annotated[bool, Field(strict=True)] = Field(
        default=False, description="May be combined with another code of the same brand on the same lines"
    )
    priority: Priority = Field(default=100, description="Codes of a cart are applied in ascending priority")

    def kind_errors(self) -> list[tuple[str, str]]:
        """(field, why) for a rule with neither or both kinds of discount, or an amount without currency.

        Checked by ``codes.service`` rather than a model validator, so that each error names its
        field (a model-level error would only name the model, inside the ``rule`` union).
        """
        return kind_errors(self.discount, self.amount_off, self.currency)


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
    products: list[str] | None
    categories: list[str] | None
    stackable: bool
    priority: int


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


#: The most codes one batch generates (API.md), and one import request brings in.
MAX_BATCH = 1_000_000
MAX_IMPORT = 100_000
#: Random characters after the prefix: 7 is the fewest whose space is 10⁹ times a batch of one code.
MIN_LENGTH, DEFAULT_LENGTH = 7, 12
PREFIX_PATTERN = r"^[A-Za-z0-9_-]{0,57}$"
BATCH_ID_PATTERN = r"^[0-9a-f]{32}$"


def _prefix(value: object) -> str:
    """Checked before upper-casing, as code strings are ("ß".upper() is "SS")."""
    if not isinstance(value, str) or re.fullmatch(PREFIX_PATTERN, value) is None:
        raise ValueError("a prefix is up to 57 letters A-Z, digits, '-' and '_'")
    return value.upper()


Prefix = Annotated[
    str,
    BeforeValidator(_prefix),
    WithJsonSchema({"type": "string", "pattern": PREFIX_PATTERN, "maxLength": 57}),
]


class BatchIn(BaseModel):
    """``count`` single-use codes ``prefix`` + ``length`` random characters, generated in the background."""

    model_config = STRICT

    rule: RuleIn | RuleId = Field(
        description="A new rule (with `max_uses: 1` unless it sets another), or the id of an existing rule, as it is"
    )
    validity: CampaignTime = Field(description="Last moment the codes can be used (ISO 8601 with offset)")
    count: Annotated[int, Strict(), Field(ge=1, le=MAX_BATCH, description="How many codes"), JSON_INTEGER]
    prefix: Prefix | None = Field(default=None, description="Put before every code (stored upper-case)")
    length: Annotated[int, Strict(), Field(ge=MIN_LENGTH, le=64), JSON_INTEGER] = Field(
        default=DEFAULT_LENGTH,
        description="Random characters after the prefix (of 31: A-Z and 2-9 without O, I, L); 31^length must be at"
        " least 10^9 × count, and prefix + length at most 64 characters",
    )
    distribute: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="E-mail each user of the rule's audience (everyone, or its group) one distinct code of the batch;"
        " count must cover the audience",
    )


class ImportIn(BaseModel):
    """Codes a brand has already (from another platform), brought in whole or not at all."""

    model_config = STRICT

    rule: RuleIn | RuleId = Field(
        description="A new rule (with `max_uses: 1` unless it sets another), or the id of an existing rule, as it is"
    )
    validity: CampaignTime = Field(description="Last moment the codes can be used (ISO 8601 with offset)")
    codes: Annotated[list[CodeString], Field(min_length=1, max_length=MAX_IMPORT)] = Field(
        description="The code strings (case-insensitive); none may exist already or appear twice"
    )


class Progress(BaseModel):
    """How far an e-mailing has got (counts are summed over its chunks)."""

    status: Literal["queued", "sending", "done"]
    total: int | None = Field(description="Audience size when sending started; null until then")
    sent: int
    failed: int = Field(description="Addresses the mail server refused for good")
    skipped: int = Field(
        description="Audience members who unsubscribed (for a batch, also any it had no code left for)"
    )


#: A distribution not started yet (what a batch shows until its fan-out has a row).
NOT_STARTED = Progress(status="queued", total=None, sent=0, failed=0, skipped=0)


class BatchOut(BaseModel):
    id: str = Field(description="The batch's id")
    status: Literal["queued", "generating", "done", "failed"]
    count: int
    generated: int = Field(description="Codes made so far; `count` once `done`")
    kind: Literal["generated", "imported"]
    rule: RuleOut
    validity: TimeOut
    prefix: str | None = Field(description="Generated codes: their prefix (may be empty); null for an import")
    length: int | None = Field(description="Generated codes: their random characters; null for an import")
    distribute: bool
    distribution: Progress | None = Field(description="The e-mailing of its codes; null unless `distribute`")
    error: str | None = Field(description="Why the batch failed; null otherwise")
    created_at: TimeOut
    finished_at: TimeOut | None
