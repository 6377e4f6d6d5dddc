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
    # Set once the finance system has paid it: a settled entitlement is history, never
    # changed or withdrawn by a later evaluation (recovering an overpayment is 回头看's).
    paid_fen: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True, default=None)
    settled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True, default=None)


class AwardHistory(Base):
    """What a policy has already paid an enterprise for one award key, from `payment.issued`.

    The rule engine decides 级差, caps, 首次 and 不重复 against these rows; one row per
    entitlement, so a repeated payment event can never count twice.
    """

    __tablename__ = "award_history"
    __table_args__ = (sa.Index("ix_award_history_uscc_policy", "uscc", "policy_id"),)

    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    policy_id: Mapped[str] = mapped_column(sa.String(120))
    award_key: Mapped[str] = mapped_column(sa.String(200))
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)
    paid_on: Mapped[date] = mapped_column(sa.Date)  # Asia/Shanghai
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    payment_event_id: Mapped[str] = mapped_column(sa.String(36))
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ReevaluationJob(Base):
    """One policy re-checked against every enterprise it may concern, in chunks.

    `cursor` is the last enterprise (by USCC) whose chunk committed, so a worker that
    dies resumes after it; the chunk's determinations and this progress share a transaction.
    """

    __tablename__ = "reevaluation_jobs"
    __table_args__ = (sa.Index("ix_reevaluation_jobs_status_created", "status", "created_at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    policy_id: Mapped[str] = mapped_column(sa.String(120), index=True)
    policy_version: Mapped[int] = mapped_column(sa.Integer)
    reason: Mapped[str] = mapped_column(sa.String(10))  # published / retired / manual
    note: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(12))  # queued / running / done / failed / superseded
    total: Mapped[int] = mapped_column(sa.Integer)
    done: Mapped[int] = mapped_column(sa.Integer)
    determinations: Mapped[int] = mapped_column(sa.Integer)
    cursor: Mapped[str | None] = mapped_column(sa.String(18), nullable=True)
    correlation_id: Mapped[str] = mapped_column(sa.String(200))
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class FeedDay(Base):
    """数据共享督办: how many records one department pushed on one day (Asia/Shanghai)
    of one record type, with one outcome — accepted, or rejected for one reason.

    One row per reason rather than a JSON object of reason counts: every writer (the
    consumer's handler, the dead-letter hook, any replica) adds to a row with one
    atomic upsert, on PostgreSQL and SQLite alike, with no read-modify-write.
    """

    __tablename__ = "feed_days"
    __table_args__ = (sa.Index("ix_feed_days_day", "day"),)

    department: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    record_type: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # "" when unreadable
    outcome: Mapped[str] = mapped_column(sa.String(10), primary_key=True)  # accepted / rejected
    reason: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # "" for accepted
    records: Mapped[int] = mapped_column(sa.Integer)
    first_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


# --- 回头看 (overpayment detection) ------------------------------------------------


class Overpayment(Base):
    """回头看: a paid entitlement found to be owed less after its facts were corrected
    or revoked. One row per entitlement and amount now due, so the same finding is
    announced once however often it is made again."""

    __tablename__ = "overpayments"

    entitlement_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    due_fen: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), index=True)
    policy_id: Mapped[str] = mapped_column(sa.String(120))
    paid_fen: Mapped[int] = mapped_column(sa.BigInteger)
    record_id: Mapped[str] = mapped_column(sa.String(128))  # the corrected or revoked record
    reason: Mapped[str] = mapped_column(sa.Text)
    detected_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


outbox_table, processed_events_table = messaging_tables(Base.metadata)
