"""One-click unsubscribe links (RFC 8058): a signed token names the user, no login needed.

The token is a JWT signed with a key derived from the service secret for this purpose
only, and it carries ``purpose: unsubscribe``: an API token is never accepted here, and an
unsubscribe token is never accepted by the API (wrong key, no role). It does not expire,
because an e-mail read months later must still let its reader opt out.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import urlencode

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.directory.models import User
from discounts.directory.service import get_user, set_unsubscribed
from discounts.errors import InvalidLink
from discounts.settings import Settings

PURPOSE = "unsubscribe"
PATH = "/api/v1/unsubscribe/"


class UnsubscribeTokens:
    def __init__(self, settings: Settings) -> None:
        secret = settings.hs256_secret().encode()
        self._key = hmac.new(secret, b"discounts/unsubscribe/v1", hashlib.sha256).digest()
        self._base = settings.public_url.rstrip("/") + PATH

    def mint(self, user_id: str) -> str:
        return jwt.encode({"sub": user_id, "purpose": PURPOSE}, self._key, algorithm="HS256")

    def url(self, user_id: str) -> str:
        return f"{self._base}?{urlencode({'token': self.mint(user_id)})}"

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
