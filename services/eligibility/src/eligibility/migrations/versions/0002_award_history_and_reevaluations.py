"""award history, settled entitlements, background re-evaluation jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entitlements") as batch:
        batch.add_column(sa.Column("paid_fen", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "award_history",
        sa.Column("entitlement_id", sa.Uuid, primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("policy_id", sa.String(120), nullable=False),
        sa.Column("award_key", sa.String(200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=False),
        sa.Column("payment_event_id", sa.String(36), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_award_history_uscc_policy", "award_history", ["uscc", "policy_id"])
    op.create_table(
        "reevaluation_jobs",
        sa.Column("job_id", sa.Uuid, primary_key=True),
        sa.Column("policy_id", sa.String(120), nullable=False, index=True),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(10), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("determinations", sa.Integer, nullable=False),
        sa.Column("cursor", sa.String(18), nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reevaluation_jobs_status_created", "reevaluation_jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reevaluation_jobs_status_created", table_name="reevaluation_jobs")
    op.drop_table("reevaluation_jobs")
    op.drop_index("ix_award_history_uscc_policy", table_name="award_history")
    op.drop_table("award_history")
    with op.batch_alter_table("entitlements") as batch:
        batch.drop_column("settled_at")
        batch.drop_column("paid_fen")
