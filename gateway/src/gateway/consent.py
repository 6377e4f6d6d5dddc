"""An enterprise's consents to third-party apps: granted and revoked through its
front end, checked on every third-party read. All SQL for the consents table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Consent


async def active(session: AsyncSession, uscc: str, client_id: str) -> Consent | None:
    stmt = (
        select(Consent)
        .where(Consent.uscc == uscc, Consent.client_id == client_id, Consent.revoked_at.is_(None))
        .order_by(Consent.granted_at.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def grant(session: AsyncSession, *, uscc: str, client_id: str, actor: str) -> Consent:
    """Granting twice keeps the first grant: the answer is the same consent."""
    existing = await active(session, uscc, client_id)
    if existing is not None:
        return existing
    consent = Consent(
        consent_id=str(uuid.uuid4()),
        uscc=uscc,
        client_id=client_id,
        granted_by=actor,
        granted_at=datetime.now(UTC),
        revoked_by=None,
        revoked_at=None,
    )
    session.add(consent)
    return consent


async def revoke(session: AsyncSession, *, uscc: str, client_id: str, actor: str) -> Consent | None:
    consent = await active(session, uscc, client_id)
    if consent is not None:
        consent.revoked_at = datetime.now(UTC)
        consent.revoked_by = actor
    return consent


async def list_active(session: AsyncSession, uscc: str) -> list[Consent]:
    stmt = (
        select(Consent)
        .where(Consent.uscc == uscc, Consent.revoked_at.is_(None))
        .order_by(Consent.granted_at, Consent.client_id)
    )
    return list((await session.scalars(stmt)).all())
