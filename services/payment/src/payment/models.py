"""payment's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables

PENDING, SUBMITTED, UNKNOWN = "pending", "submitted", "unknown"
SUCCEEDED, FAILED, HELD = "succeeded", "failed", "held"
TERMINAL = frozenset({SUCCEEDED, FAILED, HELD})


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC in and out; SQLite would otherwise hand back naive values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Payment(Base):
    """One payment per accepted entitlement, and where it stands with the finance system.

    `idempotency_key` is fixed when the row is created and sent with every
    submission, so however often we retry the finance system settles it once.
    """

    __tablename__ = "payments"
    __table_args__ = (sa.Index("ix_payments_due", "status", "next_attempt_at"),)

    payment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    assessment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    enterprise_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    policy_id: Mapped[str] = mapped_column(sa.String(128))
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    # The payee's account as it travels (catalog.SealedBankAccount): the number only
    # sealed, opened just to build the finance instruction. Empty for non-cash benefits.
    payee_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    payee_account_sealed: Mapped[str | None] = mapped_column(sa.String(512), nullable=True, default=None)
    payee_account_masked: Mapped[str | None] = mapped_column(sa.String(40), nullable=True, default=None)
    payee_bank_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    # Frozen at the first submission: a later settings change must not alter the
    # body sent under an idempotency key the finance system has already seen.
    payer_budget_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(100), unique=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    consecutive_errors: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finance_reference: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    hold_reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    correlation_id: Mapped[str] = mapped_column(sa.String(200))
    # The credit decision's W3C trace context: the payment's events continue that trace.
    traceparent: Mapped[str | None] = mapped_column(sa.String(55), nullable=True, default=None)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # --- 公示, objections and the enterprise's change of mind (notice.py) ---
    # `stage` gates the worker: a payment in notice or under objection is never claimed,
    # whatever its `status`; cancelled/withdrawn payments leave `status` for good.
    acceptance_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, default=None)
    stage: Mapped[str | None] = mapped_column(sa.String(20), nullable=True, default=None)
    stage_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default=None)
    notice_batch: Mapped[str | None] = mapped_column(sa.String(160), nullable=True, default=None, index=True)
    notice_started_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True, default=None)
    notice_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True, default=None)
    notice_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    notice_working_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True, default=None)
    notice_basis: Mapped[str | None] = mapped_column(sa.String(16), nullable=True, default=None)
    notice_basis_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default=None)
    # --- money core: budget reservation and the credit gate at submission (budget.py, credit.py) ---
    # The fiscal year whose budget this payment draws on, and where its share stands:
    # None (never reserved), reserved, spent or released. Reserved at most once.
    budget_year: Mapped[int | None] = mapped_column(sa.Integer, nullable=True, default=None)
    budget_state: Mapped[str | None] = mapped_column(sa.String(10), nullable=True, default=None)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)


class PaymentAttempt(Base):
    """Append-only log of every call made to the finance system and what came of it."""

    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("payments.payment_id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(10))  # submit / query
    submission_no: Mapped[int] = mapped_column(sa.Integer)
    outcome: Mapped[str] = mapped_column(sa.String(20))
    http_status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- non-cash instructions and 回头看 recovery cases (instructions.py, recovery.py) ---

INSTRUCTION_HELD, INSTRUCTION_ISSUED, INSTRUCTION_ACKNOWLEDGED = "held", "issued", "acknowledged"
INSTRUCTION_REFUSED, INSTRUCTION_CANCELLED = "refused", "cancelled"
CASE_OPEN, CASE_PROPOSED, CASE_RECOVERING = "open", "proposed", "recovering"
CASE_RECOVERED, CASE_WAIVED = "recovered", "waived"


class ExecutionInstruction(Base):
    """减免指令 — a non-cash benefit the executing department carries out; one per acceptance."""

    __tablename__ = "execution_instructions"
    __table_args__ = (sa.Index("ix_execution_instructions_department", "executing_department", "status"),)

    instruction_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    acceptance_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    assessment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    enterprise_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    policy_id: Mapped[str] = mapped_column(sa.String(128))
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    benefit_kind: Mapped[str] = mapped_column(sa.String(32))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    executing_department: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    hold_reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    reference: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    executed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    executed_amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    refusal_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    correlation_id: Mapped[str] = mapped_column(sa.String(200))
    traceparent: Mapped[str | None] = mapped_column(sa.String(55), nullable=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCase(Base):
    """回头看 — money paid beyond what corrected facts support, awaiting a decision."""

    __tablename__ = "recovery_cases"
    __table_args__ = (sa.UniqueConstraint("entitlement_id", "due_fen", name="uq_recovery_cases_entitlement_due"),)

    case_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    enterprise_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    policy_id: Mapped[str] = mapped_column(sa.String(128))
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    award_key: Mapped[str] = mapped_column(sa.String(200))
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger)
    due_fen: Mapped[int] = mapped_column(sa.BigInteger)
    overpaid_fen: Mapped[int] = mapped_column(sa.BigInteger)
    recovered_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    reason: Mapped[str] = mapped_column(sa.Text)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    proposed_action: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    proposed_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCaseEntry(Base):
    """Append-only history of a recovery case: who did what, when and why."""

    __tablename__ = "recovery_case_history"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("recovery_cases.case_id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryRepayment(Base):
    """Money the enterprise returned on an approved recovery, once per bank reference."""

    __tablename__ = "recovery_repayments"
    __table_args__ = (sa.UniqueConstraint("case_id", "reference", name="uq_recovery_repayments_reference"),)

    repayment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("recovery_cases.case_id"), index=True)
    reference: Mapped[str] = mapped_column(sa.String(100))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    received_on: Mapped[date] = mapped_column(sa.Date)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    journal_id: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- 公示, objections and policy terms (notice.py, terms.py) ---

CANCELLED, WITHDRAWN = "cancelled", "withdrawn"
IN_NOTICE, OBJECTED, STAGE_PENDING = "in_notice", "objected", "pending"
# Stages in which the worker must leave a payment alone.
UNCLAIMABLE_STAGES = (IN_NOTICE, OBJECTED)
OBJECTION_OPEN, OBJECTION_UPHELD, OBJECTION_DISMISSED = "open", "upheld", "dismissed"

# The notice sweep's question: which notices have ended?
sa.Index("ix_payments_notice_due", Payment.stage, Payment.notice_ends_at)


class PolicyTerms(Base):
    """The procedure a policy version prescribes for paying out (公示期, 守信激励, …)."""

    __tablename__ = "policy_terms"

    policy_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    benefit_kind: Mapped[str] = mapped_column(sa.String(32))
    notice_working_days: Mapped[int] = mapped_column(sa.Integer)
    red_list_notice_working_days: Mapped[int] = mapped_column(sa.Integer)
    executing_department: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    confirmation_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)


class NoticeObjection(Base):
    """异议 — anyone's objection to a payment in public notice, and the operator's decision."""

    __tablename__ = "notice_objections"
    __table_args__ = (sa.Index("ix_notice_objections_status", "status", "raised_at"),)

    objection_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("payments.payment_id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    contact: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, default=None)
    decision_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default=None)


class RevokedAcceptance(Base):
    """An acceptance the enterprise took back. Remembered because the revocation
    (topic confirmations) may overtake the credit decision (topic credit-assessments)
    that would otherwise create its payment afterwards."""

    __tablename__ = "revoked_acceptances"

    acceptance_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- money core: budgets, the credit replica, the ledger, reconciliation ---------------
# (budget.py, credit.py, ledger.py, reconcile.py)

RETURNED = "returned"  # settled, then sent back by the bank (reconciliation found it)
CREDIT_HELD, BUDGET_EXHAUSTED, STAGE_SUBMITTED = "credit_held", "budget_exhausted", "submitted"
BUDGET_RESERVED, BUDGET_SPENT, BUDGET_RELEASED = "reserved", "spent", "released"

# Which payments wait on a budget, for the release when it is raised.
sa.Index("ix_payments_budget_wait", Payment.policy_id, Payment.budget_year, Payment.budget_state)


class Budget(Base):
    """A policy's money for one fiscal year (Asia/Shanghai calendar year).

    The CHECK makes overspending impossible whatever the application does: a
    reservation is one conditional UPDATE, and concurrent ones queue on the row."""

    __tablename__ = "budgets"
    __table_args__ = (
        sa.CheckConstraint(
            "total_fen >= 0 AND reserved_fen >= 0 AND spent_fen >= 0 AND reserved_fen + spent_fen <= total_fen",
            name="ck_budgets_within_total",
        ),
    )

    policy_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    budget_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, default=None)
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)
    reserved_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    spent_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    source: Mapped[str] = mapped_column(sa.String(16))  # city / operator / finance
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BudgetChange(Base):
    """Append-only: every allocation set, by whom and why."""

    __tablename__ = "budget_changes"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    policy_id: Mapped[str] = mapped_column(sa.String(128))
    fiscal_year: Mapped[int] = mapped_column(sa.Integer)
    previous_total_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    total_fen: Mapped[int] = mapped_column(sa.BigInteger)
    source: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CreditStanding(Base):
    """Replica of credit-check's CreditStandingChanged: the latest record set per enterprise."""

    __tablename__ = "credit_standings"

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    black_records: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    red_records: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One line of a double-entry journal. Append-only; see ledger.py for the chart."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.UniqueConstraint("journal_id", "line_no", name="uq_ledger_entries_line"),
        sa.CheckConstraint(
            "debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0) <> (credit_fen = 0)",
            name="ck_ledger_entries_one_side",
        ),
        sa.Index("ix_ledger_entries_payment", "payment_id"),
        sa.Index("ix_ledger_entries_account", "account"),
        # A journal is reversed at most once: its reversal's first line is unique.
        sa.Index(
            "uq_ledger_entries_one_reversal",
            "reverses_journal_id",
            unique=True,
            postgresql_where=sa.text("line_no = 1 AND reverses_journal_id IS NOT NULL"),
            sqlite_where=sa.text("line_no = 1 AND reverses_journal_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    journal_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    line_no: Mapped[int] = mapped_column(sa.Integer)
    account: Mapped[str] = mapped_column(sa.String(200))
    debit_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    credit_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    memo: Mapped[str] = mapped_column(sa.Text, default="")
    # Set on every line of a reversing journal: the journal it cancels.
    reverses_journal_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReconciliationRun(Base):
    """对账 — one comparison of the finance system's statement for a day with our books."""

    __tablename__ = "reconciliation_runs"

    run_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    statement_date: Mapped[date] = mapped_column(sa.Date, index=True)
    status: Mapped[str] = mapped_column(sa.String(12))  # completed / failed
    statement_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    statement_total_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    our_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    our_total_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    difference_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReconciliationDifference(Base):
    __tablename__ = "reconciliation_differences"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("reconciliation_runs.run_id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    idempotency_key: Mapped[str] = mapped_column(sa.String(100))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    our_amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    finance_amount_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    detail: Mapped[str] = mapped_column(sa.Text, default="")


outbox_table, processed_events_table = messaging_tables(Base.metadata)
