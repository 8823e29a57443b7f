"""rules with fixed amounts, minimums, start times, limits and budgets; several uses per user

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 18:00:00

Rules made before keep their meaning: a percent, no limit but once per user (NULL
``max_uses_per_user``), no start. Ledger rows made before are each user's first use.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The tables as 0001 made them: SQLite's batch mode copies from these instead of reflecting,
#: which would lose the CHECK constraint.
_old = sa.MetaData()
OLD_RULES = sa.Table(
    "discount_rules",
    _old,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "brand",
        sa.String(length=64),
        sa.ForeignKey("brands.id", name="fk_discount_rules_brand_brands"),
        nullable=False,
    ),
    sa.Column("discount", sa.Integer(), nullable=False),
    sa.Column("group", sa.String(length=64), nullable=True),
    sa.Column("created_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("discount > 0 AND discount < 100", name="ck_discount_rules_discount_range"),
    sa.Index("ix_discount_rules_brand", "brand"),
)


def upgrade() -> None:
    with op.batch_alter_table("discount_rules", copy_from=OLD_RULES) as batch:
        batch.drop_constraint(op.f("ck_discount_rules_discount_range"), type_="check")
        batch.alter_column("discount", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("amount_off", sa.Numeric(precision=14, scale=2), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.add_column(sa.Column("min_amount", sa.Numeric(precision=14, scale=2), nullable=True))
        batch.add_column(sa.Column("starts_at", discounts.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("max_uses", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_uses_per_user", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("budget", sa.Numeric(precision=14, scale=2), nullable=True))
        batch.create_check_constraint(
            op.f("ck_discount_rules_discount_range"), "discount IS NULL OR (discount > 0 AND discount < 100)"
        )
        batch.create_check_constraint(op.f("ck_discount_rules_one_kind"), "(discount IS NULL) <> (amount_off IS NULL)")
        batch.create_check_constraint(
            op.f("ck_discount_rules_amount_has_currency"), "amount_off IS NULL OR currency IS NOT NULL"
        )
        batch.create_check_constraint(op.f("ck_discount_rules_max_uses_positive"), "max_uses IS NULL OR max_uses >= 1")
        batch.create_check_constraint(
            op.f("ck_discount_rules_per_user_positive"), "max_uses_per_user IS NULL OR max_uses_per_user >= 1"
        )

    with op.batch_alter_table("discount_usage") as batch:
        # Dropped and made again below: SQLite's batch copy may not keep the index's WHERE clause.
        batch.drop_index("ix_discount_usage_undigested")
        batch.drop_constraint(op.f("pk_discount_usage"), type_="primary")
        batch.add_column(sa.Column("use", sa.Integer(), server_default="1", nullable=False))
        batch.alter_column("discount", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("amount_off", sa.Numeric(precision=14, scale=2), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch.create_primary_key(op.f("pk_discount_usage"), ["code", "user_id", "use"])
    _undigested_index()


def _undigested_index() -> None:
    op.create_index(
        "ix_discount_usage_undigested",
        "discount_usage",
        ["brand"],
        unique=False,
        postgresql_where=sa.text("digest_id IS NULL"),
        sqlite_where=sa.text("digest_id IS NULL"),
    )


def downgrade() -> None:
    """Back to 0001; fails (leaving the database as it was) if a rule or a usage needs the new columns."""
    with op.batch_alter_table("discount_usage") as batch:
        batch.drop_index("ix_discount_usage_undigested")
        batch.drop_constraint(op.f("pk_discount_usage"), type_="primary")
        batch.drop_column("use")
        batch.drop_column("amount_off")
        batch.drop_column("currency")
        batch.alter_column("discount", existing_type=sa.Integer(), nullable=False)
        batch.create_primary_key(op.f("pk_discount_usage"), ["code", "user_id"])
    _undigested_index()
    with op.batch_alter_table("discount_rules") as batch:
        for name in ("one_kind", "amount_has_currency", "max_uses_positive", "per_user_positive", "discount_range"):
            batch.drop_constraint(op.f(f"ck_discount_rules_{name}"), type_="check")
        for column in ("amount_off", "currency", "min_amount", "starts_at", "max_uses", "max_uses_per_user", "budget"):
            batch.drop_column(column)
        batch.alter_column("discount", existing_type=sa.Integer(), nullable=False)
        batch.create_check_constraint(op.f("ck_discount_rules_discount_range"), "discount > 0 AND discount < 100")
