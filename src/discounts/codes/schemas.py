"""The codes API's shapes (Pydantic models are the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from discounts.fields import STRICT, CodeString, Identifier, TimeOut, UTCTime

Percent = Annotated[int, Field(gt=0, lt=100, strict=True, description="Percent off, 0 < discount < 100")]
#: Rule ids are 32-bit integers in every database; a larger one cannot exist (and would overflow the query).
RuleId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]


class RuleIn(BaseModel):
    model_config = STRICT

    brand: Identifier
    discount: Percent
    group: Identifier | None = Field(default=None, description="Only users of this group are e-mailed")


class RuleOut(BaseModel):
    id: int
    brand: str
    discount: int
    group: str | None = None


class CodeIn(BaseModel):
    model_config = STRICT

    id: CodeString = Field(description="The code string, e.g. SPRINGSALE2022 (case-insensitive)")
    rule: RuleIn | RuleId = Field(description="A new rule, or the id of an existing rule of the same brand")
    validity: UTCTime = Field(description="Last moment the code can be used (ISO 8601 with offset)")


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
