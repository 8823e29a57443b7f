from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, false
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
        CheckConstraint("priority >= 0 AND priority <= 1000", name="priority_range"),
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
    #: Targeting (JSON lists): only the brand's lines with one of these products, or categories.
    products: Mapped[list[str] | None] = mapped_column(JSON)
    categories: Mapped[list[str] | None] = mapped_column(JSON)
    #: May share lines with another code of its brand in one cart (both must be stackable).
    stackable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Codes of a cart apply in ascending priority.
    priority: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DiscountCode(Base):
    """A code string users type at checkout; the upper-case string is its identity."""

    __tablename__ = "discount_codes"
    #: A batch's codes in the order they were made: streamed, and handed out, by this (NULLs never clash).
    __table_args__ = (Index("ix_discount_codes_batch_seq", "batch_id", "batch_seq", unique=True),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: SHA-256 of ``id``, so a code can be fetched without putting the string in a URL.
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("discount_rules.id"), index=True)
    validity: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The batch that made (or imported) it, and its place there: 1 to the batch's count, no gaps.
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("discount_code_batches.id"))
    batch_seq: Mapped[int | None] = mapped_column(Integer)

    rule: Mapped[DiscountRule] = relationship(lazy="joined")

    def is_expired(self, now: datetime) -> bool:
        return now > self.validity


class DiscountCodeBatch(Base):
    """Many single-use codes of one rule and validity: generated in the background, or imported at once.

    ``generated`` is the number of its codes that exist, always exactly those numbered 1 to
    ``generated``: each step of the generation adds the next codes and moves it in one
    transaction, so a worker killed mid-step leaves neither a gap nor a duplicate.
    """

    __tablename__ = "discount_code_batches"
    __table_args__ = (
        CheckConstraint("count >= 1", name="count_positive"),
        CheckConstraint("generated >= 0 AND generated <= count", name="generated_within_count"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand: Mapped[str] = mapped_column(ForeignKey("brands.id"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("discount_rules.id"))
    kind: Mapped[str] = mapped_column(String(16))  # generated | imported
    status: Mapped[str] = mapped_column(String(16))  # queued | generating | done | failed
    count: Mapped[int] = mapped_column(Integer)
    generated: Mapped[int] = mapped_column(Integer, default=0)
    #: Generated codes are ``prefix`` (upper-case, may be empty) + ``length`` random characters.
    prefix: Mapped[str | None] = mapped_column(String(64))
    length: Mapped[int | None] = mapped_column(Integer)
    validity: Mapped[datetime] = mapped_column(UTCDateTime())
    #: E-mail each user of the rule's audience one distinct code once the codes exist.
    distribute: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Codes the distribution has handed to users so far: the next user gets number ``assigned + 1``.
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rule: Mapped[DiscountRule] = relationship(lazy="joined")


class BatchAssignment(Base):
    """Which user of a distributed batch's audience was handed which of its codes (one each, never shared)."""

    __tablename__ = "batch_assignments"

    batch_id: Mapped[str] = mapped_column(ForeignKey("discount_code_batches.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    code_id: Mapped[str] = mapped_column(ForeignKey("discount_codes.id"), unique=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
