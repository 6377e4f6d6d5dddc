"""policy-catalog's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables


class Base(DeclarativeBase):
    pass


class PolicyStatus(StrEnum):
    """draft → submitted → published → retired; submitted → draft when withdrawn or rejected."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PUBLISHED = "published"
    RETIRED = "retired"


class PolicyAction(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    REJECT = "reject"
    PUBLISH = "publish"
    RETIRE = "retire"


class PolicyVersion(Base):
    """One version of one policy document. A version's document is frozen once submitted."""

    __tablename__ = "policy_versions"

    policy_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10))  # a PolicyStatus
    title: Mapped[str] = mapped_column(sa.String(300))
    benefit_kind: Mapped[str] = mapped_column(sa.String(30))
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # Versions stored before the lifecycle existed have no recorded actors.
    created_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    published_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    # The day (Asia/Shanghai) from which this version supersedes the previous one.
    effective_from: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    # When `policy.published` went out; None while a published version waits for its
    # effective date (see service.py: eligibility applies what it hears at once).
    announced_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    retired_by: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    # The day (Asia/Shanghai) of retirement: the version is out of force from that day on.
    retired_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    retired_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


class PolicyTransition(Base):
    """One step of a version's lifecycle, who took it and why: the audit trail."""

    __tablename__ = "policy_transitions"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["policy_id", "version"], ["policy_versions.policy_id", "policy_versions.version"], ondelete="CASCADE"
        ),
        sa.Index("ix_policy_transitions_version", "policy_id", "version"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(sa.String(120))
    version: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(20))  # a PolicyAction
    from_status: Mapped[str | None] = mapped_column(sa.String(10), nullable=True)  # None: the version was created
    to_status: Mapped[str] = mapped_column(sa.String(10))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


outbox_table, processed_events_table = messaging_tables(Base.metadata)
