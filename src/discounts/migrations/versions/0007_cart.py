"""the marketplace cart: rules target products and categories, stack and have a priority; usages name
their cart and allocations; carts are kept

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 19:00:00

Rules made before this migration target every line of their brand, stack with nothing and have
the default priority (100), as API.md part 3 says a rule without those fields does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("discount_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("products", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("categories", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stackable", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="100"))
        batch_op.create_check_constraint(op.f("ck_discount_rules_priority_range"), "priority >= 0 AND priority <= 1000")
    with op.batch_alter_table("discount_usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cart_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("allocations", sa.JSON(), nullable=True))
        batch_op.create_index("ix_discount_usage_cart_id", ["cart_id"], unique=False)
    op.create_table(
        "cart_redemptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("used_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hold_until", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("cart_redemptions")
    with op.batch_alter_table("discount_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_discount_usage_cart_id")
        batch_op.drop_column("allocations")
        batch_op.drop_column("cart_id")
    with op.batch_alter_table("discount_rules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_discount_rules_priority_range"), type_="check")
        batch_op.drop_column("priority")
        batch_op.drop_column("stackable")
        batch_op.drop_column("categories")
        batch_op.drop_column("products")
