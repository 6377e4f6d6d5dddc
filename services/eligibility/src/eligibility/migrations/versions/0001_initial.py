"""facts, policies, entitlements, messaging tables

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
        "facts",
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("record_type", sa.String(120), nullable=False),
        sa.Column("effective_date", sa.Date, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_facts_record_type_uscc", "facts", ["record_type", "uscc"])
    op.create_table(
        "policies",
        sa.Column("policy_id", sa.String(120), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entitlements",
        sa.Column("entitlement_id", sa.Uuid, primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("policy_id", sa.String(120), nullable=False, index=True),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("policy_title", sa.String(300), nullable=False),
        sa.Column("benefit_kind", sa.String(30), nullable=False),
        sa.Column("award_key", sa.String(200), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.Column("determined_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_entitlements_uscc_policy", "entitlements", ["uscc", "policy_id"])
    create_messaging_tables(op)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.drop_index("ix_entitlements_uscc_policy", table_name="entitlements")
    op.drop_table("entitlements")
    op.drop_table("policies")
    op.drop_index("ix_facts_record_type_uscc", table_name="facts")
    op.drop_table("facts")
