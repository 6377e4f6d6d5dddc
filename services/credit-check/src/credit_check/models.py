"""credit-check's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables


class Base(DeclarativeBase):
    pass


class CreditRecord(Base):
    """A 失信 (or red-list) record pushed by the credit department."""

    __tablename__ = "credit_records"

    record_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    record_type: Mapped[str] = mapped_column(sa.String(120))
    list_kind: Mapped[str] = mapped_column(sa.String(10))  # black / red
    department: Mapped[str] = mapped_column(sa.String(64))
    effective_date: Mapped[date] = mapped_column(sa.Date)
    expires_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Assessment(Base):
    """One credit decision for one acceptance, and the records it rested on.

    An acceptance has one assessment, plus one more each time a hold is released:
    the history of decisions stays, the newest is the one in force."""

    __tablename__ = "assessments"

    assessment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    decision: Mapped[str] = mapped_column(sa.String(10))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    assessed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # Credit standing (0002): None only on decisions made before acceptances had ids.
    acceptance_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, index=True)
    red_records: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    supersedes: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)


class Acceptance(Base):
    """An acceptance as credit-check was told it, kept so a hold can be released later
    with the same entitlement, amount and sealed account (never opened here)."""

    __tablename__ = "acceptances"
    __table_args__ = (sa.Index("ix_acceptances_decision", "decision"),)

    acceptance_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    accepted: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the ConfirmationAccepted payload
    decision: Mapped[str] = mapped_column(sa.String(10))  # the decision in force: cleared / held
    assessment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)  # the assessment in force
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


outbox_table, processed_events_table = messaging_tables(Base.metadata)
