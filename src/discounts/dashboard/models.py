"""The dashboard's rows: sessions (server-side, so signing out ends them) and the links already used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH


class DashboardSession(Base):
    """A signed-in browser; deleting the row signs it out everywhere at once."""

    __tablename__ = "dashboard_sessions"

    #: SHA-256 of the cookie's secret: a copy of this table opens no session.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DashboardLinkUse(Base):
    """A sign-in link that was used: its id is the key, so a second use fails in every API process."""

    __tablename__ = "dashboard_link_uses"

    link_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand: Mapped[str] = mapped_column(String(ID_LENGTH))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The link's own end; after it the signature check refuses the link, and the row can go.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
