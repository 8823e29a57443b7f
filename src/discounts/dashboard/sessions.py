"""Dashboard sessions, kept server-side: the cookie holds a random secret, the database its hash.

Signing out deletes the row, so the session ends everywhere at once, and a copy of the
table opens nothing. Every form carries a CSRF token: an HMAC of the session with a key
derived for this purpose only, so it needs no storage and differs per session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from discounts.auth import Principal, Role, derived_key
from discounts.dashboard.models import DashboardSession
from discounts.errors import StaleForm
from discounts.settings import Settings

COOKIE = "discounts_dashboard"
COOKIE_PATH = "/dashboard"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The brand a request acts for, and what its forms must carry."""

    brand: str
    csrf: str
    secret: str

    @property
    def principal(self) -> Principal:
        return Principal(sub=self.brand, role=Role.brand, brand=self.brand)


class DashboardSessions:
    def __init__(self, settings: Settings) -> None:
        self._csrf_key = derived_key(settings, "dashboard-csrf")
        self.lifetime = timedelta(seconds=settings.dashboard_session_seconds)

    def csrf_token(self, secret: str) -> str:
        return hmac.new(self._csrf_key, _digest(secret).encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, signed_in: SignedIn, token: str | None) -> None:
        if token is None or not hmac.compare_digest(signed_in.csrf, token):
            raise StaleForm("this form is out of date or came from elsewhere; reload the page and try again")

    async def open(self, session: AsyncSession, brand: str, now: datetime) -> SignedIn:
        """A new session for ``brand``; ended sessions are cleared on the way."""
        await session.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
        secret = secrets.token_urlsafe(32)
        session.add(DashboardSession(id=_digest(secret), brand=brand, created_at=now, expires_at=now + self.lifetime))
        await session.flush()
        return SignedIn(brand=brand, csrf=self.csrf_token(secret), secret=secret)

    async def find(self, session: AsyncSession, secret: str | None, now: datetime) -> SignedIn | None:
        if not secret or len(secret) > 128:
            return None
        row = await session.get(DashboardSession, _digest(secret))
        if row is None or row.expires_at <= now:
            return None
        return SignedIn(brand=row.brand, csrf=self.csrf_token(secret), secret=secret)

    async def close(self, session: AsyncSession, signed_in: SignedIn) -> None:
        await session.execute(delete(DashboardSession).where(DashboardSession.id == _digest(signed_in.secret)))
