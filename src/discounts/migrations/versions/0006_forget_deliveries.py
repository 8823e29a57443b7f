"""a finished fan-out's delivery rows are deleted after a retention period: when, per fan-out

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 11:00:00

Fan-outs done before this migration have the column empty, so the first run after it deletes
their rows once they are older than ``DISCOUNTS_DELIVERY_RETENTION_DAYS``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fanouts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deliveries_forgotten_at", discounts.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("fanouts", schema=None) as batch_op:
        batch_op.drop_column("deliveries_forgotten_at")
