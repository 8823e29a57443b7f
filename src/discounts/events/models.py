from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH

#: An integer key that counts up on every database (SQLite's autoincrement needs INTEGER itself).
SEQ = BigInteger().with_variant(Integer, "sqlite")


class Event(Base):
    """The outbox: one row per thing that happened, committed with the action itself.

    ``payload`` is the body every endpoint is sent, ``{"type", "timestamp", "data"}``, written
    once, so each attempt and each endpoint gets the same bytes. ``dispatched_at`` is NULL until
    the listeners (e-mail, webhooks, …) have taken the event into work of their own, in one
    transaction (``events/dispatch.py``).
    """

    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_undispatched",
            "seq",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
        # What retention reads: dispatched events, oldest first (``events/retention.py``).
        Index(
            "ix_events_dispatched",
            "dispatched_at",
            "seq",
            postgresql_where=text("dispatched_at IS NOT NULL"),
            sqlite_where=text("dispatched_at IS NOT NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    #: ``webhook-id``: the same on every attempt and at every endpoint.
    id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    #: The brand whose event it is; NULL for a ping (it goes to one endpoint, not through listeners).
    brand: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: When the action happened (a use's ``used_at``, a hold's end, a code's creation).
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Mark(Base):
    """A named moment the event recorders keep between runs (how far hold expiries were announced)."""

    __tablename__ = "event_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
