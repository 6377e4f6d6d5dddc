"""registered clients and enterprises' consents to third-party apps

Revision ID: 0002_clients
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_clients"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(32), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(256), nullable=True),
        sa.Column("previous_secret_hash", sa.String(256), nullable=True),
        sa.Column("assertion_keys", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "consents",
        sa.Column("consent_id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_consents_uscc_client", "consents", ["uscc", "client_id"])


def downgrade() -> None:
    op.drop_index("ix_consents_uscc_client", table_name="consents")
    op.drop_table("consents")
    op.drop_table("clients")
