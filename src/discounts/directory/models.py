from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ColumnElement, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime

ID_LENGTH = 64


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("ix_users_group_id", "group", "id"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    group: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: Set by the user's one-click unsubscribe link or by the marketplace; fan-outs skip them.
    unsubscribed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def audience(group: str | None) -> ColumnElement[bool]:
    """The users a code of a rule with ``group`` is for: that group's, or everyone."""
    return User.group == group if group is not None else true()
