"""The notification outboxes: fan-outs cut into leased chunks, deliveries, brand digests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH


class Fanout(Base):
    """The e-mailing of one new code, or of a batch's distinct codes, to its audience; the row is the outbox entry."""

    __tablename__ = "fanouts"

    #: What is announced: a code's id, or ``batch:<id>`` for a batch's distribution (``notify.subjects``).
    code_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | sending | done
    #: The last user id already cut into chunks; planning resumes after it.
    planned_through: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    planned: Mapped[bool] = mapped_column(default=False)
    #: Members of the audience when planning started (unsubscribed ones included, counted as skipped).
    total: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When its Delivery rows were deleted, ``DISCOUNTS_DELIVERY_RETENTION_DAYS`` after it was done.
    deliveries_forgotten_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FanoutChunk(Base):
    """A slice of the audience, (after_user, upto_user], handled by one task."""

    __tablename__ = "fanout_chunks"
    __table_args__ = (UniqueConstraint("code_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_id: Mapped[str] = mapped_column(ForeignKey("fanouts.code_id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    after_user: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    upto_user: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16))  # queued | sending | done
    #: Audience members in the range when it was planned.
    size: Mapped[int] = mapped_column(Integer)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who holds the lease: only the holder may renew it or finish the chunk.
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """What was sent to whom for which code (or batch): a redelivered chunk skips these users."""

    __tablename__ = "deliveries"

    code_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # sent | failed
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BrandDigest(Base):
    """One e-mail to a brand listing the usages it claimed; re-sent until marked sent."""

    __tablename__ = "brand_digests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    usage_count: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: A run sending this digest holds it until then, so two runs never send it twice at once.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
