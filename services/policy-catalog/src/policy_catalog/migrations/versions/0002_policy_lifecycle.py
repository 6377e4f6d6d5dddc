"""policy lifecycle: actors, the version's effective date, the transition audit trail

Versions published before this revision take effect from the day they were
published (Asia/Shanghai), or from their document's start date if that is later,
which is the rule a publication without an explicit date follows from now on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SHANGHAI = ZoneInfo("Asia/Shanghai")
_versions = sa.table(
    "policy_versions",
    sa.column("policy_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("document", sa.JSON),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("retired_at", sa.DateTime(timezone=True)),
    sa.column("effective_from", sa.Date),
    sa.column("retired_on", sa.Date),
)


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submitted_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("published_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("effective_from", sa.Date, nullable=True))
        batch.add_column(sa.Column("retired_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("retired_on", sa.Date, nullable=True))
    op.create_table(
        "policy_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("policy_id", sa.String(120), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(10), nullable=True),
        sa.Column("to_status", sa.String(10), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["policy_id", "version"], ["policy_versions.policy_id", "policy_versions.version"], ondelete="CASCADE"
        ),
    )
    op.create_index("ix_policy_transitions_version", "policy_transitions", ["policy_id", "version"])
    _backfill_dates()


def _shanghai_date(moment: datetime) -> date:
    if moment.tzinfo is None:  # SQLite hands timestamps back without their zone; they are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).date()


def _backfill_dates() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _versions.c.policy_id,
            _versions.c.version,
            _versions.c.document,
            _versions.c.published_at,
            _versions.c.retired_at,
        ).where(_versions.c.published_at.is_not(None))
    )
    for policy_id, version, document, published_at, retired_at in rows.all():
        published_on = _shanghai_date(published_at)
        conn.execute(
            sa.update(_versions)
            .where(_versions.c.policy_id == policy_id, _versions.c.version == version)
            .values(
                effective_from=max(published_on, date.fromisoformat(document["effective"]["from"])),
                retired_on=_shanghai_date(retired_at) if retired_at is not None else None,
            )
        )


def downgrade() -> None:
    op.drop_index("ix_policy_transitions_version", table_name="policy_transitions")
    op.drop_table("policy_transitions")
    with op.batch_alter_table("policy_versions") as batch:
        for column in (
            "retired_on",
            "retired_by",
            "effective_from",
            "published_by",
            "submitted_by",
            "submitted_at",
            "created_by",
        ):
            batch.drop_column(column)
