from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from discounts.fields import STRICT, Email, Identifier, TimeOut

#: A bulk import is one request per this many users at most (the contract asks for at least 10,000).
MAX_BULK_USERS = 100_000


class BrandIn(BaseModel):
    model_config = STRICT

    #: No control characters: PostgreSQL refuses NUL in text, and none belongs in an e-mail header.
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
    email: Email


class BrandOut(BaseModel):
    id: str
    name: str
    email: str
    created_at: TimeOut
    updated_at: TimeOut


class UserIn(BaseModel):
    model_config = STRICT

    email: Email
    group: Identifier | None = None
    unsubscribed: Annotated[bool, Field(strict=True)] | None = Field(
        default=None, description="Stop (or resume) e-mail about new codes"
    )


class BulkUserIn(UserIn):
    id: Identifier


class UserOut(BaseModel):
    id: str
    email: str
    group: str | None
    unsubscribed: bool
    created_at: TimeOut
    updated_at: TimeOut


class BulkResult(BaseModel):
    received: int
    created: int
    updated: int
