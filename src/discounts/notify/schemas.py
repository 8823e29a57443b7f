"""The notifications API's shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Progress(BaseModel):
    """How far an e-mailing has got (counts are summed over its chunks)."""

    status: Literal["queued", "sending", "done"]
    total: int | None = Field(description="Audience size when sending started; null until then")
    sent: int
    failed: int = Field(description="Addresses the mail server refused for good")
    skipped: int = Field(
        description="Audience members who unsubscribed (for a batch, also any it had no code left for)"
    )


class FanoutProgress(Progress):
    """How far the e-mailing of a new code has got."""

    code: str
