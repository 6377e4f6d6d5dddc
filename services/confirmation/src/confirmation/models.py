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
    account_number: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    bank_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    close_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


outbox_table, processed_events_table = messaging_tables(Base.metadata)
