"""公示: a payment's stage and notice period, objections to it, and the policy terms behind it

Revision ID: 0004_notice
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_notice"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("acceptance_id", sa.Uuid, nullable=True))
        batch.add_column(sa.Column("stage", sa.String(20), nullable=True))
        batch.add_column(sa.Column("stage_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("notice_batch", sa.String(160), nullable=True))
        batch.add_column(sa.Column("notice_started_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("notice_until", sa.Date, nullable=True))
        batch.add_column(sa.Column("notice_ends_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("notice_working_days", sa.Integer, nullable=True))
        batch.add_column(sa.Column("notice_basis", sa.String(16), nullable=True))
        batch.add_column(sa.Column("notice_basis_reason", sa.Text, nullable=True))
        batch.create_index("ix_payments_notice_batch", ["notice_batch"])
        batch.create_index("ix_payments_notice_due", ["stage", "notice_ends_at"])
    op.create_table(
        "policy_terms",
        sa.Column("policy_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("benefit_kind", sa.String(32), nullable=False),
        sa.Column("notice_working_days", sa.Integer, nullable=False),
        sa.Column("red_list_notice_working_days", sa.Integer, nullable=False),
        sa.Column("executing_department", sa.String(32), nullable=True),
        sa.Column("confirmation_days", sa.Integer, nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "notice_objections",
        sa.Column("objection_id", sa.Uuid, primary_key=True),
        sa.Column("payment_id", sa.Uuid, sa.ForeignKey("payments.payment_id"), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("contact", sa.String(100), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_notice_objections_status", "notice_objections", ["status", "raised_at"])
    op.create_table(
        "revoked_acceptances",
        sa.Column("acceptance_id", sa.Uuid, primary_key=True),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("revoked_acceptances")
    op.drop_index("ix_notice_objections_status", table_name="notice_objections")
    op.drop_table("notice_objections")
    op.drop_table("policy_terms")
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_notice_due")
        batch.drop_index("ix_payments_notice_batch")
        for column in (
            "notice_basis_reason",
            "notice_basis",
            "notice_working_days",
            "notice_ends_at",
            "notice_until",
            "notice_started_on",
            "notice_batch",
            "stage_reason",
            "stage",
            "acceptance_id",
        ):
            batch.drop_column(column)
