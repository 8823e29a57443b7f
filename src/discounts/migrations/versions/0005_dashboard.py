"""the brand's dashboard: sessions, used sign-in links, the ledger's per-hour rollup

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:00:00

The rollup is filled from the ledger as it is; from then on each copy to the ledger keeps it
(``usage/rollup.py``). Two indexes let a code's latest uses and its live holds be read
without visiting its other rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import discounts.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Money to cents, exact on both databases (the ledger's NUMERIC(14, 2) values).
CENTS = "CAST(round({} * 100) AS BIGINT)"
USED = "status = 'used'"


def upgrade() -> None:
    op.create_table(
        "code_usage_hours",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("hour", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", "hour", "currency", name=op.f("pk_code_usage_hours")),
    )
    op.create_table(
        "code_usage_totals",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("discount_cents", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("rolled_back", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_code_usage_totals")),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("created_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand"], ["brands.id"], name=op.f("fk_dashboard_sessions_brand_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    op.create_index(op.f("ix_dashboard_sessions_brand"), "dashboard_sessions", ["brand"], unique=False)
    op.create_index(op.f("ix_dashboard_sessions_expires_at"), "dashboard_sessions", ["expires_at"], unique=False)
    op.create_table(
        "dashboard_link_uses",
        sa.Column("link_id", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("used_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", discounts.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_dashboard_link_uses")),
    )
    op.create_index(op.f("ix_dashboard_link_uses_expires_at"), "dashboard_link_uses", ["expires_at"], unique=False)
    op.create_index("ix_discount_usage_code_used_at", "discount_usage", ["code", "used_at"], unique=False)
    op.create_index(
        "ix_discount_usage_holds",
        "discount_usage",
        ["code", "hold_until"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
        sqlite_where=sa.text("status = 'held'"),
    )
    _fill_rollup()


def _fill_rollup() -> None:
    """The rollup of the ledger as it is now (hours in UTC; orders without a currency under "")."""
    if op.get_bind().dialect.name == "postgresql":
        hour = "date_trunc('hour', used_at, 'UTC')"
    else:  # SQLite keeps UTC times as text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        hour = "substr(used_at, 1, 13) || ':00:00.000000'"
    op.execute(
        "INSERT INTO code_usage_hours (code, hour, currency, uses, amount_cents, discount_cents)"
        f" SELECT code, {hour}, coalesce(currency, ''), count(*), sum({CENTS.format('amount')}),"
        f" sum({CENTS.format('discount_amount')}) FROM discount_usage WHERE {USED}"
        f" GROUP BY code, {hour}, coalesce(currency, '')"
    )
    op.execute(
        "INSERT INTO code_usage_totals (code, uses, discount_cents, released, rolled_back)"
        f" SELECT code, sum(CASE WHEN {USED} THEN 1 ELSE 0 END),"
        f" sum(CASE WHEN {USED} THEN {CENTS.format('discount_amount')} ELSE 0 END),"
        " sum(CASE WHEN status = 'released' THEN 1 ELSE 0 END),"
        " sum(CASE WHEN status = 'rolled_back' THEN 1 ELSE 0 END)"
        " FROM discount_usage GROUP BY code"
    )


def downgrade() -> None:
    """Back to 0004: the dashboard's sessions end and the rollup goes (the ledger keeps every usage)."""
    op.drop_index("ix_discount_usage_holds", table_name="discount_usage")
    op.drop_index("ix_discount_usage_code_used_at", table_name="discount_usage")
    op.drop_index(op.f("ix_dashboard_link_uses_expires_at"), table_name="dashboard_link_uses")
    op.drop_table("dashboard_link_uses")
    op.drop_index(op.f("ix_dashboard_sessions_expires_at"), table_name="dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_sessions_brand"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_table("code_usage_totals")
    op.drop_table("code_usage_hours")
