"""money path: sealed bank accounts, saved accounts, acceptance ids, reminders and
front-end notifications

The plaintext account numbers already stored are sealed here with the key ring of
the environment (MIANSHEN_ACCOUNT_KEYS, as the service itself reads it), then the
plaintext column is dropped: after this revision no number is readable in the
database.

Revision ID: 0004_money_path
Revises: 0003
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from mianshen_shared.sealing import Sealer, mask_account_number

revision = "0004_money_path"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entitlements") as batch:
        batch.add_column(sa.Column("status_text", sa.String(300), nullable=True))
    with op.batch_alter_table("confirmations") as batch:
        batch.add_column(sa.Column("account_number_sealed", sa.String(200), nullable=True))
        batch.add_column(sa.Column("account_number_masked", sa.String(40), nullable=True))
        batch.add_column(sa.Column("bank_account_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("acceptance_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("payment_submitted", sa.Boolean(), nullable=False, server_default=sa.false()))
    _seal_stored_numbers()
    with op.batch_alter_table("confirmations") as batch:
        batch.drop_column("account_number")

    op.create_table(
        "bank_accounts",
        sa.Column("account_id", sa.Uuid(), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("account_name", sa.String(200), nullable=False),
        sa.Column("bank_name", sa.String(200), nullable=False),
        sa.Column("account_number_sealed", sa.String(200), nullable=False),
        sa.Column("account_number_masked", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bank_accounts_uscc", "bank_accounts", ["uscc"])
    op.create_table(
        "confirmation_reminders",
        sa.Column("confirmation_id", sa.Uuid(), primary_key=True),
        sa.Column("deadline", sa.Date(), primary_key=True),
        sa.Column("days_before", sa.Integer(), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.Uuid(), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("entitlement_id", sa.Uuid(), nullable=True),
        sa.Column("confirmation_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_notifications_uscc", "notifications", ["uscc"])
    op.create_index("ix_notifications_status_due", "notifications", ["status", "next_attempt_at"])


def _seal_stored_numbers() -> None:
    bind = op.get_bind()
    confirmations = sa.table(
        "confirmations",
        sa.column("confirmation_id", sa.Uuid()),
        sa.column("account_number", sa.String()),
        sa.column("account_number_sealed", sa.String()),
        sa.column("account_number_masked", sa.String()),
    )
    rows = bind.execute(
        sa.select(confirmations.c.confirmation_id, confirmations.c.account_number).where(
            confirmations.c.account_number.is_not(None)
        )
    ).all()
    if not rows:
        return
    sealer = Sealer.from_environment()
    for confirmation_id, number in rows:
        bind.execute(
            sa.update(confirmations)
            .where(confirmations.c.confirmation_id == confirmation_id)
            .values(account_number_sealed=sealer.seal(number), account_number_masked=mask_account_number(number))
        )


def downgrade() -> None:
    # The numbers are not put back in plaintext: going down keeps only the masked form.
    op.drop_index("ix_notifications_status_due", "notifications")
    op.drop_index("ix_notifications_uscc", "notifications")
    op.drop_table("notifications")
    op.drop_table("confirmation_reminders")
    op.drop_index("ix_bank_accounts_uscc", "bank_accounts")
    op.drop_table("bank_accounts")
    with op.batch_alter_table("confirmations") as batch:
        batch.add_column(sa.Column("account_number", sa.String(32), nullable=True))
        batch.drop_column("payment_submitted")
        batch.drop_column("acceptance_id")
        batch.drop_column("bank_account_id")
        batch.drop_column("account_number_masked")
        batch.drop_column("account_number_sealed")
    with op.batch_alter_table("entitlements") as batch:
        batch.drop_column("status_text")
