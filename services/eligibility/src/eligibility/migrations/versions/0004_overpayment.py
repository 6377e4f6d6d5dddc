"""回头看: overpayments found on paid entitlements, one row per entitlement and amount due

Revision ID: 0004_overpayment
Revises: 0003
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_overpayment"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overpayments",
        sa.Column("entitlement_id", sa.Uuid, nullable=False),
        sa.Column("due_fen", sa.BigInteger, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("policy_id", sa.String(120), nullable=False),
        sa.Column("paid_fen", sa.BigInteger, nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entitlement_id", "due_fen"),
    )


def downgrade() -> None:
    op.drop_table("overpayments")
