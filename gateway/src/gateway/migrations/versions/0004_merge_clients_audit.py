"""Join the two revisions written side by side (registered clients and consents,
the audit log) into one head.

Revision ID: 0004_merge_clients_audit
Revises: 0002_clients, 0003_audit
"""

from __future__ import annotations

revision = "0004_merge_clients_audit"
down_revision = ("0002_clients", "0003_audit")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
