"""credit-check's internal API (reached only through the gateway)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from credit_check.repository import CreditRepository
from credit_check.schemas import AssessmentRead, CreditRecordRead, CreditStatusRead
from mianshen_shared.web import DbSession, EnterpriseUSCC

router = APIRouter(prefix="/enterprises", tags=["credit"])


@router.get("/{uscc}/credit", response_model=CreditStatusRead)
async def credit_status(session: DbSession, uscc: EnterpriseUSCC) -> CreditStatusRead:
    repo = CreditRepository(session)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    active = await repo.active_records(uscc, today, "black")
    return CreditStatusRead(
        uscc=uscc,
        listed=bool(active),
        active_records=[CreditRecordRead.model_validate(r) for r in active],
        all_records=[CreditRecordRead.model_validate(r) for r in await repo.records_for(uscc)],
        assessments=[AssessmentRead.model_validate(a) for a in await repo.assessments_for(uscc)],
    )
