"""confirmation's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables


class Base(DeclarativeBase):
    pass


class Entitlement(Base):
    """The enterprise-facing view of one entitlement, from determination to payment."""

    __tablename__ = "entitlements"

    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    enterprise_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    policy_id: Mapped[str] = mapped_column(sa.String(120))
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    policy_title: Mapped[str] = mapped_column(sa.String(300))
    award_key: Mapped[str] = mapped_column(sa.String(120))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    benefit_kind: Mapped[str] = mapped_column(sa.String(20))
    explanation: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(30))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    finance_reference: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    determined_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # The department push's correlation id, carried on by the events the enterprise's answer causes.
    correlation_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True, default=None)
    # Its W3C trace context, for the same reason: the answer continues the push's trace.
    traceparent: Mapped[str | None] = mapped_column(sa.String(55), nullable=True, default=None)
    # money path (issue 4): the status as the enterprise reads it when it carries a
    # date or a reason (公示中（至X月X日）); None means the status's fixed text.
    status_text: Mapped[str | None] = mapped_column(sa.String(300), nullable=True, default=None)


class StatusEvent(Base):
    """One step in an entitlement's history, shown to the enterprise with its time."""

    __tablename__ = "entitlement_status_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("entitlements.entitlement_id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(30))
    kind: Mapped[str] = mapped_column(sa.String(60))
    note: Mapped[str] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    occurred_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Confirmation(Base):
    """意愿确认 — the request to the enterprise to confirm it wants the benefit."""

    __tablename__ = "confirmations"
    # The expiry sweep looks for pending requests past their deadline.
    __table_args__ = (sa.Index("ix_confirmations_status_deadline", "status", "deadline"),)

    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("entitlements.entitlement_id"), unique=True
    )
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    deadline: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(20))
    account_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    bank_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    close_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # money path (issue 4): the account is kept only sealed and masked; the plaintext
    # column is gone. Each acceptance has its own id (decline then accept again).
    account_number_sealed: Mapped[str | None] = mapped_column(sa.String(200), nullable=True, default=None)
    account_number_masked: Mapped[str | None] = mapped_column(sa.String(40), nullable=True, default=None)
    bank_account_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, default=None)
    acceptance_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, default=None)
    # Once the payment is submitted to the finance system, the answer is final.
    payment_submitted: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


# --- money path (issue 4): saved accounts, reminders, front-end notifications ----------


class SavedBankAccount(Base):
    """An account an enterprise paid into before, offered again; never in plaintext."""

    __tablename__ = "bank_accounts"

    account_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    account_name: Mapped[str] = mapped_column(sa.String(200))
    bank_name: Mapped[str] = mapped_column(sa.String(200))
    account_number_sealed: Mapped[str] = mapped_column(sa.String(200))
    account_number_masked: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ReminderSent(Base):
    """A reminder claimed for one request, deadline and lead time: the primary key is
    what keeps a restart or a second replica from reminding twice."""

    __tablename__ = "confirmation_reminders"

    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    deadline: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    days_before: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Notification(Base):
    """A message to the enterprise through the front ends (亲清在线, 郑好办), written in
    the transaction of the change it tells about and delivered by the notify worker."""

    __tablename__ = "notifications"
    # The worker looks for pending notifications that are due.
    __table_args__ = (sa.Index("ix_notifications_status_due", "status", "next_attempt_at"),)

    notification_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.String(1000))
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    confirmation_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Front ends that already took it, so a retry goes only to the others.
    delivered_to: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    last_error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)


outbox_table, processed_events_table = messaging_tables(Base.metadata)
