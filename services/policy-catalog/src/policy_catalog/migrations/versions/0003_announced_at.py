"""announce a published version when it takes effect: policy_versions.announced_at

Before this revision publishing sent `policy.published` at once, so every version
published so far has been announced, at the moment it was published.
Downgrading forgets which published versions still wait for their day; the older
code announced only at publication, so those would then never be announced.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_versions = sa.table(
    "policy_versions",
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("announced_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        sa.update(_versions).where(_versions.c.published_at.is_not(None)).values(announced_at=_versions.c.published_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("announced_at")
