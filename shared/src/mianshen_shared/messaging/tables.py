"""The two tables every service's database has for reliable messaging.

`outbox`: events written in the same transaction as the state they describe; the
relay publishes them and deletes the rows. `processed_events`: ids of consumed
events, so a redelivered event is recognised and dropped.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData, Table


def outbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("message_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def processed_events_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    ]


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare `outbox` and `processed_events` on a service's metadata."""
    outbox = Table("outbox", metadata, *outbox_columns())
    processed = Table("processed_events", metadata, *processed_events_columns())
    return outbox, processed


def create_messaging_tables(op: Any) -> None:
    """For a service's first Alembic migration."""
    op.create_table("outbox", *outbox_columns())
    op.create_table("processed_events", *processed_events_columns())
