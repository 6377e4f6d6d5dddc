"""Join the three money-path revisions written side by side (budget and ledger,
公示, instructions and recovery cases) into one head.

Revision ID: 0006_merge_money_path
Revises: 0003_money, 0004_notice, 0005_cases
"""

from __future__ import annotations

revision = "0006_merge_money_path"
down_revision = ("0003_money", "0004_notice", "0005_cases")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
