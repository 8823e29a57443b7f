from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, Numeric, String, Text, text
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
        #: A code's latest uses and its CSV export, newest or oldest first, without sorting its million rows.
        Index("ix_discount_usage_code_used_at", "code", "used_at"),
        #: A code's holds in progress: only rows still "held" are in it (an ended hold stays "held" in the ledger).
        Index(
            "ix_discount_usage_holds",
            "code",
            "hold_until",
            postgresql_where=text("status = 'held'"),
            sqlite_where=text("status = 'held'"),
        ),
        #: Holds by their end, every code's: the copy announces those that ended (``usage/events.py``).
        Index(
            "ix_discount_usage_held_until",
            "hold_until",
            postgresql_where=text("status = 'held'"),
            sqlite_where=text("status = 'held'"),
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
    #: The cart redemption it was part of, if any (``cart_redemptions``).
    cart_id: Mapped[str | None] = mapped_column(String(32), index=True)
    #: Where its discount landed: ``[[line id, cents], ...]``, for orders with lines.
    allocations: Mapped[list[list[str | int]] | None] = mapped_column(JSON)


class CartRedemption(Base):
    """A cart redeemed all or nothing, copied from the store's stream like its usages (which name it)."""

    __tablename__ = "cart_redemptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When its claims give themselves back unless completed (a held cart's hold end).
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The priced cart as it was answered (JSON): what a confirm answers once the store has forgotten it.
    summary: Mapped[str] = mapped_column(Text)


class CodeUsageHour(Base):
    """A code's uses in one hour (UTC) and one currency: the rollup a code's stats are read from.

    Kept by ``usage/rollup.py`` in the transaction that copies usages to the ledger, so it never
    disagrees with it; a stats read costs a few rows an hour however many uses the code has.
    ``currency`` is "" for orders that named none.
    """

    __tablename__ = "code_usage_hours"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    #: Uses (confirmed; a hold counts once confirmed, a use given back no longer counts).
    uses: Mapped[int] = mapped_column(Integer)
    #: Sums in cents: exact on every database (SQLite would add NUMERIC values as floats).
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)


class CodeUsageTotals(Base):
    """A code's totals over its whole life, kept with :class:`CodeUsageHour` (a brand's code list reads these)."""

    __tablename__ = "code_usage_totals"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer)
    #: All currencies together, as the usage store counts a budget.
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[int] = mapped_column(Integer)
    rolled_back: Mapped[int] = mapped_column(Integer)
