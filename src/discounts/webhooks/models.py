from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH
from discounts.events.models import SEQ

PENDING = "state = 'pending'"
FINISHED = "finished_at IS NOT NULL"


class WebhookEndpoint(Base):
    """Where a brand (its own events) or the marketplace's service (every brand's) is sent events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: Who created it and alone sees it: ``brand`` (``owner`` is the brand) or ``service`` (its subject).
    owner_role: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    #: The brand whose events it gets; NULL: every brand's (a service's endpoint).
    brand: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    url: Mapped[str] = mapped_column(String(2048))
    #: A JSON list of event types; NULL: every type.
    events: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean)
    secret: Mapped[str] = mapped_column(String(100))
    #: The secret before the last rotation: deliveries are signed with both until ``previous_until``.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The first failed attempt since the last success; 3 days of failures disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it was disabled by the service (NULL when its owner disabled it, or it is enabled).
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event owed to one endpoint: pending until a 2xx, or until its last retry failed.

    ``next_at`` is the durable schedule of its retries: the deliverer polls for pending rows
    that are due, so a restart (or a killed deliverer, once its lease ends) loses none.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "ix_webhook_deliveries_due",
            "endpoint_id",
            "next_at",
            postgresql_where=text(PENDING),
            sqlite_where=text(PENDING),
        ),
        Index("ix_webhook_deliveries_event", "event_seq"),
        # What retention reads: finished deliveries, oldest first (``webhooks/retention.py``).
        Index(
            "ix_webhook_deliveries_finished",
            "finished_at",
            postgresql_where=text(FINISHED),
            sqlite_where=text(FINISHED),
        ),
    )

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"))
    #: pending, delivered, or failed (every retry spent)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A deliverer holds it until then (an attempt takes at most 10 s); after that another may.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One attempt at one endpoint, as its deliveries log lists it (newest first)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_attempts_at", "at"),  # retention deletes the oldest first
    )

    id: Mapped[int] = mapped_column(SEQ, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    #: The receiver's HTTP status, or NULL when there was none (``error`` says why).
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
