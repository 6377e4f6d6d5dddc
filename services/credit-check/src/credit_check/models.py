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
    """One credit decision for one accepted entitlement, and the records it rested on."""

    __tablename__ = "assessments"

    assessment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    confirmation_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    decision: Mapped[str] = mapped_column(sa.String(10))
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    assessed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


outbox_table, processed_events_table = messaging_tables(Base.metadata)
