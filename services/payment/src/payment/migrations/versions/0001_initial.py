"""payments, payment attempts, messaging tables

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
        "payments",
        sa.Column("payment_id", sa.Uuid, primary_key=True),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("assessment_id", sa.Uuid, nullable=False),
        sa.Column("confirmation_id", sa.Uuid, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("payee_name", sa.String(200), nullable=False),
        sa.Column("payee_account_number", sa.String(32), nullable=False),
        sa.Column("payee_bank_name", sa.String(200), nullable=False),
        sa.Column("payer_budget_code", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(100), nullable=False, unique=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("consecutive_errors", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finance_reference", sa.String(100), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.Text, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("hold_reasons", sa.JSON, nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payments_due", "payments", ["status", "next_attempt_at"])
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.Uuid, sa.ForeignKey("payments.payment_id"), nullable=False, index=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("submission_no", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.drop_table("payment_attempts")
    op.drop_index("ix_payments_due", table_name="payments")
    op.drop_table("payments")
