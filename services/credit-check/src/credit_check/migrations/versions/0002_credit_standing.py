"""credit standing: acceptances kept for release, assessments per acceptance, red records

Revision ID: 0002_credit_standing
Revises: 0001
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_credit_standing"
down_revision = "0001"
branch_labels = None
depends_on = None


def _assessments_as_of_0001() -> sa.Table:
    """The table as 0001 made it, minus the unique confirmation id: SQLite cannot drop
    an unnamed constraint, so its batch copy is built from this definition instead."""
    return sa.Table(
        "assessments",
        sa.MetaData(),
        sa.Column("assessment_id", sa.Uuid, primary_key=True),
        sa.Column("confirmation_id", sa.Uuid, nullable=False),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, index=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
    )


def upgrade() -> None:
    # A re-acceptance and every release are further assessments of one confirmation.
    new_columns = [
        sa.Column("acceptance_id", sa.Uuid, nullable=True),
        sa.Column("red_records", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("supersedes", sa.Uuid, nullable=True),
    ]
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("assessments_confirmation_id_key", "assessments", type_="unique")
        for column in new_columns:
            op.add_column("assessments", column)
    else:
        with op.batch_alter_table("assessments", recreate="always", copy_from=_assessments_as_of_0001()) as batch:
            for column in new_columns:
                batch.add_column(column)
    op.create_index("ix_assessments_confirmation_id", "assessments", ["confirmation_id"])
    op.create_index("ix_assessments_acceptance_id", "assessments", ["acceptance_id"])
    op.create_table(
        "acceptances",
        sa.Column("acceptance_id", sa.Uuid, primary_key=True),
        sa.Column("confirmation_id", sa.Uuid, nullable=False),
        sa.Column("entitlement_id", sa.Uuid, nullable=False, index=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("accepted", sa.JSON, nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("assessment_id", sa.Uuid, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The release sweep looks for held acceptances.
    op.create_index("ix_acceptances_decision", "acceptances", ["decision"])


def downgrade() -> None:
    op.drop_index("ix_acceptances_decision", table_name="acceptances")
    op.drop_table("acceptances")
    op.drop_index("ix_assessments_acceptance_id", table_name="assessments")
    op.drop_index("ix_assessments_confirmation_id", table_name="assessments")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("supersedes")
        batch.drop_column("red_records")
        batch.drop_column("acceptance_id")
        batch.create_unique_constraint("assessments_confirmation_id_key", ["confirmation_id"])
