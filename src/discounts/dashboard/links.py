"""One-time sign-in links: a brand opens the dashboard without ever holding a raw API token.

A link carries a token signed with a key derived for this purpose only (``auth.derived_key``):
it names the brand, a random id and its end. Using it records the id in the database, whose
primary key refuses a second use — from any API process, however many run. Opening the link
changes nothing (mail and chat scanners open links too); the page's button signs in.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import derived_key
from discounts.dashboard.models import DashboardLinkUse
from discounts.directory.models import Brand
from discounts.errors import BrandNotFound, InvalidLink
from discounts.settings import Settings

PURPOSE = "dashboard-link"
SIGN_IN_PATH = "/dashboard/sign-in"


@dataclass(frozen=True, slots=True)
class SignInLink:
    url: str
    brand: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LinkClaims:
    brand: str
    link_id: str
    expires_at: datetime


class SignInLinks:
    """Mints and reads sign-in links; built once per process from the settings."""

    def __init__(self, settings: Settings) -> None:
        self._key = derived_key(settings, PURPOSE)
        self._base = settings.public_url.rstrip("/") + SIGN_IN_PATH
        self.lifetime = timedelta(seconds=settings.dashboard_link_seconds)

    def mint(self, brand: str, now: datetime, ttl: timedelta | None = None) -> SignInLink:
        expires_at = (now + (ttl or self.lifetime)).replace(microsecond=0)
        claims = {"purpose": PURPOSE, "brand": brand, "jti": secrets.token_hex(16), "exp": expires_at}
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return SignInLink(url=f"{self._base}?token={token}", brand=brand, expires_at=expires_at)

    def read(self, token: str, now: datetime) -> LinkClaims:
        """The link's claims if it is ours, for this purpose and not past its end (its use is not checked here)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["exp", "jti", "brand", "purpose"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidLink("this sign-in link is not valid; copy the whole link, or ask for a new one") from exc
        brand, link_id, exp = claims.get("brand"), claims.get("jti"), claims.get("exp")
        if claims.get("purpose") != PURPOSE or not isinstance(brand, str) or not isinstance(link_id, str):
            raise InvalidLink("this is not a dashboard sign-in link")
        if not isinstance(exp, int) or len(link_id) > 32:
            raise InvalidLink("this is not a dashboard sign-in link")
        expires_at = datetime.fromtimestamp(exp, UTC)
        if now >= expires_at:
            raise InvalidLink("this sign-in link has expired; ask for a new one")
        return LinkClaims(brand=brand, link_id=link_id, expires_at=expires_at)


async def mint_link(
    session: AsyncSession, links: SignInLinks, brand: str, now: datetime, ttl: timedelta | None = None
) -> SignInLink:
    """A link for a registered brand (else 404, as a code for an unknown brand is)."""
    if await session.get(Brand, brand) is None:
        raise BrandNotFound(f"brand {brand!r} is not registered")
    return links.mint(brand, now, ttl)


async def use_link(session: AsyncSession, links: SignInLinks, token: str, now: datetime) -> str:
    """Spend the link and return its brand; a second use fails, in whichever process it arrives."""
    claims = links.read(token, now)
    if await session.get(Brand, claims.brand) is None:
        raise InvalidLink("this link's brand is no longer registered")
    # Links past their end are refused by their signature check: their rows are not needed any more.
    await session.execute(delete(DashboardLinkUse).where(DashboardLinkUse.expires_at < now))
    session.add(DashboardLinkUse(link_id=claims.link_id, brand=claims.brand, used_at=now, expires_at=claims.expires_at))
    try:
        await session.flush()
    except IntegrityError:
        raise InvalidLink("this sign-in link was used already; a link signs in once, ask for a new one") from None
    return claims.brand
