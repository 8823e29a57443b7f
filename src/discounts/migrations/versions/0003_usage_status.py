"""checkout holds, confirmations and give-backs in the ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:00:00

Every row made before is a plain use (``status`` 'used', never held). ``change_digest_id``
is the outbox of give-backs: a release or rollback the brand's digest has not reported yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("discount_usage", sa.Column("status", sa.String(length=16), server_default="used", nullable=False))
    op.add_column("discount_usage", sa.Column("hold_until", discounts.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column("discount_usage", sa.Column("status_at", discounts.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("discount_usage") as batch:
        batch.add_column(sa.Column("change_digest_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_discount_usage_change_digest_id_brand_digests"), "brand_digests", ["change_digest_id"], ["id"]
        )
    op.create_index(
        "ix_discount_usage_unreported_changes",
        "discount_usage",
        ["brand"],
        unique=False,
        postgresql_where=sa.text("change_digest_id IS NULL AND status IN ('released', 'rolled_back')"),
        sqlite_where=sa.text("change_digest_id IS NULL AND status IN ('released', 'rolled_back')"),
    )


def downgrade() -> None:
    """Back to 0002; give-backs are lost (their rows read as uses again)."""
    op.drop_index("ix_discount_usage_unreported_changes", table_name="discount_usage")
    with op.batch_alter_table("discount_usage") as batch:
        batch.drop_constraint(op.f("fk_discount_usage_change_digest_id_brand_digests"), type_="foreignkey")
        batch.drop_column("change_digest_id")
        batch.drop_column("status_at")
        batch.drop_column("hold_until")
        batch.drop_column("status")
