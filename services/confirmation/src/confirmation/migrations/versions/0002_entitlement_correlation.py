"""entitlements keep the correlation id of the push that determined them

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entitlements") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entitlements") as batch:
        batch.drop_column("correlation_id")
