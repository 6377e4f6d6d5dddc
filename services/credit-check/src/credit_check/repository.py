"""All of credit-check's SQL."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from credit_check.models import Acceptance, Assessment, CreditRecord


def _in_force(on: date) -> sa.ColumnElement[bool]:
    """A record counts from its effective date (included) until its expiry date (excluded)."""
    return sa.and_(
        CreditRecord.revoked_at.is_(None),
        CreditRecord.effective_date <= on,
        sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > on),
    )


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
            sa.select(CreditRecord)
            .where(CreditRecord.uscc == uscc)
            .order_by(CreditRecord.effective_date, CreditRecord.record_id)
        )
        return list(rows)

    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]:
        rows = await self._session.scalars(
            sa.select(CreditRecord)
            .where(CreditRecord.uscc == uscc, CreditRecord.list_kind == list_kind, _in_force(on))
            .order_by(CreditRecord.effective_date, CreditRecord.record_id)
        )
        return list(rows)

    async def standing_records(self, uscc: str, on: date) -> list[CreditRecord]:
        """Records in force on `on` or starting later: what a replica must know to decide by date."""
        rows = await self._session.scalars(
            sa.select(CreditRecord)
            .where(
                CreditRecord.uscc == uscc,
                CreditRecord.revoked_at.is_(None),
                sa.or_(CreditRecord.expires_on.is_(None), CreditRecord.expires_on > on),
            )
            .order_by(CreditRecord.effective_date, CreditRecord.record_id)
        )
        return list(rows)

    # --- acceptances and assessments

    async def get_acceptance(self, acceptance_id: uuid.UUID) -> Acceptance | None:
        return await self._session.get(Acceptance, acceptance_id)

    async def add_acceptance(self, acceptance: Acceptance) -> None:
        self._session.add(acceptance)
        await self._session.flush()

    async def get_assessment(self, assessment_id: uuid.UUID) -> Assessment | None:
        return await self._session.get(Assessment, assessment_id)

    async def add_assessment(self, assessment: Assessment) -> None:
        self._session.add(assessment)
        await self._session.flush()

    async def held_acceptances_of(self, uscc: str) -> list[Acceptance]:
        """The enterprise's held, unrevoked acceptances, locked: a sweep releasing the
        same ones waits and then finds them cleared."""
        rows = await self._session.scalars(
            sa.select(Acceptance)
            .where(Acceptance.uscc == uscc, Acceptance.decision == "held", Acceptance.revoked_at.is_(None))
            .order_by(Acceptance.acceptance_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def releasable_acceptances(self, on: date, *, limit: int) -> list[Acceptance]:
        """Held, unrevoked acceptances of enterprises with no black record in force on
        `on`, locked. Rows another sweeper holds are skipped, not waited for; once it
        commits they are no longer held, so no acceptance is released twice."""
        blocking = sa.select(CreditRecord.record_id).where(
            CreditRecord.uscc == Acceptance.uscc, CreditRecord.list_kind == "black", _in_force(on)
        )
        rows = await self._session.scalars(
            sa.select(Acceptance)
            .where(Acceptance.decision == "held", Acceptance.revoked_at.is_(None), ~sa.exists(blocking))
            .order_by(Acceptance.acceptance_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def assessments_for(self, uscc: str) -> list[Assessment]:
        rows = await self._session.scalars(
            sa.select(Assessment)
            .where(Assessment.uscc == uscc)
            .order_by(Assessment.assessed_at, Assessment.assessment_id)
        )
        return list(rows)

    async def assessments_of_entitlement(self, entitlement_id: uuid.UUID, uscc: str | None = None) -> list[Assessment]:
        stmt = sa.select(Assessment).where(Assessment.entitlement_id == entitlement_id)
        if uscc is not None:
            stmt = stmt.where(Assessment.uscc == uscc)
        rows = await self._session.scalars(stmt.order_by(Assessment.assessed_at, Assessment.assessment_id))
        return list(rows)
