"""credit-check's internal API (reached only through the gateway)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from credit_check import service
from credit_check.models import Assessment
from credit_check.repository import CreditRepository
from credit_check.schemas import (
    AssessmentRead,
    CreditRecordRead,
    CreditStandingRead,
    CreditStatusRead,
    EntitlementAssessmentsRead,
)
from mianshen_shared.web import DbSession, EnterpriseUSCC

router = APIRouter(tags=["credit"])


def _today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()


@router.get("/enterprises/{uscc}/credit", response_model=CreditStatusRead)
async def credit_status(session: DbSession, uscc: EnterpriseUSCC) -> CreditStatusRead:
    status = await service.credit_status(CreditRepository(session), uscc=uscc, today=_today())

    def read(kind: str, *, standing: bool = False) -> list[CreditRecordRead]:
        rows = status.standing(kind) if standing else status.in_force(kind)
        return [CreditRecordRead.model_validate(r) for r in rows]

    return CreditStatusRead(
        uscc=uscc,
        as_of=status.today,
        listed=bool(status.in_force("black")),
        red_listed=bool(status.in_force("red")),
        active_records=read("black"),
        active_red_records=read("red"),
        standing=CreditStandingRead(black_records=read("black", standing=True), red_records=read("red", standing=True)),
        all_records=[CreditRecordRead.model_validate(r) for r in status.records],
        assessments=[AssessmentRead.model_validate(a) for a in status.assessments],
    )


def _assessments(entitlement_id: uuid.UUID, rows: list[Assessment]) -> EntitlementAssessmentsRead:
    return EntitlementAssessmentsRead(
        entitlement_id=entitlement_id,
        decision=rows[-1].decision,
        assessments=[AssessmentRead.model_validate(a) for a in rows],
    )


@router.get(
    "/enterprises/{uscc}/entitlements/{entitlement_id}/credit-assessments", response_model=EntitlementAssessmentsRead
)
async def enterprise_entitlement_assessments(
    session: DbSession, uscc: EnterpriseUSCC, entitlement_id: uuid.UUID
) -> EntitlementAssessmentsRead:
    rows = await service.entitlement_assessments(CreditRepository(session), entitlement_id=entitlement_id, uscc=uscc)
    return _assessments(entitlement_id, rows)


@router.get("/entitlements/{entitlement_id}/credit-assessments", response_model=EntitlementAssessmentsRead)
async def entitlement_assessments(session: DbSession, entitlement_id: uuid.UUID) -> EntitlementAssessmentsRead:
    rows = await service.entitlement_assessments(CreditRepository(session), entitlement_id=entitlement_id)
    return _assessments(entitlement_id, rows)
