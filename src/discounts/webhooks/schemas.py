"""The webhooks API's shapes."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from discounts.fields import STRICT, TimeOut

EventName = Literal["code.created", "usage.used", "usage.held", "usage.released", "code.exhausted", "batch.done"]


def _has_host(url: str) -> str:
    """A URL a delivery can connect to: a host, and a port that is a number from 1 to 65535 if any."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the URL must name a host and, if any, a port from 1 to 65535") from None
    if not host:
        raise ValueError("the URL must name a host")
    if port == 0:
        raise ValueError("the URL's port must be from 1 to 65535")
    return url


Url = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https?://[!-~]+$"),
    AfterValidator(_has_host),
    Field(description="`http` or `https`; a loopback, private, link-local or multicast address is refused"),
]
Events = Annotated[
    list[EventName],
    Field(min_length=1, max_length=6, description="The event types to send; every type when left out"),
]
#: Free text, lines and tabs allowed; no other control character (PostgreSQL refuses NUL in text).
Description = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]


class EndpointIn(BaseModel):
    model_config = STRICT

    url: Url
    events: Events | None = None
    description: Description | None = None


class EndpointPatch(BaseModel):
    """Only the fields given change; ``enabled: true`` also clears a disabling by the service."""

    model_config = STRICT

    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    enabled: Annotated[bool, Field(strict=True)] | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str] = Field(description="The event types it is sent")
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(default=None, description="Why the service disabled it, if it did")
    created_at: TimeOut


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="`whsec_` + base64 of the signing key: shown now, and never again")


class AttemptOut(BaseModel):
    event: str = Field(description="The event's id (`webhook-id`)")
    type: str
    attempt: int
    status: int | None = Field(description="The receiver's HTTP status; null when there was none")
    error: str | None = Field(description="Why there was no status (or no 2xx), or null")
    at: TimeOut
