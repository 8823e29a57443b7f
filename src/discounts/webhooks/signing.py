"""Standard Webhooks' secrets and signatures, made by the ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"
#: 32 random bytes: the key of HMAC-SHA256 at full strength.
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def headers(event_id: str, payload: bytes, keys: Sequence[str], now: datetime) -> dict[str, str]:
    """The request's headers: ``webhook-id``, ``-timestamp`` and ``-signature`` (one per secret, space-separated)."""
    signature = " ".join(Webhook(key).sign(event_id, now, payload) for key in keys)
    return {
        "content-type": "application/json",
        "user-agent": "discounts-webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
