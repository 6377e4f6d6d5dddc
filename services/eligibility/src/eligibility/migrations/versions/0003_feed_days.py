"""数据共享督办: records pushed per department, day, record type and outcome

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_days",
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("record_type", sa.String(120), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("department", "day", "record_type", "outcome", "reason"),
    )
    # The overview reads a window of recent days for every department.
    op.create_index("ix_feed_days_day", "feed_days", ["day"])


def downgrade() -> None:
    op.drop_index("ix_feed_days_day", table_name="feed_days")
    op.drop_table("feed_days")
