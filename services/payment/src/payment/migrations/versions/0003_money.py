"""money core: sealed payee accounts, budgets, the credit replica, the ledger, reconciliation

The plaintext account number column is dropped, not migrated: no production data
exists yet, so there is nothing to seal. From here on a payment keeps only the
sealed number (and a masked one for display).

On PostgreSQL the ledger and the budget history refuse UPDATE and DELETE, and a
deferred constraint trigger refuses any journal whose debits and credits differ
at commit. SQLite gets the append-only triggers; the balance is checked in code
(ledger.post) and by the tests.

Revision ID: 0003_money
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_money"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("ledger_entries", "budget_changes")

_PG_FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION money_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: correct it with a new row', TG_TABLE_NAME;
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE OR REPLACE FUNCTION ledger_journal_balanced() RETURNS trigger AS $$
    DECLARE
        debits bigint;
        credits bigint;
    BEGIN
        SELECT coalesce(sum(debit_fen), 0), coalesce(sum(credit_fen), 0) INTO debits, credits
        FROM ledger_entries WHERE journal_id = NEW.journal_id;
        IF debits <> credits THEN
            RAISE EXCEPTION 'journal % does not balance: debits % <> credits %', NEW.journal_id, debits, credits;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
]


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("payee_account_sealed", sa.String(512), nullable=True))
        batch.add_column(sa.Column("payee_account_masked", sa.String(40), nullable=True))
        batch.add_column(sa.Column("budget_year", sa.Integer, nullable=True))
        batch.add_column(sa.Column("budget_state", sa.String(10), nullable=True))
        batch.add_column(sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("payee_name", existing_type=sa.String(200), nullable=True)
        batch.alter_column("payee_bank_name", existing_type=sa.String(200), nullable=True)
        batch.drop_column("payee_account_number")
        batch.create_index("ix_payments_budget_wait", ["policy_id", "budget_year", "budget_state"])
    op.create_table(
        "budgets",
        sa.Column("policy_id", sa.String(128), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("budget_code", sa.String(64), nullable=True),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("reserved_fen", sa.BigInteger, nullable=False),
        sa.Column("spent_fen", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "total_fen >= 0 AND reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= total_fen",
            name="ck_budgets_within_total",
        ),
    )
    op.create_table(
        "budget_changes",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("policy_id", sa.String(128), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("previous_total_fen", sa.BigInteger, nullable=True),
        sa.Column("total_fen", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "credit_standings",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("black_records", sa.JSON, nullable=False),
        sa.Column("red_records", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("journal_id", sa.Uuid, nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("debit_fen", sa.BigInteger, nullable=False),
        sa.Column("credit_fen", sa.BigInteger, nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("reverses_journal_id", sa.Uuid, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("journal_id", "line_no", name="uq_ledger_entries_line"),
        sa.CheckConstraint(
            "debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0) <> (credit_fen = 0)",
            name="ck_ledger_entries_one_side",
        ),
    )
    op.create_index("ix_ledger_entries_payment", "ledger_entries", ["payment_id"])
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["account"])
    # A journal is reversed at most once: its reversal's first line is unique.
    op.create_index(
        "uq_ledger_entries_one_reversal",
        "ledger_entries",
        ["reverses_journal_id"],
        unique=True,
        postgresql_where=sa.text("line_no = 1 AND reverses_journal_id IS NOT NULL"),
        sqlite_where=sa.text("line_no = 1 AND reverses_journal_id IS NOT NULL"),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("run_id", sa.Uuid, primary_key=True),
        sa.Column("statement_date", sa.Date, nullable=False, index=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("statement_count", sa.Integer, nullable=False),
        sa.Column("statement_total_fen", sa.BigInteger, nullable=False),
        sa.Column("our_count", sa.Integer, nullable=False),
        sa.Column("our_total_fen", sa.BigInteger, nullable=False),
        sa.Column("difference_count", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", _BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Uuid, sa.ForeignKey("reconciliation_runs.run_id"), nullable=False, index=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("payment_id", sa.Uuid, nullable=True),
        sa.Column("our_amount_fen", sa.BigInteger, nullable=True),
        sa.Column("finance_amount_fen", sa.BigInteger, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_FUNCTIONS:
            op.execute(statement)
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION money_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION money_append_only()"
            )
        op.execute(
            "CREATE CONSTRAINT TRIGGER ledger_journal_balanced AFTER INSERT ON ledger_entries "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced()"
        )
    else:
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_journal_balanced ON ledger_entries")
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_table("reconciliation_differences")
    op.drop_table("reconciliation_runs")
    op.drop_index("uq_ledger_entries_one_reversal", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_account", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_payment", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("credit_standings")
    op.drop_table("budget_changes")
    op.drop_table("budgets")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_journal_balanced()")
        op.execute("DROP FUNCTION IF EXISTS money_append_only()")
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_budget_wait")
        # The plaintext number is gone; the column comes back empty.
        batch.add_column(sa.Column("payee_account_number", sa.String(32), nullable=False, server_default=""))
        batch.drop_column("returned_at")
        batch.drop_column("budget_state")
        batch.drop_column("budget_year")
        batch.drop_column("payee_account_masked")
        batch.drop_column("payee_account_sealed")
