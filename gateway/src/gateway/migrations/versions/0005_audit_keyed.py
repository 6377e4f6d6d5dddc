"""audit log: records name the key that authenticates their chain hash

From this revision on every record's `hash` is an HMAC-SHA256 under the audit key
`key_id` (gateway.audit), so someone who can write the database but does not hold
the key cannot append or rewrite records that verify. Records written before it
keep `key_id` NULL and their plain SHA-256 hash; the verifier accepts such records
only before the first keyed one.

Revision ID: 0005_audit_keyed
Revises: 0004_merge_clients_audit
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_keyed"
down_revision = "0004_merge_clients_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("key_id", sa.String(32), nullable=True))


def downgrade() -> None:
    # SQLite rebuilds the table to drop a column, which the append-only triggers
    # (and the chain) would not survive; the column stays on downgrade.
    pass
