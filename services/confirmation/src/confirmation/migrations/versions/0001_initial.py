"""entitlements view, status history, confirmations, messaging tables

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from mianshen_shared.messaging import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entitlements",
        sa.Column("entitlement_id", sa.Uuid, primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("policy_id", sa.String(120), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("policy_title", sa.String(300), nullable=False),
        sa.Column("award_key", sa.String(120), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("benefit_kind", sa.String(20), nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=True),
        sa.Column("finance_reference", sa.String(120), nullable=True),
        sa.Column("determined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entitlement_status_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "entitlement_id",
            sa.Uuid,
            sa.ForeignKey("entitlements.entitlement_id"),
            nullable=False,
            index=True,
        ),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "confirmations",
        sa.Column("confirmation_id", sa.Uuid, primary_key=True),
        sa.Column(
            "entitlement_id",
            sa.Uuid,
            sa.ForeignKey("entitlements.entitlement_id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("account_name", sa.String(200), nullable=True),
        sa.Column("account_number", sa.String(32), nullable=True),
        sa.Column("bank_name", sa.String(200), nullable=True),
        sa.Column("decline_reason", sa.String(500), nullable=True),
        sa.Column("close_reason", sa.String(500), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_confirmations_status_deadline", "confirmations", ["status", "deadline"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.drop_index("ix_confirmations_status_deadline", table_name="confirmations")
    op.drop_table("confirmations")
    op.drop_table("entitlement_status_events")
    op.drop_table("entitlements")
