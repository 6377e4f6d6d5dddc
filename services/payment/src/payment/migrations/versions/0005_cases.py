"""non-cash execution instructions (减免指令) and 回头看 recovery cases

Revision ID: 0005_cases
Revises: 0002
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_cases"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "execution_instructions",
        sa.Column("instruction_id", sa.Uuid, primary_key=True),
        sa.Column("acceptance_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, index=True),
        sa.Column("assessment_id", sa.Uuid, nullable=False),
        sa.Column("confirmation_id", sa.Uuid, nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("benefit_kind", sa.String(32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("executing_department", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hold_reasons", sa.JSON, nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("executed_on", sa.Date, nullable=True),
        sa.Column("executed_amount_fen", sa.BigInteger, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("refusal_reason", sa.Text, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_execution_instructions_department", "execution_instructions", ["executing_department", "status"]
    )
    op.create_table(
        "recovery_cases",
        sa.Column("case_id", sa.Uuid, primary_key=True),
        sa.Column("entitlement_id", sa.Uuid, nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=False, index=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("award_key", sa.String(200), nullable=False),
        sa.Column("paid_fen", sa.BigInteger, nullable=False),
        sa.Column("due_fen", sa.BigInteger, nullable=False),
        sa.Column("overpaid_fen", sa.BigInteger, nullable=False),
        sa.Column("recovered_fen", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("explanation", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("proposed_action", sa.String(16), nullable=True),
        sa.Column("proposed_by", sa.String(64), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("entitlement_id", "due_fen", name="uq_recovery_cases_entitlement_due"),
    )
    op.create_table(
        "recovery_case_history",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("recovery_cases.case_id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "recovery_repayments",
        sa.Column("repayment_id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, sa.ForeignKey("recovery_cases.case_id"), nullable=False, index=True),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("journal_id", sa.String(100), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_id", "reference", name="uq_recovery_repayments_reference"),
    )


def downgrade() -> None:
    op.drop_table("recovery_repayments")
    op.drop_table("recovery_case_history")
    op.drop_table("recovery_cases")
    op.drop_index("ix_execution_instructions_department", table_name="execution_instructions")
    op.drop_table("execution_instructions")
