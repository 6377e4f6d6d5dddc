"""credit records, assessments, messaging tables

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
        "credit_records",
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("record_type", sa.String(120), nullable=False),
        sa.Column("list_kind", sa.String(10), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("effective_date", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "assessments",
        sa.Column("assessment_id", sa.Uuid, primary_key=True),
        sa.Column("confirmation_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, index=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.drop_table("assessments")
    op.drop_table("credit_records")
