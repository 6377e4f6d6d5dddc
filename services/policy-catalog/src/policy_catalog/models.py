"""policy-catalog's tables. ORM classes only; API shapes live in schemas.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mianshen_shared.messaging import messaging_tables


class Base(DeclarativeBase):
    pass


class PolicyVersion(Base):
    """One version of one policy document. A version's document never changes once stored."""

    __tablename__ = "policy_versions"

    policy_id: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10))  # draft / published / retired
    title: Mapped[str] = mapped_column(sa.String(300))
    benefit_kind: Mapped[str] = mapped_column(sa.String(30))
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    retired_reason: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)


outbox_table, processed_events_table = messaging_tables(Base.metadata)
