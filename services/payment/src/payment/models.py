"""payment's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
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
    payee_name: Mapped[str] = mapped_column(sa.String(200))
    payee_account_number: Mapped[str] = mapped_column(sa.String(32))
    payee_bank_name: Mapped[str] = mapped_column(sa.String(200))
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


outbox_table, processed_events_table = messaging_tables(Base.metadata)
