"""bulk single-use codes: batches, their codes' place in them, who was handed which code

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:00:00

Codes made before belong to no batch (NULL ``batch_id``). A fan-out's ``code_id`` no longer
references ``discount_codes``: a batch's distribution is a fan-out too, named ``batch:<id>``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discount_code_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=64), nullable=True),
        sa.Column("length", sa.Integer(), nullable=True),
        sa.Column("validity", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("distribute", sa.Boolean(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", discounts.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("count >= 1", name=op.f("ck_discount_code_batches_count_positive")),
        sa.CheckConstraint(
            "generated >= 0 AND generated <= count", name=op.f("ck_discount_code_batches_generated_within_count")
        ),
        sa.ForeignKeyConstraint(["brand"], ["brands.id"], name=op.f("fk_discount_code_batches_brand_brands")),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["discount_rules.id"], name=op.f("fk_discount_code_batches_rule_id_discount_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discount_code_batches")),
    )
    op.create_index(op.f("ix_discount_code_batches_brand"), "discount_code_batches", ["brand"], unique=False)
    with op.batch_alter_table("discount_codes") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("batch_seq", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_discount_codes_batch_id_discount_code_batches"), "discount_code_batches", ["batch_id"], ["id"]
        )
        batch.create_index("ix_discount_codes_batch_seq", ["batch_id", "batch_seq"], unique=True)
    op.create_table(
        "batch_assignments",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("code_id", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["discount_code_batches.id"], name=op.f("fk_batch_assignments_batch_id_discount_code_batches")
        ),
        sa.ForeignKeyConstraint(
            ["code_id"], ["discount_codes.id"], name=op.f("fk_batch_assignments_code_id_discount_codes")
        ),
        sa.PrimaryKeyConstraint("batch_id", "user_id", name=op.f("pk_batch_assignments")),
        sa.UniqueConstraint("code_id", name=op.f("uq_batch_assignments_code_id")),
    )
    with op.batch_alter_table("fanouts") as batch:
        batch.drop_constraint(op.f("fk_fanouts_code_id_discount_codes"), type_="foreignkey")


def downgrade() -> None:
    """Back to 0003: batches, their codes and their distributions are deleted (0003 has no place for them)."""
    op.execute("DELETE FROM fanout_chunks WHERE code_id LIKE 'batch:%'")
    op.execute("DELETE FROM deliveries WHERE code_id LIKE 'batch:%'")
    op.execute("DELETE FROM fanouts WHERE code_id LIKE 'batch:%'")
    with op.batch_alter_table("fanouts") as batch:
        batch.create_foreign_key(op.f("fk_fanouts_code_id_discount_codes"), "discount_codes", ["code_id"], ["id"])
    op.drop_table("batch_assignments")
    op.execute("DELETE FROM discount_codes WHERE batch_id IS NOT NULL")
    with op.batch_alter_table("discount_codes") as batch:
        batch.drop_index("ix_discount_codes_batch_seq")
        batch.drop_constraint(op.f("fk_discount_codes_batch_id_discount_code_batches"), type_="foreignkey")
        batch.drop_column("batch_seq")
        batch.drop_column("batch_id")
    op.drop_index(op.f("ix_discount_code_batches_brand"), table_name="discount_code_batches")
    op.drop_table("discount_code_batches")
