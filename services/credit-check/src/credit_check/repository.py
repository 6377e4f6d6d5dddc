"""All of credit-check's SQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from credit_check.models import Assessment, CreditRecord


class CreditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_record(self, record_id: str) -> CreditRecord | None:
        return await self._session.get(CreditRecord, record_id)

    async def add_record(self, record: CreditRecord) -> None:
        self._session.add(record)
        await self._session.flush()

    async def records_for(self, uscc: str) -> list[CreditRecord]:
        rows = await self._session.scalars(
            sa.select(CreditRecord).where(CreditRecord.uscc == uscc).order_by(CreditRecord.effective_date)
        )
        return list(rows)

    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]:
        rows = await self._session.scalars(
            sa.select(CreditRecord)
            .where(
                CreditRecord.uscc == uscc,
                CreditRecord.list_kind == list_kind,
                CreditRecord.revoked_at.is_(None),
                CreditRecord.effective_date <= on,
                sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > on),
            )
            .order_by(CreditRecord.effective_date)
        )
        return list(rows)

    async def assessment_for_confirmation(self, confirmation_id: uuid.UUID) -> Assessment | None:
        return await self._session.scalar(sa.select(Assessment).where(Assessment.confirmation_id == confirmation_id))

    async def add_assessment(self, assessment: Assessment) -> None:
        self._session.add(assessment)
        await self._session.flush()

    async def assessments_for(self, uscc: str) -> list[Assessment]:
        rows = await self._session.scalars(
            sa.select(Assessment).where(Assessment.uscc == uscc).order_by(Assessment.assessed_at)
        )
        return list(rows)

    @staticmethod
    def revoke(record: CreditRecord, at: datetime) -> None:
        record.revoked_at = at
