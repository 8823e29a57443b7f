"""One-click unsubscribe links (RFC 8058): a signed token names the user, no login needed.

The token is a JWT signed with a key derived from the service secret for this purpose
only, and it carries ``purpose: unsubscribe``: an API token is never accepted here, and an
unsubscribe token is never accepted by the API (wrong key, no role). It does not expire,
because an e-mail read months later must still let its reader opt out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import derived_key
from discounts.directory.models import User
from discounts.directory.service import get_user, set_unsubscribed
from discounts.errors import InvalidLink
from discounts.settings import Settings

PURPOSE = "unsubscribe"
PATH = "/api/v1/unsubscribe/"
#: What PyJWT writes for an HS256 header (sorted keys, no spaces), base64url without padding.
_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class UnsubscribeTokens:
    def __init__(self, settings: Settings) -> None:
        self._key = derived_key(settings, PURPOSE)
        self._base = settings.public_url.rstrip("/") + PATH

    def mint(self, user_id: str) -> str:
        """The JWT that ``jwt.encode({"sub": user_id, "purpose": ...}, key, "HS256")`` gives, byte for byte.

        Written out because a fan-out mints one per message and PyJWT's general path (key
        checks, header merging) was a fifth of a message's rendering; tests compare the two.
        """
        payload = json.dumps({"sub": user_id, "purpose": PURPOSE}, separators=(",", ":")).encode()
        signing_input = _HEADER + b"." + _b64(payload)
        signature = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def url(self, user_id: str) -> str:
        # A JWT is base64url and dots: nothing in it needs quoting in a query string.
        return f"{self._base}?token={self.mint(user_id)}"

    def user_id(self, token: str) -> str:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": ["sub", "purpose"]})
        except jwt.PyJWTError as exc:
            raise InvalidLink("this unsubscribe link is not valid; copy the whole link from the e-mail") from exc
        if claims.get("purpose") != PURPOSE or not isinstance(claims.get("sub"), str):
            raise InvalidLink("this is not an unsubscribe link")
        return str(claims["sub"])


async def subscriber(session: AsyncSession, tokens: UnsubscribeTokens, token: str) -> User:
    """Who a link is for; reading it changes nothing (link scanners fetch links too)."""
    return await get_user(session, tokens.user_id(token))


async def unsubscribe(session: AsyncSession, tokens: UnsubscribeTokens, token: str, now: datetime) -> User:
    """Stop e-mail about new codes for the link's user; doing it twice is harmless."""
    return await set_unsubscribed(session, tokens.user_id(token), True, now)
