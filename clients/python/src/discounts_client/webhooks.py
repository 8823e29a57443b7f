"""Verifying the service's webhook deliveries (Standard Webhooks signatures, API.md part 3).

A receiver passes the raw body bytes, exactly as received, and the request's headers; what comes
back is the event, its signature checked (HMAC-SHA256 of ``id.timestamp.body`` with the endpoint's
``whsec_`` secret; during a secret's rotation either signature passes) and its timestamp within
five minutes of now (a replayed old delivery fails). Dedupe by ``event.id``: a delivery may come
more than once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import standardwebhooks

from discounts_client.errors import DiscountsError


class WebhookVerificationError(DiscountsError):
    """Not a delivery of the service: a bad or missing signature, or a timestamp too old or too new."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    """``webhook-id``: the same on every attempt of one event; dedupe by it."""
    type: str
    """``code.created``, ``usage.used``, ``usage.held``, ``usage.released``, ``code.exhausted``, ``batch.done``…"""
    timestamp: datetime
    data: dict[str, Any]


class WebhookVerifier:
    def __init__(self, secret: str) -> None:
        """``secret``: the endpoint's ``whsec_…``, as the service showed it when the endpoint was made or rotated."""
        self._webhook = standardwebhooks.Webhook(secret)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            payload = self._webhook.verify(body, lowered)
        except standardwebhooks.WebhookVerificationError as error:
            raise WebhookVerificationError(str(error)) from error
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookVerificationError("a delivery's body is an object with 'type', 'timestamp' and 'data'")
        return WebhookEvent(
            id=lowered["webhook-id"],
            type=str(payload.get("type")),
            timestamp=datetime.fromisoformat(str(payload.get("timestamp"))),
            data=payload["data"],
        )
