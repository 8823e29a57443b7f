from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH


class DiscountRule(Base):
    """What a code gives — ``discount`` % or ``amount_off`` off the brand's products — and its limits.

    Rules are separate from codes so that one rule can back several campaigns. Every field
    but the kind of discount is optional; ``max_uses_per_user`` NULL means once per user, as
    every rule made before limits existed.
    """

    __tablename__ = "discount_rules"
    __table_args__ = (
        CheckConstraint("discount IS NULL OR (discount > 0 AND discount < 100)", name="discount_range"),
        CheckConstraint("(discount IS NULL) <> (amount_off IS NULL)", name="one_kind"),
        CheckConstraint("amount_off IS NULL OR currency IS NOT NULL", name="amount_has_currency"),
        CheckConstraint("max_uses IS NULL OR max_uses >= 1", name="max_uses_positive"),
        CheckConstraint("max_uses_per_user IS NULL OR max_uses_per_user >= 1", name="per_user_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    discount: Mapped[int | None] = mapped_column(Integer)
    amount_off: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    #: ISO 4217; fixed amounts, minimums and budgets are in it.
    currency: Mapped[str | None] = mapped_column(String(3))
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_uses: Mapped[int | None] = mapped_column(Integer)
    max_uses_per_user: Mapped[int | None] = mapped_column(Integer)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    group: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DiscountCode(Base):
    """A code string users type at checkout; the upper-case string is its identity."""

    __tablename__ = "discount_codes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: SHA-256 of ``id``, so a code can be fetched without putting the string in a URL.
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("discount_rules.id"), index=True)
    validity: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    rule: Mapped[DiscountRule] = relationship(lazy="joined")

    def is_expired(self, now: datetime) -> bool:
        return now > self.validity
