from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from discounts.db import Base, UTCDateTime
from discounts.directory.models import ID_LENGTH


class DiscountRule(Base):
    """What a code gives: ``discount`` % off the brand's products, optionally for one user group.

    Rules are separate from codes so that one rule can back several campaigns.
    """

    __tablename__ = "discount_rules"
    __table_args__ = (CheckConstraint("discount > 0 AND discount < 100", name="discount_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    discount: Mapped[int] = mapped_column(Integer)
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
