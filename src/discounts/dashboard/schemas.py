"""The sign-in link API's shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, Strict

from discounts.fields import JSON_INTEGER, STRICT, Identifier, TimeOut


class SignInLinkIn(BaseModel):
    model_config = STRICT

    brand: Identifier = Field(description="The registered brand the link signs in as")
    ttl_seconds: Annotated[int, Strict(), Field(ge=60, le=7 * 86_400), JSON_INTEGER] | None = Field(
        default=None, description="How long the link can be used (once); `DISCOUNTS_DASHBOARD_LINK_SECONDS` if unset"
    )


class SignInLinkOut(BaseModel):
    url: str = Field(description="Open it in a browser to sign in to the brand's dashboard; it works once")
    brand: str
    expires_at: TimeOut
