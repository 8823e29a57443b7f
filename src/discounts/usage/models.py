from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH

#: A release or a rollback no brand digest has reported yet.
UNREPORTED_CHANGE = "change_digest_id IS NULL AND status IN ('released', 'rolled_back')"


class DiscountUsage(Base):
    """The durable ledger of usages, copied in batches from the usage store's stream.

    The key-value store answers "has U used C?" fast; this table is what survives the
    loss of that store (``discounts usage rebuild``) and what brands are notified from.
    """

    __tablename__ = "discount_usage"
    __table_args__ = (
        Index("ix_discount_usage_brand_digest", "brand", "digest_id"),
        #: The digest's claim looks only at unclaimed rows: a small index however big the ledger grows.
        Index(
            "ix_discount_usage_undigested",
            "brand",
            postgresql_where=text("digest_id IS NULL"),
            sqlite_where=text("digest_id IS NULL"),
        ),
        Index(
            "ix_discount_usage_unreported_changes",
            "brand",
            postgresql_where=text(UNREPORTED_CHANGE),
            sqlite_where=text(UNREPORTED_CHANGE),
        ),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    #: Which of the user's uses of the code this is: 1, or up to the rule's ``max_uses_per_user``.
    use: Mapped[int] = mapped_column(Integer, primary_key=True, default=1, server_default="1")
    brand: Mapped[str] = mapped_column(String(ID_LENGTH))
    #: Percent off, or NULL for a fixed amount off (``amount_off`` in ``currency``).
    discount: Mapped[int | None] = mapped_column(Integer)
    amount_off: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    discount_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    amount_to_pay: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The brand digest that lists this usage; NULL until one claims it (the outbox).
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("brand_digests.id"))
    #: held, used, released or rolled_back (a hold past ``hold_until`` that is still "held" has expired).
    status: Mapped[str] = mapped_column(String(16), default="used", server_default="used")
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When it was confirmed, released or rolled back.
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The brand digest that reports its release or rollback (the outbox of give-backs).
    change_digest_id: Mapped[int | None] = mapped_column(ForeignKey("brand_digests.id"))
