"""eligibility's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables


class Base(DeclarativeBase):
    pass


class Fact(Base):
    """The latest state of one department record about one enterprise."""

    __tablename__ = "facts"
    __table_args__ = (sa.Index("ix_facts_record_type_uscc", "record_type", "uscc"),)

    record_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    department: Mapped[str] = mapped_column(sa.String(64))
    record_type: Mapped[str] = mapped_column(sa.String(120))
    effective_date: Mapped[date] = mapped_column(sa.Date)
    attributes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    enterprise_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    revoked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Policy(Base):
    """The newest version of a policy this service has been told about."""

    __tablename__ = "policies"

    policy_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(300))
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(10), index=True)  # published / retired
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Entitlement(Base):
    """One determination: this enterprise gets this amount under this policy for this award key."""

    __tablename__ = "entitlements"
    __table_args__ = (sa.Index("ix_entitlements_uscc_policy", "uscc", "policy_id"),)

    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    policy_id: Mapped[str] = mapped_column(sa.String(120), index=True)
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    policy_title: Mapped[str] = mapped_column(sa.String(300))
    benefit_kind: Mapped[str] = mapped_column(sa.String(30))
    award_key: Mapped[str] = mapped_column(sa.String(200))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(10))  # active / withdrawn
    explanation: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    determined_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


outbox_table, processed_events_table = messaging_tables(Base.metadata)
