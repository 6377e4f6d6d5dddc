"""The gateway's own tables: who may call (registered clients, an enterprise's
consents to third parties) and what they did (the audit log). ORM classes only.

The gateway owns this database alone; every other piece of data stays behind the
services it fronts.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# --- audit log (issue 5, G3) ---------------------------------------------------------


class AuditRecord(Base):
    """One audited call: who, what, when and with what result. Append-only and
    hash-chained (gateway.audit); bodies, tokens and account numbers never land here."""

    __tablename__ = "audit_log"

    # The chain position: gap-free, starting at 1, so a deleted row shows as a gap.
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    principal_kind: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(256))
    department: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    enterprise: Mapped[str | None] = mapped_column(sa.String(18), nullable=True)
    method: Mapped[str] = mapped_column(sa.String(8))
    route: Mapped[str] = mapped_column(sa.String(256))
    path: Mapped[str] = mapped_column(sa.String(512))
    query: Mapped[str] = mapped_column(sa.String(1024))
    uscc: Mapped[str | None] = mapped_column(sa.String(18), nullable=True, index=True)
    status: Mapped[int] = mapped_column(sa.SmallInteger)
    problem_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    request_id: Mapped[str] = mapped_column(sa.String(128))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    # The audit key whose HMAC `hash` is; NULL only for records from before keyed chains.
    key_id: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditHead(Base):
    """The chain's single head row: writers lock it to take the next sequence number,
    and the verifier compares it with the last record, so a cut-off tail shows too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))


# --- clients and consents (issue 5, authentication) --------------------------------


class Client(Base):
    """A registered caller of the gateway. Secrets are stored only as argon2id hashes;
    `previous_secret_hash` keeps the old secret working while a rotation is rolled out."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    department: Mapped[str | None] = mapped_column(sa.String(32))
    roles: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    secret_hash: Mapped[str | None] = mapped_column(sa.String(256))
    previous_secret_hash: Mapped[str | None] = mapped_column(sa.String(256))
    # Front ends only: [{"kid": ..., "public_key": <Ed25519 PEM>}] that sign enterprise assertions.
    assertion_keys: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Consent(Base):
    """An enterprise's grant to one third-party app to read its eligibility summary;
    revoking keeps the row, so who granted and who revoked stays on record."""

    __tablename__ = "consents"
    __table_args__ = (sa.Index("ix_consents_uscc_client", "uscc", "client_id"),)

    consent_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    client_id: Mapped[str] = mapped_column(sa.String(64))
    granted_by: Mapped[str] = mapped_column(sa.String(200))
    granted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(sa.String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
